"""Build and train the nano Qwen3.5 (``labkit/nano/nano_qwen3_5``)::

    python -m labkit.nano.qwen35.train --out DIR [--steps N] [--init DIR]

The model is a real ``Qwen3_5ForConditionalGeneration``: the hybrid text model (Gated DeltaNet linear attention
and gated full attention, 3 + 1, repeated), a small vision tower with Qwen3.5's patch (16), merge (2) and
M-RoPE, the full 248,320-row vocabulary of the 248K tokenizer, tied with the output layer as in Qwen3.5-0.8B.
Training uses the nano Qwen3's exact shortcut (:mod:`labkit.nano.train`): every token the curriculum uses has
its own row, the rest share one row, trained as one merged class with logit ``h·u + log(N_unused)``; export
scatters the rows into the full vocabulary.

Used by the command `python -m labkit.nano.qwen35.train`.
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

from labkit.nano.qwen35 import curriculum as cur
from labkit.nano.train import compact_targets, gather_rows, merged_scores, optimizer, optimizer_step, scatter_rows
from labkit.tokenizer import chat_template, load_tokenizer, write_processor_files

VOCAB_SIZE = 248320
IDS = dict(image_token_id=248056, video_token_id=248057, vision_start_token_id=248053, vision_end_token_id=248054)
EOS, PAD = 248046, 248044          # <|im_end|>, <|endoftext|> (Qwen3.5's tokenizer)
TEXT = dict(hidden_size=64, intermediate_size=256, num_hidden_layers=8, num_attention_heads=4,
            num_key_value_heads=2, head_dim=64, linear_conv_kernel_dim=4, linear_key_head_dim=32,
            linear_value_head_dim=32, linear_num_key_heads=4, linear_num_value_heads=4,
            max_position_embeddings=4096, rms_norm_eps=1e-6, hidden_act="silu", attn_output_gate=True,
            tie_word_embeddings=True, full_attention_interval=4,
            rope_parameters={"rope_type": "default", "rope_theta": 10000000.0, "partial_rotary_factor": 0.25,
                             "mrope_section": [4, 2, 2], "mrope_interleaved": True})
VISION = dict(depth=4, hidden_size=128, intermediate_size=512, num_heads=4, patch_size=16, spatial_merge_size=2,
              temporal_patch_size=2, out_hidden_size=64, num_position_embeddings=256,
              hidden_act="gelu_pytorch_tanh")
TEMPLATE = "qwen3_5_nothink.jinja"
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<|vision_start|>",
            "<|vision_end|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<tool_response>",
            "</tool_response>"]


def tokenizer():
    tok = load_tokenizer("qwen3.5")
    tok.chat_template = chat_template(TEMPLATE)
    return tok


def image_processor():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from labkit.tokenizer import PROCESSOR_FILES

    return Qwen2VLImageProcessorPil(**PROCESSOR_FILES["qwen3.5"]["image"])


def curriculum_vocab(tok, n: int = 6000, seed: int = 1234) -> list[int]:
    """Every token id the curriculum produces (train and held-out draws alike, so no row is untrained by design)."""
    rng = random.Random(seed)
    ids: set[int] = set(tok.convert_tokens_to_ids(SPECIALS))
    ids.update(tok(" 0123456789+-*/×=.,")["input_ids"])
    for i in range(n):
        task = ("image", "arithmetic", "tool")[i % 3]
        s = {"image": cur.image_sample, "arithmetic": cur.arithmetic_sample, "tool": cur.tool_sample}[task](
            rng, held_out=rng.random() < 0.3)
        p, t = cur.render(s, tok)
        ids.update(tok(p + t)["input_ids"])
    for _ in range(n // 6):   # the copy drill's names (words of both lists in any order)
        p, t = cur.render(cur.tool_sample(rng, copy_drill=1.0), tok)
        ids.update(tok(p + t)["input_ids"])
    return sorted(ids)


def encode(sample: cur.Sample, tok, processor, *, every_turn: bool = False) -> dict:
    """input ids (each ``<|image_pad|>`` repeated once per merged patch), labels, and the image's pixels.

    ``every_turn``: the labels also cover the earlier assistant turns of the history (each from after
    ``<|im_start|>assistant\n`` to its ``<|im_end|>``), as multi-turn fine-tuning trains every assistant turn (TRL's
    ``assistant_only_loss``): a tool call in the history is then a second call the step learns from."""
    prompt, target = cur.render(sample, tok)
    row: dict = {}
    if sample.image is not None:
        pix = processor(images=[sample.image], return_tensors="pt")
        n = int(pix["image_grid_thw"].prod()) // processor.merge_size ** 2
        prompt = prompt.replace("<|image_pad|>", "<|image_pad|>" * n)
        row.update(pixel_values=pix["pixel_values"], image_grid_thw=pix["image_grid_thw"])
    p, t = tok(prompt)["input_ids"], tok(target)["input_ids"]
    labels = [-100] * len(p)
    if every_turn:
        start, role = tok.convert_tokens_to_ids("<|im_start|>"), tok("assistant\n")["input_ids"]
        for i in (i for i, x in enumerate(p) if x == start and p[i + 1:i + 1 + len(role)] == role):
            j = i + 1 + len(role)
            end = next((k for k in range(j, len(p)) if p[k] == EOS), None)
            if end is not None:       # the generation prompt's turn is still open: its target is ``t``
                labels[j:end + 1] = p[j:end + 1]
    return {**row, "ids": p + t, "labels": labels + t}


def build_compact(vocab: list[int], seed: int, text: dict | None = None, vision: dict | None = None):
    """The model over the compact vocabulary (``len(vocab)`` rows + the shared row), at ``text``/``vision``
    shapes (default :data:`TEXT`, :data:`VISION`); the special ids point at their compact rows."""
    from transformers import Qwen3_5Config, Qwen3_5ForConditionalGeneration

    torch.manual_seed(seed)
    where = {v: i for i, v in enumerate(vocab)}
    cfg = Qwen3_5Config(text_config={**(text or TEXT), "vocab_size": len(vocab) + 1}, vision_config=vision or VISION,
                        tie_word_embeddings=True, **{k: where[v] for k, v in IDS.items()})
    return Qwen3_5ForConditionalGeneration(cfg)


def load_compact(init: Path, vocab: list[int], seed: int):
    """Continue from an exported model: its shapes (``training.json``), its used rows and its shared row."""
    from safetensors.torch import load_file

    shapes = json.loads((init / "training.json").read_text())
    model = build_compact(vocab, seed, shapes["text"], shapes["vision"])
    state = {k: v.float() for k, v in load_file(init / "model.safetensors").items()}
    key = next(k for k in state if k.endswith("embed_tokens.weight"))
    state[key] = gather_rows(state.pop(key), vocab)
    state.pop("lm_head.weight", None)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    model.tie_weights()
    return model


def batch_loss(model, rows: list[dict], lookup, log_unused: float, image_id: int) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over the rows' target tokens (compact vocabulary + the merged unused class)."""
    width = max(len(r["ids"]) for r in rows)
    ids = torch.full((len(rows), width), PAD, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r["ids"])] = torch.tensor(r["ids"])
        labels[i, :len(r["labels"])] = torch.tensor(r["labels"])
        mask[i, :len(r["ids"])] = 1
    device = next(model.parameters()).device
    cids = lookup[ids]
    kw = {}
    images = [r for r in rows if "pixel_values" in r]
    if images:
        kw = dict(pixel_values=torch.cat([r["pixel_values"] for r in images]).to(device),
                  image_grid_thw=torch.cat([r["image_grid_thw"] for r in images]).to(device),
                  mm_token_type_ids=(cids == image_id).long().to(device))
    logits = model(input_ids=cids.to(device), attention_mask=mask.to(device), **kw).logits
    logits = merged_scores(logits, log_unused)
    tgt = compact_targets(labels, lookup).to(device)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                                             ignore_index=-100, reduction="sum")
    return loss, int((tgt != -100).sum())


