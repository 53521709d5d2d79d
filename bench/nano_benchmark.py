"""Benchmark the shipped nano Qwen3 against the targets of its issue, and write its model card.

    python bench/nano_benchmark.py [--model DIR] [--n 200] [--write-card]

Every figure is measured here, on this machine, through plain ``generate()``
with the full 151,936-row output layer, called by ``labkit.generate_batch`` (the path
``nano.evaluate`` and the notebooks use).  Results go to ``bench/results/nano.json``;
``--write-card`` also renders ``labkit/nano_model/MODEL_CARD.md`` from them.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from labkit import generate_batch, nano
from labkit.facts import SAMPLING

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "thinking_accuracy": 0.95, "format_ok_greedy": 0.99, "format_ok_sampled": 0.97,
    "sampled_accuracy_gap_max": 0.05, "thinking_gap_hardest_min": 0.20, "held_out_skill_max": 0.10,
    "decode_tokens_per_s_min": 100.0, "weights_mb_max": 25.0, "load_seconds_max": 2.0,
}


def sampling_kwargs(mode: str) -> dict:
    s = SAMPLING[mode]
    return dict(do_sample=True, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k)


def decode_speed(model, tok, new_tokens: int = 200, repeats: int = 3) -> float:
    """Greedy batch-1 decode through labkit.generate_batch (plain generate()), tokens per second (median of repeats)."""
    msgs = [{"role": "user", "content": "What is 4821 × 7?"}]
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        reply = generate_batch(model, tok, [msgs], thinking=True, max_new_tokens=new_tokens,
                               min_new_tokens=new_tokens, do_sample=False)[0]
        rates.append(reply.new_tokens / (time.perf_counter() - t0))
    return sorted(rates)[len(rates) // 2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=ROOT / "labkit" / "nano_model")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "nano.json")
    ap.add_argument("--write-card", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.model)  # exactly like a Hub checkpoint (bf16)
    load_s = time.perf_counter() - t0  # first load in the process: includes importing the Qwen3 code
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(args.model)
    tok_s = time.perf_counter() - t0
    model32 = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()

    r: dict = {"model": str(args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model),
               "date": datetime.date.today().isoformat(), "machine": f"{platform.processor() or platform.machine()}, "
               f"{torch.get_num_threads()} torch threads, {os.cpu_count()} cores", "torch": torch.__version__,
               "n": args.n, "load_seconds_bf16": round(load_s, 2),
               "tokenizer_load_seconds": round(tok_s, 2)}
    weights = args.model / "model.safetensors"
    r["weights_mb"] = round(weights.stat().st_size / 1e6, 2)
    r["params_total"] = sum(p.numel() for p in model.parameters())
    r["params_embedding"] = model.get_input_embeddings().weight.numel()
    r["params_non_embedding"] = r["params_total"] - r["params_embedding"]
    r["compact_vocab"] = json.loads((args.model / "training.json").read_text())["meta"].get("compact_vocab")
    r["training"] = json.loads((args.model / "training.json").read_text())["meta"]

    res = {}
    for name, thinking, extra in [("greedy_think", True, {}), ("greedy_nothink", False, {}),
                                  ("sampled_think", True, sampling_kwargs("thinking")),
                                  ("sampled_nothink", False, sampling_kwargs("non_thinking"))]:
        e = nano.evaluate(model32, tok, thinking=thinking, n=args.n, seed=0, **extra)
        res[name] = {"accuracy": e.accuracy, "format_ok": e.format_ok, "by_level": e.by_level,
                     "mean_new_tokens": e.mean_new_tokens}
        print(e.summary(), "by level:", {k: f"{v:.0%}" for k, v in e.by_level.items()})
    js = nano.evaluate(model32, tok, thinking=True, n=args.n, task="double")
    res["held_out_double"] = {"accuracy": js.accuracy, "format_ok": js.format_ok, "by_level": js.by_level}
    print(js.summary())
    js_off = nano.evaluate(model32, tok, thinking=False, n=args.n, task="double")
    res["held_out_double_nothink"] = {"accuracy": js_off.accuracy, "by_level": js_off.by_level}
    print(js_off.summary(), "(thinking off: the echo 'n + ...' sometimes lands on 2n by chance)")
    again = nano.evaluate(model32, tok, thinking=True, n=min(args.n, 50), seed=0, progress=False)
    first = nano.evaluate(model32, tok, thinking=True, n=min(args.n, 50), seed=0, progress=False)
    r["deterministic"] = again.examples == first.examples and again.accuracy == first.accuracy
    r["results"] = res
    threads = torch.get_num_threads()
    speeds = {}
    for n_threads in sorted({1, threads}):
        torch.set_num_threads(n_threads)
        speeds[n_threads] = (round(decode_speed(model32, tok), 1), round(decode_speed(model, tok), 1))
        print(f"decode (greedy, batch 1, plain generate, {n_threads} thread(s)): fp32 {speeds[n_threads][0]} tok/s, "
              f"bf16 {speeds[n_threads][1]} tok/s")
    torch.set_num_threads(threads)
    best = max(speeds, key=lambda k: speeds[k][0])
    r["decode_by_threads"] = {str(k): {"fp32": v[0], "bf16": v[1]} for k, v in speeds.items()}
    r["decode_threads"] = best
    r["decode_tokens_per_s_fp32"], r["decode_tokens_per_s_bf16"] = speeds[best]

    hardest = max(nano.LEVELS)
    checks = {
        "thinking accuracy >= 95%": res["greedy_think"]["accuracy"] >= TARGETS["thinking_accuracy"],
        "format_ok >= 99% greedy, both modes": min(res["greedy_think"]["format_ok"],
                                                   res["greedy_nothink"]["format_ok"]) >= TARGETS["format_ok_greedy"],
        "format_ok >= 97% sampled, both modes": min(res["sampled_think"]["format_ok"],
                                                    res["sampled_nothink"]["format_ok"]) >= TARGETS["format_ok_sampled"],
        "sampled accuracy within 5 points of greedy": all(
            res[f"greedy_{m}"]["accuracy"] - res[f"sampled_{m}"]["accuracy"] <= TARGETS["sampled_accuracy_gap_max"]
            for m in ("think", "nothink")),
        f"thinking gap on level {hardest} >= 20 points": res["greedy_think"]["by_level"][hardest]
        - res["greedy_nothink"]["by_level"][hardest] >= TARGETS["thinking_gap_hardest_min"],
        "held-out skill <= 10% before fine-tuning": res["held_out_double"]["accuracy"] <= TARGETS["held_out_skill_max"],
        "decode >= 100 tokens/s (fp32, 2 cores)": r["decode_tokens_per_s_fp32"] >= TARGETS["decode_tokens_per_s_min"],
        "weights <= 25 MB": r["weights_mb"] <= TARGETS["weights_mb_max"],
        "loads in <= 2 s": load_s <= TARGETS["load_seconds_max"],
        "deterministic greedy outputs": r["deterministic"],
    }
    r["targets"] = checks
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(r, indent=1, default=str))
    print("\ntarget                                         met")
    for k, v in checks.items():
        print(f"{k:<46} {'yes' if v else 'NO'}")
    print(f"{sum(checks.values())} passed, {len(checks) - sum(checks.values())} failed")
    if args.write_card:
        write_card(r, args.model / "MODEL_CARD.md")


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def write_card(r: dict, path: Path) -> None:
    res = r["results"]
    lv = sorted(res["greedy_think"]["by_level"])
    rows = "\n".join(f"| {l} | {pct(res['greedy_think']['by_level'][l])} | {pct(res['greedy_nothink']['by_level'][l])} |"
                     for l in lv)
    t = r["training"]
    text = f"""# nano Qwen3 (qwen-labs)

