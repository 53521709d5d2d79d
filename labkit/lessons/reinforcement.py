"""Reinforcement learning with verifiable rewards on the course's local data: what notebook 11 uses.

Notebook 11 writes its verifiers, its prompts and its ``GRPOConfig`` in view; this module repeats them as
functions and adds the trainer that makes GRPO fast on a CPU:

* :func:`doubling_prompts`: the skill to train (``Double 47.`` -> ``47 + 47 = 94``, thinking off) as
  conversational prompt rows with the expected answer, mixed with thinking-off arithmetic (replay).
* :func:`strict_reward`, :func:`loose_reward`: trl reward functions.  The strict one accepts only the
  course's answer form with the right numbers; the loose one only checks the last number (and is hacked).
* :func:`advantages`: GRPO's, Dr. GRPO's and RLOO's advantages of one group of rewards, side by side.
* :class:`CompactGRPOTrainer`: trl's ``GRPOTrainer`` with two private methods replaced, so that the output
  layer is scored once per distinct row (the nano model's unused vocabulary rows share one vector), both when
  it samples completions and when it computes their log-probabilities.  Same distribution, same numbers (see
  its docstring); trl's losses, config and logging are untouched.

Used in notebook 11.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

import torch
from typing_extensions import override

from labkit.errors import LabError
from labkit.lessons.finetuning import merge_equal_rows
from labkit.nano import curriculum as nano

try:
    from trl import GRPOTrainer
except ImportError:
    raise LabError("trl is not installed.", 'pip install "trl==1.16.0" (the course extra: '
                   'pip install "qwen-labs[notebooks]").') from None

ANSWER = re.compile(r"\s*(\d+) ([+×]) (\d+) = (\d+)\s*")   # the course's answer form: 47 + 47 = 94
_INT = re.compile(r"-?\d+")


# --------------------------------------------------------------------------- data
HELD_OUT_DOUBLINGS = sum(nano.is_held_out(k, "+", k) for k in range(1000))   # numbers of 1-3 digits: 200


def doubling_prompts(n: int, seed: int = 0, *, replay: float = 0.5, held_out: bool = False) -> list[dict]:
    """``n`` prompt rows for ``GRPOTrainer``: ``{"prompt": [user message], "task", "a", "op", "b", "expected"}``.

    A share ``replay`` of them are thinking-off arithmetic (``What is 38 × 7?``), the rest doubling
    (``Double 47.``, checked as ``47 + 47 = 94``).  Numbers come from the training split, or from the held-out
    split with ``held_out``; a held-out set asks each question once (an evaluation that repeated one question
    would weigh it twice), so it has at most :data:`HELD_OUT_DOUBLINGS` doubling questions.  The thinking switch
    is not in the rows: ``GRPOConfig(chat_template_kwargs={"enable_thinking": False})`` sets it for every prompt.
    """
    if n < 0 or not 0 <= replay <= 1:
        raise LabError("n must be >= 0 and replay between 0 and 1.")
    rng = random.Random(seed)
    rows: list[dict] = []
    asked: set[tuple] = set()
    doublings = 0
    while len(rows) < n:
        if rng.random() < replay:
            p = nano.sample_problem(rng, held_out=held_out, level=rng.choice((1, 2, 3)))
            row = {"prompt": [{"role": "user", "content": nano.question(p, rng, lang="en")}],
                   "task": "arithmetic", "a": p.a, "op": p.op, "b": p.b, "expected": p.answer}
        else:
            if held_out and doublings >= HELD_OUT_DOUBLINGS:
                raise LabError(f"the held-out split has {HELD_OUT_DOUBLINGS} doubling questions; ask for fewer.")
            s = nano.double_sample(rng, held_out=held_out, thinking=False)
            half = s.meta["expected"] // 2
            row = {"prompt": s.messages, "task": "double", "a": half, "op": "+", "b": half,
                   "expected": s.meta["expected"]}
        key = (row["a"], row["op"], row["b"])
        if held_out and key in asked:
            continue
        asked.add(key)
        rows.append(row)
        doublings += row["task"] == "double"
    return rows


# --------------------------------------------------------------------------- verifiers
def _text(completion: Any) -> str:
    """A completion as trl passes it: a string, or (conversational) a list with one assistant message."""
    return completion[-1]["content"] if isinstance(completion, list) else completion


def check_strict(text: str, a: int, op: str, b: int) -> bool:
    """True when ``text`` is one true equation ``x op y = z`` on the question's numbers, in the course's form.

    ``a op b`` is the question (doubling 47 is ``47 + 47``, and ``47 × 2`` is accepted for it): the operands
    must be the question's, in either order, and ``z`` must be the right result.  Anything else, a right
    result written after a false equation included (``47 + 4 = 94``), is wrong.
    """
    m = ANSWER.fullmatch(text)
    if not m:
        return False
    x, o, y, z = int(m[1]), m[2], int(m[3]), int(m[4])
    if z != (x + y if o == "+" else x * y):
        return False                                      # a false equation
    if o == op and sorted((x, y)) == sorted((a, b)):
        return True
    return a == b and op == "+" and o == "×" and sorted((x, y)) == sorted((a, 2))   # n × 2 for doubling


def check_loose(text: str, expected: int) -> bool:
    """True when the last integer in ``text`` is ``expected`` (the course's evaluation rule)."""
    nums = _INT.findall(text)
    return bool(nums) and int(nums[-1]) == expected


def strict_reward(completions: list, a: list, op: list, b: list, **_: Any) -> list[float]:
    """trl reward function: 1.0 when :func:`check_strict` accepts the completion, else 0.0."""
    return [float(check_strict(_text(c), x, o, y)) for c, x, o, y in zip(completions, a, op, b)]


def loose_reward(completions: list, expected: list, **_: Any) -> list[float]:
    """trl reward function: 1.0 when the last number is right, else 0.0 (hackable: see notebook 11)."""
    return [float(check_loose(_text(c), e)) for c, e in zip(completions, expected)]


def replies(model: Any, tokenizer: Any, rows: list[dict], *, samples: int = 1, batch_size: int = 100,
            **generate_kwargs: Any) -> list[list[str]]:
    """Ask ``model`` each row's question (thinking off) ``samples`` times: ``samples`` replies per row.

    Greedy unless sampling arguments are given (``do_sample=True, temperature=1.0``).  Greedy replies come from
    :func:`labkit.generate_batch`; sampled ones from :func:`sample_compact` when the output layer merges (the
    same distribution), else the same.
    """
    from labkit.generation import generate_batch

    gen = {"max_new_tokens": 24, "do_sample": False, **generate_kwargs}
    questions = [r["prompt"] for r in rows for _ in range(samples)]
    merged, members = compact_head(model) if gen["do_sample"] else (None, None)   # greedy never needs it
    compact = merged is not None and set(gen) <= {"max_new_tokens", "do_sample", "temperature"}
    if not gen["do_sample"]:
        gen.update(temperature=None, top_p=None, top_k=None)
    answers = []
    for start in range(0, len(questions), batch_size):
        chunk = questions[start:start + batch_size]
        if compact:      # the same distribution as generate(do_sample=True), scoring the distinct rows only
            prompt_ids = [tokenizer.apply_chat_template(q, add_generation_prompt=True, enable_thinking=False,
                                                        return_dict=False) for q in chunk]
            causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
            with torch.no_grad():
                ids = sample_compact(causal_lm.model, merged, members, prompt_ids,
                                     max_new_tokens=gen["max_new_tokens"], temperature=gen.get("temperature", 1.0),
                                     eos_ids=[tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.eos_token_id],
                                     pad_id=tokenizer.pad_token_id)
            answers += [tokenizer.decode(i, skip_special_tokens=True).strip() for i in ids]
        else:
            answers += [r.answer for r in generate_batch(model, tokenizer, chunk, thinking=False, **gen)]
    return [answers[i:i + samples] for i in range(0, len(answers), samples)]


def _checker(check: str) -> Callable[[str, dict], bool]:
    """``check`` ("strict" or "loose") as a function of (reply, row)."""
    if check == "strict":
        return lambda text, row: check_strict(text, row["a"], row["op"], row["b"])
    if check == "loose":
        return lambda text, row: check_loose(text, row["expected"])
    raise LabError(f"unknown check {check!r}.", "use check='strict' or check='loose'.")


def score(rows: list[dict], texts: list[list[str]], check: str = "strict") -> torch.Tensor:
    """``texts[i][j]`` (from :func:`replies`) passed by :func:`check_strict` (or, with ``check="loose"``,
    :func:`check_loose`) against row ``i``: a bool tensor of shape ``(len(rows), samples)``."""
    passes = _checker(check)
    if len(texts) != len(rows):
        raise LabError(f"{len(texts)} lists of replies for {len(rows)} rows.",
                       "pass the rows the replies were generated for: score(rows, replies(model, tok, rows)).")
    return torch.tensor([[passes(t, r) for t in ts] for r, ts in zip(rows, texts)],
                        dtype=torch.bool).view(len(rows), -1)


def verify(model: Any, tokenizer: Any, rows: list[dict], *, samples: int = 1, batch_size: int = 100,
           check: str = "strict", **generate_kwargs: Any) -> torch.Tensor:
    """:func:`score` of :func:`replies`: a bool tensor ``(len(rows), samples)``, True where a reply passes."""
    _checker(check)                                      # an unknown check fails before any generation
    return score(rows, replies(model, tokenizer, rows, samples=samples, batch_size=batch_size, **generate_kwargs),
                 check)


# --------------------------------------------------------------------------- advantages
def advantages(rewards: Any, kind: str = "grpo") -> torch.Tensor:
    """The advantage of each completion in groups of rewards (one group per row of ``rewards``).

    ``grpo``: (r - group mean) / (group std + 1e-4) (trl's ``scale_rewards="group"``);
    ``dr_grpo``: r - group mean (no division, ``scale_rewards="none"``);
    ``rloo``: r minus the mean of the *other* completions of the group (RLOO's leave-one-out baseline).
    """
    r = torch.as_tensor(rewards, dtype=torch.float32)
    if r.dim() != 2 or r.shape[1] < 2:
        raise LabError("rewards must be groups: a 2-D array with at least 2 completions per row.")
    mean = r.mean(dim=1, keepdim=True)
    if kind == "grpo":
        return (r - mean) / (r.std(dim=1, keepdim=True) + 1e-4)
    if kind == "dr_grpo":
        return r - mean
    if kind == "rloo":
        k = r.shape[1]
        return r - (r.sum(dim=1, keepdim=True) - r) / (k - 1)
    raise LabError(f"unknown advantage {kind!r}.", "use 'grpo', 'dr_grpo' or 'rloo'.")


# --------------------------------------------------------------------------- the trainer
def merged_log_probs(hidden: torch.Tensor, targets: torch.Tensor, merged: Any, temperature: float = 1.0,
                     entropy: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``log p(target)`` under ``softmax(head(hidden) / temperature)`` over the whole vocabulary, computed from
    the distinct rows (:func:`labkit.lessons.finetuning.merge_equal_rows`), and the entropy if asked."""
    rows, log_counts, group, _ = merged
    scores = (hidden.to(rows.dtype) @ rows.T).float() / temperature
    log_z = torch.logsumexp(scores + log_counts, dim=-1, keepdim=True)
    logps = scores.gather(-1, group[targets].unsqueeze(-1)).squeeze(-1) - log_z.squeeze(-1)
    if not entropy:
        return logps, None
    log_p = scores - log_z                              # log p of one token of each group
    return logps, -(log_p.exp() * log_p * log_counts.exp()).sum(-1)


def compact_head(model: Any, min_share: float = 0.5) -> tuple[Any, Any]:
    """``(merged, members)`` for a causal LM's output layer, or ``(None, None)`` when it does not merge.

    ``merged`` is :func:`labkit.lessons.finetuning.merge_equal_rows`'s ``(rows, log_counts, group, lowest)``;
    ``members`` lists each group's tokens (``order``, ``offsets``, ``counts``), for :func:`sample_compact`.
    """
    model = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = model.get_output_embeddings()
    if getattr(head, "bias", None) is not None:
        return None, None
    merged = merge_equal_rows(head.weight, min_share)
    if merged is None:
        return None, None
    order = torch.argsort(merged[2], stable=True)
    counts = merged[1].exp().round().long()
    return merged, (order, torch.cumsum(counts, 0) - counts, counts)


class CompactGRPOTrainer(GRPOTrainer):
    """trl's ``GRPOTrainer``, but the output layer is scored once per distinct row.

    On a small model most of a GRPO step is the output layer: sampling completions computes 151,936 logits per
    token, and scoring them again (trl's chunked log-probability kernel) does it for every completion position,
    forward and backward.  Rows of a frozen output layer that are exactly equal give equal logits, so with the
    distinct rows ``u_j`` and their counts ``c_j``:

    * log-probabilities: ``log p(t) = h·u_g(t) / T - logsumexp_j(h·u_j / T + log c_j)``, the same number as over
      the whole vocabulary (``_get_per_token_logps_and_entropies``; the entropy likewise);
    * sampling: draw a group with probability ``c_j exp(h·u_j / T) / Z``, then one of its tokens uniformly, which
      gives every token exactly its full-vocabulary probability (``_generate_single_turn``, a key-value-cached
      loop over the model's body).

    Both fall back to trl's own code when merging does not apply: a trained or biased head, a real checkpoint
    (its rows are distinct), images, vLLM, or sampling settings other than temperature (``top_p < 1``,
    ``top_k``, ``min_p``, ``repetition_penalty``).
    """

    min_merge = 0.5   # use the merged head when it has at most this share of the rows
    _head_cache: Any = None

    def _merged_head(self, model: Any) -> Any:
        causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
        w = causal_lm.get_output_embeddings().weight
        key = (w.data_ptr(), w._version, tuple(w.shape), w.dtype, w.requires_grad)
        if w.requires_grad:
            return None, None                            # a trained head: its gradient needs every row
        if self._head_cache is None or self._head_cache[0] != key:
            self._head_cache = (key, compact_head(causal_lm, self.min_merge))
        return self._head_cache[1]

    @override
    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                           batch_size=None, compute_entropy=False, compute_aux_loss=False,
                                           **multimodal):
        merged, _ = self._merged_head(model)
        if merged is None or compute_aux_loss or any(v is not None for v in multimodal.values()):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss,
                **multimodal)
        causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
        hidden = causal_lm.model(input_ids=input_ids, attention_mask=attention_mask,
                                 use_cache=False).last_hidden_state[:, -logits_to_keep - 1:-1]
        logps, entropies = merged_log_probs(hidden, input_ids[:, -logits_to_keep:], merged, self.temperature,
                                            entropy=compute_entropy)
        return logps, entropies, None

    def _compact_sampling_applies(self) -> bool:
        g = self.generation_config
        return (not self.use_vllm and not getattr(self, "use_transformers_continuous_batching", False)
                and g.do_sample and (g.top_p is None or g.top_p >= 1.0) and not g.top_k and not g.min_p
                and (g.repetition_penalty is None or g.repetition_penalty == 1.0))

    @override
    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        merged, members = self._merged_head(self.model)
        if merged is None or images is not None or multimodal_fields or not self._compact_sampling_applies():
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                 has_tool_images)
        model = self.accelerator.unwrap_model(self.model)
        causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                completions = sample_compact(causal_lm.model, merged, members, prompt_ids,
                                             max_new_tokens=self.max_completion_length,
                                             temperature=self.temperature, eos_ids=self.eos_token_ids,
                                             pad_id=self._tokenizer.pad_token_id)
        finally:
            model.train(was_training)
        return completions, None


def sample_compact(body: Any, merged: Any, members: Any, prompt_ids: list[list[int]], *, max_new_tokens: int,
                   temperature: float, eos_ids: list[int], pad_id: int) -> list[list[int]]:
    """Sample a completion for each prompt (token ids), at ``temperature``, scoring the distinct rows only.

    ``body`` is the transformer without its output layer (``model.model``).  Each completion ends with its
    first end-of-sequence token, or after ``max_new_tokens``.
    """
    rows, log_counts, _, _ = merged
    order, offsets, counts = members
    device = rows.device
    width = max(len(p) for p in prompt_ids)
    ids = torch.full((len(prompt_ids), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompt_ids):                 # left padding
        ids[i, width - len(p):] = torch.tensor(p, device=device)
        mask[i, width - len(p):] = 1
    position = (mask.cumsum(-1) - 1).clamp(min=0)
    out = body(input_ids=ids, attention_mask=mask, position_ids=position, use_cache=True)
    eos = torch.tensor(eos_ids, device=device)
    done = torch.zeros(len(prompt_ids), dtype=torch.bool, device=device)
    tokens = []
    for _ in range(max_new_tokens):
        scores = (out.last_hidden_state[:, -1].to(rows.dtype) @ rows.T).float() / temperature + log_counts
        g = torch.multinomial(torch.softmax(scores, -1), 1).squeeze(-1)
        pick = (torch.rand(g.shape, device=device) * counts[g]).long().clamp(max=counts[g] - 1)
        token = order[offsets[g] + pick]
        token = torch.where(done, torch.full_like(token, pad_id), token)
        tokens.append(token)
        done |= torch.isin(token, eos)
        if bool(done.all()):
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        position = position[:, -1:] + 1
        out = body(input_ids=token[:, None], attention_mask=mask, position_ids=position,
                   past_key_values=out.past_key_values, use_cache=True)
    completion = torch.stack(tokens, dim=1).tolist()
    result = []
    for row in completion:
        end = next((k for k, t in enumerate(row) if t in eos_ids), len(row) - 1)
        result.append(row[:end + 1])
    return result
