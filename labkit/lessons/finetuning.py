"""LoRA fine-tuning on the course's local data, with the checks and the numbers notebook 06 needs.

Notebook 06 writes its ``LoraConfig``, its data and its ``SFTTrainer`` run in view; this module repeats them
as functions and adds what the notebook only uses:

* :func:`doubling_rows`: the held-out skill of the nano model (``Double 47.`` -> ``47 + 47 = 94``, worked
  in the thinking scratchpad) as **prompt-completion** rows of text rendered with the chat template, mixed
  with rows of the model's own curriculum (replay, :func:`labkit.nano.curriculum.training_sample`), as
  notebook 06 section 2 builds them; for ``datasets.Dataset.from_list``.
* :func:`completion_loss`: a model's mean loss per completion token on such rows (forward passes only; the
  exercise's check of a training run).
* :func:`lora_config`, :func:`linear_module_names`: a validated ``peft.LoraConfig``; a module Qwen3 does not
  have or rank 0 becomes a :class:`~labkit.LabError` that names the fix.
* :class:`LabelOnlySFTTrainer`: trl's ``SFTTrainer`` with one change (its public ``compute_loss`` hook): the
  output layer is applied only where there are labels, once per distinct row (the nano model's unused
  vocabulary rows share one vector), for the same loss (see its docstring).

Used in notebooks 06, 11.
"""
from __future__ import annotations

import random
from typing import Any, Iterable

import torch
from typing_extensions import override

from labkit.errors import LabError
from labkit.nano import curriculum as nano

try:
    from trl import SFTTrainer
except ImportError:
    raise LabError("trl is not installed.", 'pip install "trl==1.16.0" (the course extra: '
                   'pip install "qwen-labs[notebooks]").') from None

ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# --------------------------------------------------------------------------- data
def row(sample: nano.Sample, tokenizer: Any) -> dict[str, str]:
    """A curriculum sample as a prompt-completion row: ``{"prompt": <chat-template text up to the assistant's
    turn>, "completion": <what the model must write, end-of-turn token included>}``."""
    prompt, completion = nano.render(sample, tokenizer)
    return {"prompt": prompt, "completion": completion}


def doubling_rows(tokenizer: Any, n: int, seed: int = 0, *, thinking: bool = True, replay: int = 0,
                  held_out: bool = False) -> list[dict[str, str]]:
    """``n`` doubling rows, then ``replay * n`` rows of the nano curriculum (replay), as notebook 06 builds them.

    With ``thinking`` (the skill's target mode) the prompt leaves the assistant's turn open and the
    completion works the sum ``47 + 47`` in the scratchpad before answering:
    ``<think>\n7+7+0=14, carry 1 → 4\n...\n</think>\n\n47 + 47 = 94<|im_end|>``.  Without it the
    template's empty think block is part of the prompt and the completion is the answer alone.
    Replay rows are :func:`labkit.nano.curriculum.training_sample` (the stage-1 mix: arithmetic in both
    modes, chat, system prompts, the switches).  Doubling numbers come from the training split, or from
    the held-out split with ``held_out`` (for an eval split or a check, never for training).
    Not shuffled: ``Dataset.from_list(rows).shuffle(seed=...)`` does that.
    """
    if n < 0 or replay < 0:
        raise LabError("n and replay must be >= 0.")
    rng = random.Random(seed)
    rows = [row(nano.double_sample(rng, thinking=thinking, held_out=held_out), tokenizer) for _ in range(n)]
    return rows + [row(nano.training_sample(rng), tokenizer) for _ in range(replay * n)]


def completion_loss(model: Any, tokenizer: Any, rows: Iterable[dict[str, str]]) -> float:
    """Mean cross-entropy per completion token of ``model`` on prompt-completion ``rows`` (no training).

    Each row is tokenized as trl tokenizes it (prompt and completion apart, then joined); the loss
    counts the completion's tokens only, as ``completion_only_loss=True`` does.
    """
    import torch.nn.functional as F

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for r in rows:
                prompt = tokenizer(r["prompt"], add_special_tokens=False)["input_ids"]
                completion = tokenizer(r["completion"], add_special_tokens=False)["input_ids"]
                ids = torch.tensor([prompt + completion], device=model.device)
                logits = model(input_ids=ids).logits[0, len(prompt) - 1:-1].float()
                total += float(F.cross_entropy(logits, ids[0, len(prompt):], reduction="sum"))
                count += len(completion)
    finally:
        model.train(was_training)
    if count == 0:
        raise LabError("no completion tokens to score.", "pass rows with a non-empty 'completion'.")
    return total / count


