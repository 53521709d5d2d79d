"""What a frozen output layer costs ``generate()``'s prefill, and what :func:`labkit.generation.generate_replies` saves.

    python bench/frozen_head.py [--threads 1]      # writes bench/results/frozen_head.json

Prefill hands the output layer each row's last position, a strided view ``(batch, 1, hidden)`` of the hidden
states.  When the layer's weight does not require a gradient (LoRA freezes it; so does ``requires_grad_(False)``),
``torch.matmul`` does not fold that view into one matrix product: it multiplies through ``bmm`` with the weight
expanded per row (pytorch/pytorch#186148).  ``generate_replies`` hands the layer a copy of the view with the
standard strides (its forward pre-hook, ``labkit.generation._contiguous``, measured here as it is).

Two measurements, each a ratio taken side by side in one run:

* ``product``: the output layer's product alone (``F.linear``), the strided view against its contiguous copy, a
  frozen weight, at the nano Qwen3's width (64) and Qwen3-0.6B's (1,024), the 151,936-row vocabulary, batches of 1
  and 8, in float32 and bfloat16;
* ``generate``: the nano Qwen3 frozen in bfloat16 answering 8 questions, ``model.generate`` against
  ``generate_replies`` (the same greedy replies are checked).
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
import torch.utils.benchmark as benchmark

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "frozen_head.json"
VOCAB = 151936


def product(width: int, batch: int, dtype: torch.dtype) -> dict:
    from labkit.generation import _contiguous

    weight = torch.randn(VOCAB, width, dtype=dtype).requires_grad_(False)
    hidden = torch.randn(batch, 30, width, dtype=dtype)
    last = hidden[:, -1:, :]                                         # what prefill hands the output layer
    times = {}
    with torch.no_grad():
        for name, x in (("strided", last), ("contiguous", _contiguous(None, (last,))[0])):
            times[name] = benchmark.Timer("F.linear(x, w)", globals={"F": F, "x": x, "w": weight}).blocked_autorange(
                min_run_time=1.0).median
    return {"width": width, "batch": batch, "dtype": str(dtype).removeprefix("torch."),
            "strided_ms": round(1e3 * times["strided"], 2), "contiguous_ms": round(1e3 * times["contiguous"], 2),
            "ratio": round(times["strided"] / times["contiguous"], 1)}


def generate() -> dict:
    import time

    from transformers import AutoModelForCausalLM, AutoTokenizer

    import labkit
    from labkit.generation import batch_inputs, generate_replies

    model = AutoModelForCausalLM.from_pretrained(labkit.nano_path(), dtype=torch.bfloat16).eval()
    frozen = copy.deepcopy(model).requires_grad_(False)
    tok = AutoTokenizer.from_pretrained(labkit.nano_path())
    questions = [[{"role": "user", "content": f"What is {a} + {a + 7}?"}] for a in range(11, 19)]
    inputs = batch_inputs(frozen, tok, questions, thinking=False, max_new_tokens=16)
    runs: dict[str, list[float]] = {"model.generate": [], "generate_replies": []}
    replies = {}
    for _ in range(5):                                                # alternate, so drift hits both alike
        t0 = time.perf_counter()
        with torch.no_grad():
            out = frozen.generate(**inputs, max_new_tokens=16, do_sample=False, pad_token_id=tok.pad_token_id)
        runs["model.generate"].append(time.perf_counter() - t0)
        replies["model.generate"] = tok.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        t0 = time.perf_counter()
        ours = generate_replies(frozen, tok, inputs, max_new_tokens=16, do_sample=False)
        runs["generate_replies"].append(time.perf_counter() - t0)
        replies["generate_replies"] = [r.answer for r in ours]
    median = {k: sorted(v)[len(v) // 2] for k, v in runs.items()}
    same = [a.strip() == b.strip() for a, b in zip(*replies.values())]
    return {"model": "nano Qwen3, bfloat16, every weight frozen", "batch": len(questions), "max_new_tokens": 16,
            "median_s": {k: round(v, 3) for k, v in median.items()},
            "ratio": round(median["model.generate"] / median["generate_replies"], 2),
            "same_replies": f"{sum(same)} of {len(same)}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [product(w, b, d) for d in (torch.float32, torch.bfloat16) for w in (64, 1024) for b in (1, 8)]
    for r in rows:
        print(f"{r['dtype']:>8} width {r['width']:>4} batch {r['batch']}: strided {r['strided_ms']:>8} ms, "
              f"contiguous {r['contiguous_ms']:>6} ms, x{r['ratio']}")
    gen = generate()
    print(gen)
    result = {"measured": datetime.now(timezone.utc).date().isoformat(),
              "machine": f"{platform.machine()}, {args.threads} torch thread(s), torch {torch.__version__}",
              "product": rows, "generate": gen}
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
