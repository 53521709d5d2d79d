"""Memory and decode speed of real Qwen3 architectures per bitsandbytes precision, on a GPU.

    python bench/gpu_quant.py                      # on a CUDA machine: writes bench/results/quant_gpu.json
    python bench/gpu_quant.py --models Qwen3-0.6B --precisions bf16 nf4
    python bench/gpu_quant.py --smoke              # a tiny CPU run that only checks this script works

**Random weights.**  Each model is built from the real ``config.json`` shapes in
``labkit.family.architectures`` (Qwen3-0.6B, Qwen3-1.7B, Qwen3-4B), initialised at random in
bfloat16, saved to a temporary folder and loaded back with ``from_pretrained`` exactly as a
learner loads a checkpoint: unquantized (``bf16``) or with
``quantization_config=BitsAndBytesConfig(...)`` (``int8``, ``nf4``, ``nf4-dq``).  Memory and
speed do not depend on the values of the weights; the text is meaningless, so every run
generates a fixed number of tokens and quality is not measured (notebook 05 measures
quality on the trained nano model).

Per (model, precision): ``footprint_gb`` (``get_memory_footprint()``), ``weights_gb`` (that
plus the quantization constants, :func:`labkit.lessons.quantization.total_bytes`), ``computed_gb``
(:func:`labkit.family.architectures.weight_memory_gb`, to check the calculator),
``cuda_allocated_gb`` after loading, ``load_s``, and the decode speed at batch 1 and 8:
``time(N new tokens) - time(1 new token)`` so that prefill is left out, best of 3.
The JSON is stamped with the GPU, driver, CUDA, torch, transformers and bitsandbytes
versions and the date; notebook 05 reads it.  (The file is ``quant_gpu.json``, not ``gpu_*.json``:
notebook 07 reads every ``bench/results/gpu_*.json`` as a decode benchmark.)
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from common import driver_version, never_stop, sync  # noqa: E402  (bench/common.py)
from labkit.family import architectures
from labkit.lessons import quantization as quant  # noqa: E402

LABEL = ("RANDOM WEIGHTS: real Qwen3 architectures (labkit.family.architectures) initialised at random, saved in bf16 "
         "and loaded with bitsandbytes; memory and decode speed only, not model quality")
MODELS = ("Qwen3-0.6B", "Qwen3-1.7B", "Qwen3-4B")
PRECISIONS = ("bf16", "int8", "nf4", "nf4-dq")
BATCHES = (1, 8)


def save_random(name: str, folder: Path, smoke: bool) -> None:
    from transformers import AutoModelForCausalLM

    config = architectures.make_config(name)
    if smoke:  # same family, tiny: only checks the code path
        config.num_hidden_layers, config.hidden_size, config.intermediate_size = 2, 64, 128
        config.num_attention_heads, config.num_key_value_heads, config.head_dim = 4, 2, 32
        config.vocab_size = 1024
        config.layer_types = config.layer_types[:2]
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(folder)
    del model
    gc.collect()


def load(folder: Path, precision: str, device: str):
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": torch.bfloat16}
    if precision != "bf16":
        kwargs["quantization_config"] = quant.bnb_config(precision, compute_dtype=torch.bfloat16)
    if device.startswith("cuda"):
        kwargs["device_map"] = {"": 0}
    model = AutoModelForCausalLM.from_pretrained(folder, **kwargs).eval()
    return never_stop(model)


def generate_time(model, batch: int, new_tokens: int, device: str, prompt_len: int = 32) -> float:
    ids = torch.randint(100, 1000, (batch, prompt_len), device=device)
    sync(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                       min_new_tokens=new_tokens, do_sample=False, disable_compile=True)
    sync(device)
    return time.perf_counter() - t0


def decode_speed(model, batch: int, new_tokens: int, device: str, repeats: int = 3) -> float:
    generate_time(model, batch, 4, device)  # warm-up
    one = min(generate_time(model, batch, 1, device) for _ in range(repeats))
    full = min(generate_time(model, batch, new_tokens, device) for _ in range(repeats))
    return batch * (new_tokens - 1) / max(full - one, 1e-9)


def run(models, precisions, batches, new_tokens: int, device: str, smoke: bool) -> list[dict]:
    rows = []
    for name in models:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / name
            save_random(name, folder, smoke)
            for precision in precisions:
                gc.collect()
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                t0 = time.perf_counter()
                model = load(folder, precision, device)
                sync(device)
                row = {"model": name, "precision": precision, "load_s": round(time.perf_counter() - t0, 2),
                       "footprint_gb": model.get_memory_footprint() / 1e9,
                       "weights_gb": quant.total_bytes(model) / 1e9,
                       "computed_gb": None if smoke else architectures.weight_memory_gb(
                           name, {"nf4-dq": "nf4"}.get(precision, precision),
                           double_quant=precision == "nf4-dq")}
                if device.startswith("cuda"):
                    row["cuda_allocated_gb"] = torch.cuda.memory_allocated() / 1e9
                for b in batches:
                    row[f"decode_tok_s_b{b}"] = round(decode_speed(model, b, new_tokens, device), 1)
                print(json.dumps(row), flush=True)
                rows.append(row)
                del model
    for row in rows:  # ratios vs bf16 of the same model
        base = next((r for r in rows if r["model"] == row["model"] and r["precision"] == "bf16"), None)
        if base:
            row["footprint_vs_bf16"] = round(row["weights_gb"] / base["weights_gb"], 3)
            for b in batches:
                row[f"speed_vs_bf16_b{b}"] = round(row[f"decode_tok_s_b{b}"] / base[f"decode_tok_s_b{b}"], 3)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--precisions", nargs="+", default=list(PRECISIONS))
    ap.add_argument("--batches", nargs="+", type=int, default=list(BATCHES))
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "quant_gpu.json")
    ap.add_argument("--smoke", action="store_true", help="tiny CPU run: checks the code path, writes nothing")
    args = ap.parse_args()
    import bitsandbytes
    import transformers

    if args.smoke:
        rows = run(args.models[:1], args.precisions, [1], 4, "cpu", smoke=True)
        print(f"smoke run ok: {len(rows)} rows")
        return
    if not torch.cuda.is_available():
        sys.exit("no CUDA GPU: run with --smoke to check the script, or on a GPU machine")
    rows = run(args.models, args.precisions, args.batches, args.new_tokens, "cuda", smoke=False)
    props = torch.cuda.get_device_properties(0)
    result = {
        "label": LABEL,
        "gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
        "driver": driver_version(), "cuda": torch.version.cuda,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "bitsandbytes": bitsandbytes.__version__, "python": platform.python_version(),
        "date": datetime.date.today().isoformat(), "new_tokens": args.new_tokens,
        "method": "random-weight checkpoints saved in bf16, loaded with from_pretrained(quantization_config=...); "
                  "decode speed = batch x (N-1) / (time(N tokens) - time(1 token)), best of 3, no torch.compile",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