def train(out: Path, steps: int, batch: int, lr: float, seed: int, threads: int | None, init: Path | None = None,
          checkpoint_every: int = 0, vocab_samples: int = 6000, text: dict | None = None,
          vision: dict | None = None, vision_init: Path | None = None, device: str = "cpu",
          mix: dict[str, float] | None = None, only: str | None = None, every_turn: bool = False,
          copy_drill: float = 0.0) -> dict:
    """Train ``steps`` steps from scratch (at ``text``/``vision`` shapes, default :data:`TEXT`, :data:`VISION`) or
    from the exported model ``init`` (at its shapes), and export to ``out``.

    ``mix``: the curriculum's task weights (default :data:`curriculum.MIX`).  ``only="visual"`` trains the vision
    tower and its merger alone, the language model frozen: the adapter stage of vision-language models, which makes
    the image tokens carry what the (already trained) language model needs, since it can no longer learn to ignore
    them.  ``every_turn``: train every assistant turn of a conversation, not only the last (:func:`encode`).
    ``copy_drill``: the share of tool schemas with names made to be copied (:func:`curriculum.random_tool`)."""
    from tqdm.auto import tqdm

    if threads:
        torch.set_num_threads(threads)
    tok, processor = tokenizer(), image_processor()
    vocab = curriculum_vocab(tok, vocab_samples)
    lookup = torch.full((VOCAB_SIZE,), len(vocab), dtype=torch.long)
    lookup[torch.tensor(vocab)] = torch.arange(len(vocab))
    log_unused = math.log(VOCAB_SIZE - len(vocab))
    if init:
        shapes = json.loads((init / "training.json").read_text())
        text, vision = shapes["text"], shapes["vision"]
    text, vision = text or TEXT, vision or VISION
    model = load_compact(init, vocab, seed) if init else build_compact(vocab, seed, text, vision)
    if vision_init:   # the vision pre-stage's tower (labkit.nano.qwen35.vision)
        from labkit.nano.qwen35.vision import load_tower

        load_tower(model, vision_init)
    model.to(device)
    model.train()
    if only:
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(f"model.{only}."))
    image_id = int(lookup[IDS["image_token_id"]])
    opt, sched = optimizer(model, lr, steps)
    rng, history, t0 = random.Random(seed), [], time.time()

    def record(done: int, partial: bool = False) -> tuple[list, dict]:
        """(history, meta) after ``done`` steps: what the export writes, checkpoints included."""
        meta = {"steps": done, "planned_steps": steps, "batch": batch, "lr": lr, "seed": seed,
                "train_seconds": round(time.time() - t0, 1), "threads": torch.get_num_threads(),
                "compact_vocab": len(vocab), "mix": mix or cur.MIX}
        if partial:
            meta["partial"] = True
        if only:
            meta["only"] = only
        if every_turn:
            meta["every_turn"] = True
        if copy_drill:
            meta["copy_drill"] = copy_drill
        if device != "cpu":
            meta["device"] = torch.cuda.get_device_name() if device.startswith("cuda") else device
        if vision_init:
            meta["vision_init"] = json.loads(Path(vision_init).with_suffix(".json").read_text()) | {"history": None}
        return _record(init, list(history), meta)

    bar = tqdm(range(steps), desc="training nano Qwen3.5", mininterval=10)
    for step in bar:
        rows = sorted((encode(cur.training_sample(rng, mix, copy_drill), tok, processor, every_turn=every_turn)
                       for _ in range(batch)),
                      key=lambda r: len(r["ids"]))
        half = batch // 2   # two sub-batches of similar lengths: little padding
        total, count = 0.0, 0
        for part in (rows[:half], rows[half:]):
            loss, n = batch_loss(model, part, lookup, log_unused, image_id)
            total, count = total + loss, count + n
        optimizer_step(model, opt, sched, total / count, step, history, t0, bar)
        if checkpoint_every and step and step % checkpoint_every == 0:
            export(model, vocab, out, *record(step, partial=True), text, vision)
    everything, meta = record(steps)
    export(model, vocab, out, everything, meta, text, vision)
    return meta


