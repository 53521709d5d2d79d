"""Rebuild the nano Qwen3 from a seed, stage by stage (each reproducible with its seed and ``--threads 1``)::

    python -m labkit.nano.train --all --out DIR      # every stage of the shipped model, in order

Stage 1 (``--curriculum base``, the default) trains from scratch on the curriculum of
:mod:`labkit.nano.curriculum`; stage 2 (``--curriculum tools``) continues from the stage-1 export with the
tool-use samples mixed in (:func:`labkit.nano.curriculum.training_sample` with ``tools=True``).

The model is a real ``Qwen3ForCausalLM`` with Qwen's full 151,936-row (151,669 tokens, padded)
vocabulary, but the curriculum uses only a few hundred of those tokens.  Training
a softmax over all 151,936 logits per position would cost ~10x more on a CPU, so
training uses an exact shortcut:

* every token the curriculum uses gets its own embedding row (tied with the
  output layer, as in Qwen3-0.6B);
* every other token shares **one** row ``u``.  Because those rows are identical,
  the full-vocabulary softmax equals a softmax over the used tokens plus one
  merged class with logit ``h·u + log(N_unused)``.  Training on that merged class
  is training the real full-vocabulary loss, so the model learns to keep the
  ~151K unused tokens improbable, and sampled decoding stays clean.

At export the rows are scattered into a full 151,936 × d embedding and saved in
bfloat16 in the standard Hugging Face layout.

Used by the command `python -m labkit.nano.train`.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import time
from pathlib import Path

import torch

from labkit.nano import curriculum as nano
from labkit.tokenizer import load_tokenizer, tokenizer_dir

VOCAB_SIZE = 151936
ARCH = dict(hidden_size=64, intermediate_size=256, num_hidden_layers=6, num_attention_heads=4,
            num_key_value_heads=2, head_dim=32, max_position_embeddings=1024, rope_theta=10000.0,
            rms_norm_eps=1e-6, tie_word_embeddings=True, hidden_act="silu", attention_bias=False,
            bos_token_id=151643, eos_token_id=151645, pad_token_id=151643)


_VOCAB_CACHE: dict[tuple, list[int]] = {}
DEFAULTS = {"base": {"steps": 2500, "batch": 64, "lr": 3e-3}, "tools": {"steps": 1800, "batch": 32, "lr": 1e-3}}


CURRICULA = ("base", "tools")


def curriculum_vocab(tokenizer, n: int = 20000, seed: int = 1234, curriculum: str = "base") -> list[int]:
    """Every token id the curriculum can produce (cached per tokenizer path).

    ``curriculum="tools"`` adds the rows of the tool-use stage (``<tool_call>``, ``<tool_response>``,
    the JSON of a call, ``calculator``, ``expression``, the tools system text) to the base rows,
    which keep their ids, so a continuation from the base model keeps every trained row.
    """
    if curriculum not in CURRICULA:
        raise ValueError(f"unknown curriculum {curriculum!r}; use one of {CURRICULA}.")
    key = (str(tokenizer.name_or_path), n, seed, curriculum)
    if key not in _VOCAB_CACHE:
        ids = _curriculum_vocab(tokenizer, n, seed)
        if curriculum == "tools":
            ids = sorted(set(ids) | set(_tool_vocab(tokenizer, n // 5, seed)))
        _VOCAB_CACHE[key] = ids
    return list(_VOCAB_CACHE[key])


def _tool_vocab(tokenizer, n: int, seed: int) -> set[int]:
    """The token ids of the tool-use samples (prompts with the tools system text, calls, results)."""
    rng = random.Random(seed)
    ids: set[int] = set()
    for _ in range(n):
        p, t = nano.render(nano.tool_sample(rng), tokenizer)
        ids.update(tokenizer(p + t)["input_ids"])
    ids.update(tokenizer.convert_tokens_to_ids(["<tool_call>", "</tool_call>", "<tool_response>",
                                                "</tool_response>"]))
    ids.update(tokenizer(nano.tool_call_text("0 + 1 * 2 - 3 / 4 + (5) + 6789"))["input_ids"])
    return ids


def _curriculum_vocab(tokenizer, n: int, seed: int) -> list[int]:
    """Every token id the curriculum can produce (plus the rows of an early JSON held-out skill, kept
    so that this function still rebuilds the shipped model exactly)."""
    rng = random.Random(seed)
    ids: set[int] = set()
    for _ in range(n):
        p, t = nano.render(nano.training_sample(rng), tokenizer)
        ids.update(tokenizer(p + t)["input_ids"])
    for text in ['{"answer": 1234567890}', "Reply in JSON.", "Answer only with a JSON object.",
                 "Respond in JSON format."]:  # rows kept for the first shipped model (reproducibility)
        ids.update(tokenizer(text)["input_ids"])
    for text in nano.QUESTION_TEMPLATES.values():
        for tmpl in text:
            ids.update(tokenizer(tmpl.format(q="0 * 1"))["input_ids"])
    ids.update(tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>",
                                                "</think>"]))
    ids.update(tokenizer(" 0123456789")["input_ids"])
    return sorted(ids)


# ------------------------------------------------------------------ shared by both nano trainers (Qwen3, Qwen3.5)
def gather_rows(big: torch.Tensor, vocab: list[int]) -> torch.Tensor:
    """The compact embedding of an exported one: the rows of ``vocab``, then the one row every other token shares."""
    unused = sorted(set(range(big.shape[0])) - set(vocab))[0]
    return torch.cat([big[torch.tensor(vocab)], big[unused:unused + 1]])


def scatter_rows(emb: torch.Tensor, vocab: list[int], vocab_size: int) -> torch.Tensor:
    """The full ``vocab_size``-row embedding of a compact one: its last (shared) row everywhere, its own rows at
    ``vocab``."""
    big = emb[-1].repeat(vocab_size, 1)
    big[torch.tensor(vocab)] = emb[:-1]
    return big


def merged_scores(logits: torch.Tensor, log_unused: float) -> torch.Tensor:
    """Scores over the used rows plus the merged class of the unused ones (its logit + log N_unused), shifted to
    predict the next token."""
    return torch.cat([logits[..., :-1], logits[..., -1:] + log_unused], dim=-1)[:, :-1]


def compact_targets(labels: torch.Tensor, lookup: torch.Tensor) -> torch.Tensor:
    """The next-token targets as compact ids (-100 kept)."""
    tgt = labels[:, 1:]
    return torch.where(tgt == -100, tgt, lookup[tgt.clamp(min=0)])


def optimizer(model, lr: float, steps: int):
    """AdamW and its schedule: a linear warm-up over 2 % of the steps, then a cosine decay to zero."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    warmup = max(1, steps // 50)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    return opt, sched