# --------------------------------------------------------------------------- LoRA config
def linear_module_names(model: Any) -> list[str]:
    """The names LoRA can target: leaf names of the model's ``nn.Linear`` layers, output head excluded.

    Read from the model itself (4-bit and int8 layers, and layers already wrapped by peft,
    included), e.g. for Qwen3
    ``['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']``.
    """
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module is not head and not name.endswith("lm_head"):
            if ".lora_" in name:                      # a LoRA adapter's own A/B matrices
                continue
            parts = name.split(".")
            if parts[-1] == "base_layer":             # a layer already wrapped by peft
                parts = parts[:-1]
            names.add(parts[-1])
    return sorted(names)


def validate_targets(model: Any, target_modules: Any) -> list[str] | str:
    """Check LoRA ``target_modules`` against the model; return them or raise :class:`LabError`."""
    if target_modules == "all-linear":
        return target_modules
    if isinstance(target_modules, str):
        target_modules = [target_modules]
    targets = list(target_modules or [])
    real = linear_module_names(model)
    if not targets:
        raise LabError("no target modules given.", f"pick some of this model's linear layers: {', '.join(real)}.")
    unknown = [t for t in targets if t not in real]
    if unknown:
        raise LabError(f"target module(s) {', '.join(map(repr, unknown))} do not exist in this "
                       f"{type(model).__name__}.",
                       f"use names of its linear layers: {', '.join(real)} (or 'all-linear').")
    return targets


def validate_rank(r: Any) -> int:
    """A LoRA rank must be a positive int; rank 0 adds nothing to train."""
    if not isinstance(r, int) or isinstance(r, bool) or r <= 0:
        raise LabError(f"LoRA rank r={r!r} is not a positive integer.",
                       "use r >= 1 (4 to 16 is typical; the adapter grows linearly with r).")
    return r