def _record(init: Path | None, history: list, meta: dict) -> tuple[list, dict]:
    """(the history, the meta) of a run that continues ``init``'s: its history first, this run's entries marked with
    the next stage number, and its meta under ``continued_from``."""
    if not init:
        return history, meta
    previous = json.loads((init / "training.json").read_text())
    stage = max((h.get("stage", 1) for h in previous["history"]), default=1) + 1
    return previous["history"] + [{**h, "stage": stage} for h in history], {**meta, "continued_from": previous["meta"]}


def export(compact, vocab: list[int], out: Path, history: list, meta: dict, text: dict | None = None,
           vision: dict | None = None) -> None:
    """Scatter the compact rows into the full 248,320-row model (``text``/``vision``: the compact model's shapes,
    default :data:`TEXT`, :data:`VISION`) and save it with its processor files."""
    text, vision = text or TEXT, vision or VISION
    from transformers import GenerationConfig, Qwen3_5Config, Qwen3_5ForConditionalGeneration

    cfg = Qwen3_5Config(text_config={**text, "vocab_size": VOCAB_SIZE, "eos_token_id": PAD}, vision_config=vision,
                        tie_word_embeddings=True, **IDS)
    cfg.architectures = ["Qwen3_5ForConditionalGeneration"]
    full = Qwen3_5ForConditionalGeneration(cfg)
    state = {k: v.detach().cpu().clone() for k, v in compact.state_dict().items()}
    key = next(k for k in state if k.endswith("embed_tokens.weight"))
    emb = state.pop(key)
    state.pop("lm_head.weight", None)
    state[key] = scatter_rows(emb, vocab, VOCAB_SIZE)
    missing, unexpected = full.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    full.tie_weights()
    full = full.to(torch.bfloat16)
    full.generation_config = GenerationConfig(eos_token_id=[EOS, PAD], pad_token_id=PAD, do_sample=False)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    full.save_pretrained(tmp)
    write_processor_files(tmp, "qwen3.5")
    (tmp / "training.json").write_text(json.dumps({"meta": meta, "text": text, "vision": vision, "vocab": vocab,
                                                   "history": history}, indent=1))
    card = out / "MODEL_CARD.md"
    if card.exists():
        shutil.copy(card, tmp / card.name)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m labkit.nano.qwen35.train", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "nano_qwen3_5")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--init", type=Path, default=None, help="continue from an exported model")
    ap.add_argument("--checkpoint-every", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cuda on a GPU machine (the same steps, minutes instead of hours)")
    ap.add_argument("--vision-init", type=Path, default=None,
                    help="the vision tower from the pre-stage (python -m labkit.nano.qwen35.vision --out FILE)")
    ap.add_argument("--mix", default=None, help="task weights, e.g. image=1 or image=0.45,arithmetic=0.25,tool=0.3")
    ap.add_argument("--every-turn", action="store_true",
                    help="train every assistant turn of a conversation (a tool call in the history too), not only the last")
    ap.add_argument("--copy-drill", type=float, default=0.0,
                    help="share of tool schemas named with 2-3 words of both lists, too many to remember (copied)")
    ap.add_argument("--only", choices=["visual"], default=None,
                    help="train the vision tower and merger alone, the language model frozen (needs --init)")
    args = ap.parse_args(argv)
    mix = {k: float(v) for k, v in (kv.split("=") for kv in args.mix.split(","))} if args.mix else None
    print(json.dumps(train(args.out, args.steps, args.batch, args.lr, args.seed, args.threads, args.init,
                           args.checkpoint_every, vision_init=args.vision_init, device=args.device,
                           mix=mix, only=args.only, every_turn=args.every_turn,
                           copy_drill=args.copy_drill)))


if __name__ == "__main__":
    main()