A tiny model with the real Qwen3 architecture (`Qwen3ForCausalLM`), Qwen's full 151,936-row
embedding (the tokenizer's 151,669 tokens, padded), the real Qwen3 tokenizer and a Qwen3-format chat template. It was trained from
scratch by `python -m labkit.train_nano` on a synthetic curriculum (see `labkit/nano.py`), so the
offline profile of the course shows real effects on a real model. It knows nothing but its
curriculum: column arithmetic (addition of n-digit numbers, multiplication by one digit; n = 1..4)
with and without a thinking scratchpad, who it is, greetings, a name or a pirate persona from the
system prompt, and the `/think` and `/no_think` switches. Doubling (`Double 47.`) was kept out of
training on purpose: notebook 05 teaches it with LoRA.

Every figure below was measured by `bench/nano_benchmark.py` on {r['date']} ({r['machine']},
torch {r['torch']}) with `labkit.nano.evaluate` on n = {r['n']} held-out problems per row (never seen
in training), through plain `generate()` over the full vocabulary.

## Architecture
| | |
|---|---|
| layers / hidden / MLP | {r['training'].get('arch_layers', 6)} / 64 / 256 |
| attention heads (query / key-value) / head dim | 4 / 2 / 32 |
| parameters, total | {r['params_total']:,} |
| of which embedding (tied with the output layer) | {r['params_embedding']:,} |
| parameters without the embedding | {r['params_non_embedding']:,} |
| vocabulary rows used by the curriculum | {r['compact_vocab']} (all others share one row) |
| weights on disk (bfloat16 safetensors) | {r['weights_mb']} MB |
| load time (`from_pretrained`, bf16) | {r['load_seconds_bf16']} s |

## Results (greedy unless marked)
| | thinking on | thinking off |
|---|---|---|
| accuracy | {pct(res['greedy_think']['accuracy'])} | {pct(res['greedy_nothink']['accuracy'])} |
| format ok (well-formed think block) | {pct(res['greedy_think']['format_ok'])} | {pct(res['greedy_nothink']['format_ok'])} |
| accuracy, Qwen's recommended sampling for the mode | {pct(res['sampled_think']['accuracy'])} | {pct(res['sampled_nothink']['accuracy'])} |
| format ok, recommended sampling | {pct(res['sampled_think']['format_ok'])} | {pct(res['sampled_nothink']['format_ok'])} |
| new tokens per answer | {res['greedy_think']['mean_new_tokens']:.0f} | {res['greedy_nothink']['mean_new_tokens']:.0f} |

Accuracy by level (digits of the first number), greedy:

| level | thinking on | thinking off |
|---|---|---|
{rows}

Held-out skill (doubling: `Double 47.` → `47 + 47 = 94`), before fine-tuning: accuracy
{pct(res['held_out_double']['accuracy'])} with thinking (the target mode of the skill), and
{pct(res['held_out_double_nothink']['accuracy'])} with thinking off, where the answer's echo sometimes lands on 2n by chance.

Decode speed, greedy, batch 1, plain `generate()`, {r['decode_threads']} CPU thread(s): {r['decode_tokens_per_s_fp32']} tokens/s
in float32, {r['decode_tokens_per_s_bf16']} tokens/s in bfloat16 (`labkit.load_model` picks float32 on CPU).
By thread count (float32 / bfloat16): {', '.join(f"{k}: {v['fp32']} / {v['bf16']}" for k, v in r['decode_by_threads'].items())}.
The tokenizer (18.7 MB `tokenizer.json`) loads in {r['tokenizer_load_seconds']} s.

## Training
{t.get('steps')} steps of {t.get('batch')} conversations, AdamW lr {t.get('lr')}, seed {t.get('seed')}:
{t.get('train_seconds')} s on {t.get('threads')} CPU threads. Rebuild: `python -m labkit.train_nano --out DIR` (the defaults are the settings above).
The loss covers the full vocabulary exactly (the unused rows are tied to one vector, so their
logits merge into one class), which is why sampling stays on the curriculum's tokens.

## Limits
It is a teaching model: it does arithmetic in its curriculum's format and a few chat turns.
Ask it anything else and it answers with what it knows.
"""
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