def optimizer_step(model, opt, sched, loss: torch.Tensor, step: int, history: list, t0: float, bar) -> None:
    """Backward, clip to norm 1, step; every 20 steps a history entry and the progress bar's loss."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    if step % 20 == 0:
        history.append({"step": step, "loss": round(loss.item(), 5), "seconds": round(time.time() - t0, 1)})
        bar.set_postfix(loss=f"{loss.item():.4f}")


def encode(sample: nano.Sample, tokenizer) -> tuple[list[int], list[int]]:
    prompt, target = nano.render(sample, tokenizer)
    p = tokenizer(prompt)["input_ids"]
    t = tokenizer(target)["input_ids"]
    return p + t, [-100] * len(p) + t


def build_compact_model(n_compact: int, seed: int):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen3Config(vocab_size=n_compact + 1, **{k: v for k, v in ARCH.items()
                                                     if not k.endswith("token_id")})
    model = Qwen3ForCausalLM(cfg)
    return model


def load_compact(init: Path, vocab: list[int], seed: int):
    """Continue from an exported model: gather its used rows (and the shared row) back."""
    from safetensors.torch import load_file

    model = build_compact_model(len(vocab), seed)
    state = {k: v.float() for k, v in load_file(init / "model.safetensors").items()}
    state["model.embed_tokens.weight"] = gather_rows(state.pop("model.embed_tokens.weight"), vocab)
    state.pop("lm_head.weight", None)
    model.load_state_dict(state, strict=False)
    model.tie_weights()
    return model


def _loss(model, rows: list[tuple[list[int], list[int]]], pad_id: int, lookup, log_unused: float,
          reduction: str = "mean", teacher=None, distill: list[bool] | None = None):
    """Cross-entropy over the compact vocabulary plus the merged class of the unused rows.

    With a ``teacher`` (a frozen model over the same compact vocabulary), the rows flagged in
    ``distill`` are scored by KL(teacher || model) at their target positions instead: the
    model is pulled towards the teacher's whole distribution there (learning without forgetting).
    """
    batch = len(rows)
    width = max(len(r[0]) for r in rows)
    ids = torch.full((batch, width), pad_id, dtype=torch.long)
    labels = torch.full((batch, width), -100, dtype=torch.long)
    mask = torch.zeros((batch, width), dtype=torch.long)
    for i, (x, y) in enumerate(rows):
        ids[i, : len(x)] = torch.tensor(x)
        labels[i, : len(y)] = torch.tensor(y)
        mask[i, : len(x)] = 1
    cids = lookup[ids]

    def scores(m):
        logits = m(input_ids=cids, attention_mask=mask).logits
        return merged_scores(logits, log_unused)

    logits = scores(model)
    tgt = compact_targets(labels, lookup)
    if teacher is None or not distill or not any(distill):  # plain cross-entropy (how stage 1 was trained)
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                                                 ignore_index=-100, reduction=reduction)
    per_token = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                                                  ignore_index=-100, reduction="none").view_as(tgt)
    with torch.no_grad():
        t_logp = torch.log_softmax(scores(teacher), dim=-1)
    kl = (t_logp.exp() * (t_logp - torch.log_softmax(logits, dim=-1))).sum(-1)
    per_token = torch.where(torch.tensor(distill)[:, None], kl, per_token) * (tgt != -100)
    return per_token.sum() / (tgt != -100).sum() if reduction == "mean" else per_token.sum()


def train(out: Path, steps: int, batch: int, lr: float, seed: int, threads: int | None,
          eval_every: int = 0, init: Path | None = None, curriculum: str = "base",
          tool_share: float | None = None, teacher: Path | None = None, json_share: float = 0.0) -> dict:
    """Train ``steps`` steps (from scratch, or from the exported model ``init``) and export to ``out``.

    ``curriculum="tools"`` (the stage-2 continuation) draws ``nano.training_sample(rng, tools=True)``
    and, because its tool prompts are long, runs each batch as two sub-batches of similar
    lengths (short and long rows) so little of it is padding; the loss is the same mean over
    the batch's target tokens.  ``teacher`` (an exported model, normally stage 1): the samples
    without tools are learned from the teacher's distribution (KL) instead of the curriculum's
    text, so the new skill moves the old behaviour as little as possible.
    """
    from tqdm.auto import tqdm

    if threads:
        torch.set_num_threads(threads)
    tok = load_tokenizer("qwen3")
    vocab = curriculum_vocab(tok, curriculum=curriculum)
    tools = curriculum == "tools"
    lookup = torch.full((VOCAB_SIZE,), len(vocab), dtype=torch.long)
    lookup[torch.tensor(vocab)] = torch.arange(len(vocab))
    log_unused = math.log(VOCAB_SIZE - len(vocab))
    model = load_compact(init, vocab, seed) if init else build_compact_model(len(vocab), seed)
    model.train()
    frozen = load_compact(teacher, vocab, seed).eval().requires_grad_(False) if teacher else None
    opt, sched = optimizer(model, lr, steps)
    rng = random.Random(seed)
    history = []
    t0 = time.time()
    bar = tqdm(range(steps), desc="training nano Qwen3", mininterval=5)
    for step in bar:
        samples = [nano.training_sample(rng, tools=tools, tool_share=tool_share, json_share=json_share)
                   for _ in range(batch)]
        rows = [(*encode(s, tok), s.meta.get("task") not in nano.NEW_TASKS) for s in samples]  # distil the old tasks
        if not tools:
            loss = _loss(model, [r[:2] for r in rows], tok.pad_token_id, lookup, log_unused)
        else:  # two sub-batches by length: the same loss with little padding
            rows.sort(key=lambda r: len(r[0]))
            count = sum(sum(1 for t in r[1][1:] if t != -100) for r in rows)
            half = batch // 2
            loss = sum(_loss(model, [r[:2] for r in part], tok.pad_token_id, lookup, log_unused, "sum",
                             frozen, [r[2] for r in part])
                       for part in (rows[:half], rows[half:]) if part) / count
        optimizer_step(model, opt, sched, loss, step, history, t0, bar)
        if eval_every and step and step % eval_every == 0:
            export(model, vocab, out, history, {"steps": step, "partial": True})
    seconds = time.time() - t0
    meta = {"steps": steps, "batch": batch, "lr": lr, "seed": seed, "train_seconds": round(seconds, 1),
            "threads": torch.get_num_threads(), "compact_vocab": len(vocab)}
    if tools:
        meta["curriculum"] = curriculum
        meta["tool_share"] = nano.TOOL_SHARE if tool_share is None else tool_share
        if json_share:
            meta["json_share"] = json_share
    if teacher:
        meta["teacher_steps"] = json.loads((teacher / "training.json").read_text())["meta"]["steps"]
    if init:
        previous = json.loads((init / "training.json").read_text())
        meta["continued_from"] = previous["meta"]
        history = previous["history"] + [{**h, "stage": 2} for h in history]
    export(model, vocab, out, history, meta)
    return meta


def export(compact, vocab: list[int], out: Path, history: list, meta: dict) -> None:
    """Scatter the compact rows into a full-vocabulary Qwen3ForCausalLM and save it."""
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    cfg = Qwen3Config(vocab_size=VOCAB_SIZE, **ARCH)
    cfg.architectures = ["Qwen3ForCausalLM"]
    full = Qwen3ForCausalLM(cfg)
    state = {k: v.detach().clone() for k, v in compact.state_dict().items()}
    emb = state.pop("model.embed_tokens.weight")
    state.pop("lm_head.weight", None)
    state["model.embed_tokens.weight"] = scatter_rows(emb, vocab, VOCAB_SIZE)
    missing, unexpected = full.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    full.tie_weights()
    full = full.to(torch.bfloat16)
    full.generation_config = GenerationConfig(  # the Qwen3 defaults (thinking-mode sampling)
        bos_token_id=151643, eos_token_id=[151645, 151643], pad_token_id=151643,
        do_sample=True, temperature=0.6, top_p=0.95, top_k=20)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    full.save_pretrained(tmp)
    for f in tokenizer_dir("qwen3").iterdir():
        shutil.copy(f, tmp / f.name)
    (tmp / "training.json").write_text(json.dumps({"meta": meta, "arch": ARCH, "history": history}, indent=1))
    card = out / "MODEL_CARD.md"
    if card.exists():
        shutil.copy(card, tmp / card.name)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def stages(model_dir: Path = Path(__file__).parent / "nano_qwen3") -> list[dict]:
    """The training stages of an exported model, first to last, read from its ``training.json``
    (each stage records the one it continued from)."""
    chain = [json.loads((model_dir / "training.json").read_text())["meta"]]
    while chain[-1].get("continued_from"):
        chain.append(chain[-1]["continued_from"])
    return chain[::-1]


def rebuild(out: Path, threads: int | None = 1, model_dir: Path = Path(__file__).parent / "nano_qwen3") -> dict:
    """Train every stage of ``model_dir`` again, in order (stage i into ``OUT.stage<i>``, the last into ``out``).

    A stage that learned from a teacher (``teacher_steps``) gets the stage-1 export as its teacher.
    With ``threads=1`` (the default) the weights equal the shipped ones.
    """
    chain = stages(model_dir)
    folders = [out.with_name(f"{out.name}.stage{i}") for i in range(1, len(chain))] + [out]
    meta: dict = {}
    for i, (m, folder) in enumerate(zip(chain, folders)):
        print(f"stage {i + 1} of {len(chain)} -> {folder}", flush=True)
        meta = train(folder, m["steps"], m["batch"], m["lr"], m["seed"], threads,
                     init=folders[i - 1] if i else None, curriculum=m.get("curriculum", "base"),
                     tool_share=m.get("tool_share"), teacher=folders[0] if m.get("teacher_steps") else None,
                     json_share=m.get("json_share", 0.0))
    return meta


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m labkit.nano.train", description=__doc__.split("\n")[0])
    ap.add_argument("--all", action="store_true",
                    help="rebuild the shipped model: replay every stage recorded in labkit/nano/nano_qwen3/training.json")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "nano_qwen3")
    ap.add_argument("--curriculum", choices=CURRICULA, default="base",
                    help="base: stage 1 (from scratch); tools: stage 2, continue with --init and add tool use")
    ap.add_argument("--steps", type=int, default=None, help=f"default {DEFAULTS['base']['steps']} (base), "
                    f"{DEFAULTS['tools']['steps']} (tools)")
    ap.add_argument("--batch", type=int, default=None, help=f"default {DEFAULTS['base']['batch']} (base), "
                    f"{DEFAULTS['tools']['batch']} (tools)")
    ap.add_argument("--lr", type=float, default=None, help=f"default {DEFAULTS['base']['lr']} (base), "
                    f"{DEFAULTS['tools']['lr']} (tools)")
    ap.add_argument("--tool-share", type=float, default=None,
                    help=f"tools curriculum: share of tool-use samples (default {nano.TOOL_SHARE})")
    ap.add_argument("--json-share", type=float, default=0.0,
                    help="tools curriculum: share of JSON answers (a system prompt asks for JSON)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="1 reproduces the shipped weights")
    ap.add_argument("--checkpoint-every", type=int, default=0)
    ap.add_argument("--init", type=Path, default=None, help="continue training from an exported model")
    ap.add_argument("--teacher", type=Path, default=None,
                    help="tools curriculum: learn the samples without tools from this model's distribution (KL)")
    args = ap.parse_args(argv)
    if args.all:
        print(json.dumps(rebuild(args.out, args.threads)))
        return
    if args.curriculum == "tools" and args.init is None:
        ap.error("--curriculum tools continues a trained model: pass --init DIR (a stage-1 export).")
    d = DEFAULTS[args.curriculum]
    meta = train(args.out, args.steps or d["steps"], args.batch or d["batch"], args.lr or d["lr"], args.seed, args.threads,
                 args.checkpoint_every, args.init, args.curriculum, args.tool_share, args.teacher, args.json_share)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
