"""Decode speed of real Qwen3 architectures on a GPU: HF eager vs static cache + torch.compile, batch 1 -> 128.

    python bench/gpu_decode.py                      # on a CUDA machine: writes bench/results/gpu_<gpu>.json
    python bench/gpu_decode.py --models Qwen3-0.6B --batches 1 8 64
    python bench/gpu_decode.py --smoke              # a tiny CPU run that only checks this script works

**Random weights.**  The models are built from the real ``config.json`` shapes in
``labkit.family.architectures`` (Qwen3-0.6B, Qwen3-1.7B) and initialised at random in bfloat16:
the speed of a forward pass does not depend on the values of the weights, and no
checkpoint has to be downloaded.  The generated text is meaningless, so every run
generates a fixed number of tokens (``min_new_tokens = max_new_tokens``).

Two modes:

* ``hf_eager``: plain ``generate()`` with the default dynamic KV cache, no compilation
  (``disable_compile=True``).
* ``static_compile``: ``generate(cache_implementation="static")``: a pre-allocated KV
  cache, with which transformers compiles the forward pass on CUDA (``torch.compile``,
  mode ``reduce-overhead``, i.e. CUDA graphs).  Compilation happens in the warm-up runs
  and its time is recorded separately (``compile_s``).

Decode time is measured as ``time(N new tokens) - time(1 new token)``, so prefill is
left out; decode speed is ``batch × (N - 1) / decode time`` tokens/s.  At batch 1 each
figure is also given as a percentage of the memory-bandwidth ceiling of
``labkit.lessons.roofline`` (when the GPU is in its table).  The JSON is stamped with the GPU,
driver, CUDA, torch and transformers versions and the date; notebook 07 reads it.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from common import driver_version, never_stop, sync  # noqa: E402  (bench/common.py)
from labkit.family import architectures
from labkit.lessons import roofline  # noqa: E402

LABEL = ("RANDOM WEIGHTS: real Qwen3 architectures (labkit.family.architectures) initialised at random in bf16; "
         "decode speed only, not model quality")
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128)
MODES = ("hf_eager", "static_compile")


def build(name: str, device: str, dtype: torch.dtype, smoke: bool):
    from transformers import AutoModelForCausalLM

    config = architectures.make_config(name)
    if smoke:  # same family, tiny: only checks the code path
        config.num_hidden_layers, config.hidden_size, config.intermediate_size = 2, 64, 128
        config.num_attention_heads, config.num_key_value_heads, config.head_dim = 4, 2, 16
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype).to(device).eval()
    return never_stop(model)


def timed_generate(model, ids, new_tokens: int, mode: str, device: str) -> float:
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, temperature=None,
                  top_p=None, top_k=None)
    if mode == "static_compile":
        kwargs["cache_implementation"] = "static"
    else:
        kwargs["disable_compile"] = True
    sync(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
    sync(device)
    assert out.shape[1] == ids.shape[1] + new_tokens
    return time.perf_counter() - t0


def run_one(model, name: str, mode: str, batch: int, prompt_tokens: int, new_tokens: int, device: str,
            repeats: int, bw_key: str | None) -> dict:
    gen = torch.Generator().manual_seed(batch)
    ids = torch.randint(100, 150_000, (batch, prompt_tokens), generator=gen).to(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(2):  # warm-up: compilation / CUDA graph capture for both lengths happens here
        timed_generate(model, ids, new_tokens, mode, device)
        timed_generate(model, ids, 1, mode, device)
    warmup_s = time.perf_counter() - t0
    full = sorted(timed_generate(model, ids, new_tokens, mode, device) for _ in range(repeats))[repeats // 2]
    first = sorted(timed_generate(model, ids, 1, mode, device) for _ in range(repeats))[repeats // 2]
    decode_s = full - first
    if decode_s <= 0:
        return {"model": name, "mode": mode, "batch": batch,
                "error": f"not measurable: {new_tokens} tokens took no longer than 1 ({full:.4f} s vs {first:.4f} s)"}
    tok_s = batch * (new_tokens - 1) / decode_s
    row = {"model": name, "mode": mode, "batch": batch, "prompt_tokens": prompt_tokens, "new_tokens": new_tokens,
           "decode_tokens_per_s": round(tok_s, 2), "per_sequence_tokens_per_s": round(tok_s / batch, 2),
           "prefill_and_first_token_s": round(first, 5), "warmup_s": round(warmup_s, 2),
           "peak_memory_gb": (round(torch.cuda.max_memory_allocated() / 1e9, 3)
                              if device.startswith("cuda") else None)}
    if batch == 1 and bw_key:
        row["ceiling_tokens_per_s"] = round(roofline.ceiling(model, bw_key, context=prompt_tokens + new_tokens // 2),
                                            1)
        row["percent_of_ceiling"] = round(100 * tok_s / row["ceiling_tokens_per_s"], 1)
    return row


def main(argv: list[str] | None = None) -> int:
    import transformers

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["Qwen3-0.6B", "Qwen3-1.7B"])
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--batches", nargs="+", type=int, default=list(BATCHES))
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--smoke", action="store_true", help="tiny models on the CPU: checks the script, no result")
    args = ap.parse_args(argv)

    if args.smoke:
        device, dtype = "cpu", torch.float32
        args.batches, args.new_tokens, args.prompt_tokens, args.repeats = [1, 2], 4, 8, 1
        args.modes = list(MODES)  # static cache without compile on a CPU: checks the code path only
    elif not torch.cuda.is_available():
        print("SKIPPED: bench/gpu_decode.py needs a CUDA GPU (use --smoke to check the script on a CPU).")
        return 0
    else:
        device, dtype = "cuda", torch.bfloat16
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else f"CPU smoke test ({platform.processor()})"
    bw_key = roofline.bandwidth_key(gpu) if device == "cuda" else None
    stamp = {"label": LABEL, "gpu": gpu, "bandwidth_key": bw_key, "driver": driver_version(),
             "cuda": torch.version.cuda, "torch": torch.__version__, "transformers": transformers.__version__,
             "python": platform.python_version(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
             "smoke": args.smoke, "results": []}
    print(f"{gpu} · driver {stamp['driver']} · torch {torch.__version__} · transformers {transformers.__version__}")
    for name in args.models:
        model = build(name, device, dtype, args.smoke)
        for mode in args.modes:
            for batch in args.batches:
                try:
                    row = run_one(model, name, mode, batch, args.prompt_tokens, args.new_tokens, device,
                                  args.repeats, bw_key)
                except torch.cuda.OutOfMemoryError:
                    row = {"model": name, "mode": mode, "batch": batch, "error": "CUDA out of memory"}
                    torch.cuda.empty_cache()
                stamp["results"].append(row)
                print(json.dumps(row))
        del model
        if device == "cuda":
            torch.cuda.empty_cache()
    if args.out is None and not args.smoke:
        slug = re.sub(r"[^a-z0-9]+", "_", gpu.lower()).strip("_")
        args.out = ROOT / "bench" / "results" / f"gpu_{slug}.json"
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(stamp, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