def lora_config(model: Any, target_modules: Any = ALL_PROJECTIONS, r: int = 8, alpha: int | None = None,
                dropout: float = 0.0) -> Any:
    """The ``peft.LoraConfig`` of notebook 06 section 3, validated against ``model``
    (``lora_alpha`` defaults to ``2 * r``)."""
    from peft import LoraConfig

    targets = validate_targets(model, target_modules)
    r = validate_rank(r)
    return LoraConfig(r=r, lora_alpha=alpha if alpha is not None else 2 * r, lora_dropout=dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM")


# --------------------------------------------------------------------------- the trainer
def merge_equal_rows(weight: Any, max_share: float = 0.5) -> tuple[Any, Any, Any, Any] | None:
    """Group the equal rows of an output layer's weight, or ``None`` if they are mostly distinct.

    Returns ``(rows, log_counts, group, lowest)``: the distinct rows, the log of how many
    tokens share each, each token's row index in ``rows``, and each row's lowest token id.
    ``None`` when there are more than ``max_share`` times as many distinct rows as tokens
    (merging would not pay).  The nano model's head has a few hundred distinct rows for 151,936 tokens
    (one per token its curriculum uses, and one shared by all the others).
    """
    with torch.no_grad():
        rows, group, counts = torch.unique(weight.detach(), dim=0, return_inverse=True, return_counts=True)
        if rows.shape[0] > max_share * weight.shape[0]:
            return None
        ids = torch.arange(weight.shape[0], device=weight.device)
        lowest = torch.full((rows.shape[0],), weight.shape[0], device=weight.device, dtype=ids.dtype)
        lowest = lowest.scatter_reduce(0, group, ids, reduce="amin")
    return rows, counts.float().log(), group, lowest


def head_cross_entropy(hidden: Any, targets: Any, head: Any, merged: Any = None) -> tuple[Any, int]:
    """Summed cross-entropy of ``head(hidden)`` against ``targets``, and how many argmaxes hit.

    With ``merged`` (from :func:`merge_equal_rows`), each distinct row is scored once and the
    normaliser is ``logsumexp_j(h·u_j + log c_j)``: the same number as over the whole vocabulary,
    since equal rows give equal logits.  Argmax ties go to the lowest token id, as ``argmax`` does.
    """
    import torch.nn.functional as F

    if merged is None:
        logits = head(hidden).float()
        return F.cross_entropy(logits, targets, reduction="sum"), int((logits.argmax(-1) == targets).sum())
    rows, log_counts, group, lowest = merged
    scores = (hidden.to(rows.dtype) @ rows.T).float()      # one score per distinct row
    g = group[targets]
    # cross_entropy over merged classes gives -(s_g + log c_g) + logsumexp; add log c_g back for -log p(t)
    loss = F.cross_entropy(scores + log_counts, g, reduction="sum") + log_counts[g].sum()
    return loss, int(((scores.argmax(-1) == g) & (lowest[g] == targets)).sum())


class LabelOnlySFTTrainer(SFTTrainer):
    """trl's SFTTrainer, but the output layer runs only where a label is, and only once per distinct row.

    A Qwen output layer has 151,936 rows (the tokenizer's 151,669 tokens, padded).  Projecting
    every position of every padded sequence through it is most of the cost of a step on
    a small model, yet with ``completion_only_loss`` only the completion positions have
    labels.  This ``compute_loss`` runs the transformer body, keeps the hidden states of
    the labelled positions, and applies the output layer (and the cross-entropy) to those
    only, ``chunk_size`` positions at a time.

    Rows of a frozen output layer that are exactly equal give equal logits, so they can be
    scored once: with the distinct rows ``u_j`` and their counts ``c_j``, the softmax's
    normaliser is ``logsumexp_j(h·u_j + log c_j)``, the same number as over the whole
    vocabulary.  The nano model's never-used tokens share one row, so its head has a few hundred
    distinct rows instead of 151,936; a real checkpoint has (almost) none equal, and
    the layer is then applied whole (``min_merge``).  The loss is the same number either
    way; trl's ``entropy`` metric is dropped and ``mean_token_accuracy`` is computed on the
    labelled positions (argmax ties broken towards the lowest token id, as ``argmax`` does).
    (trl's own fused head does the position selection on GPUs with Triton; on CPU it
    scores every position.)
    """

    chunk_size = 32
    min_merge = 0.5   # use the merged head when it has at most this share of the rows
    _head_cache: Any = None

    def _merged_head(self, head: Any) -> Any:
        w = head.weight
        if w.requires_grad or getattr(head, "bias", None) is not None:
            return None                                  # a trained or biased head: no merging
        key = (w.data_ptr(), w._version, tuple(w.shape), w.dtype)
        if self._head_cache is None or self._head_cache[0] != key:
            self._head_cache = (key, merge_equal_rows(w, self.min_merge))
        return self._head_cache[1]

    @override
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"][:, 1:]                  # position t predicts token t+1
        keep = labels != -100
        causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
        hidden = causal_lm.model(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"),
                                 use_cache=False).last_hidden_state[:, :-1]
        targets = labels[keep]
        merged = self._merged_head(causal_lm.lm_head)
        loss, correct = hidden.sum() * 0.0, 0               # a batch without labels adds nothing
        for h, t in zip(hidden[keep].split(self.chunk_size), targets.split(self.chunk_size)):
            chunk_loss, chunk_correct = head_cross_entropy(h, t, causal_lm.lm_head, merged)
            loss, correct = loss + chunk_loss, correct + chunk_correct
        n = keep.sum() if num_items_in_batch is None else num_items_in_batch
        loss = loss / torch.as_tensor(n).clamp(min=1)
        mode = "train" if model.training else "eval"   # trl's log() averages self._metrics (no public hook)
        self._metrics[mode]["mean_token_accuracy"].append(correct / max(int(keep.sum()), 1))
        return (loss, None) if return_outputs else loss
