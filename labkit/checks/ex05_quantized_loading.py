"""Answer keys of exercise 05 (quantized loading): its check functions and the data they check against.

Used in notebook 05.
"""
from __future__ import annotations

from typing import Any

from labkit.checks.grader import course_model, exercise
from labkit.family.architectures import fits
from labkit.lessons.quantization import footprint_by_layer_type

GPU_04, CONTEXT_04 = "T4", 32768  # task 3: the largest Qwen3 dense model at nf4 with a long context
QWEN3_DENSE_04 = ("Qwen3-0.6B", "Qwen3-1.7B", "Qwen3-4B", "Qwen3-8B", "Qwen3-14B", "Qwen3-32B")


def _nf4_config_ok(cfg: Any) -> bool:
    import torch
    from transformers import BitsAndBytesConfig

    return (isinstance(cfg, BitsAndBytesConfig) and cfg.load_in_4bit and not cfg.load_in_8bit
            and cfg.bnb_4bit_quant_type == "nf4" and cfg.bnb_4bit_use_double_quant is True
            and cfg.bnb_4bit_compute_dtype == torch.bfloat16)


def _embedding_share_04() -> float:
    model, _ = course_model()
    fp = footprint_by_layer_type(model)
    return fp["embedding"] / sum(fp.values())


def _largest_fit_04() -> str:
    return [n for n in QWEN3_DENSE_04 if fits(n, GPU_04, "nf4", context=CONTEXT_04)][-1]


check_nf4_config = exercise(
    "nf4_config", predicate=_nf4_config_ok,
    expects="a transformers BitsAndBytesConfig: 4-bit, quant type 'nf4', double quantization on, compute dtype "
            "torch.bfloat16",
    hint="BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=..., bnb_4bit_use_double_quant=..., "
         "bnb_4bit_compute_dtype=...); NF4 is a quant type (the default is fp4), and double quantization is off "
         "unless you turn it on",
    where="notebook 05, section 2 'The seed's memory-optimization code'")
check_embedding_share = exercise(
    "embedding_share", predicate=lambda x: isinstance(x, float) and abs(x - _embedding_share_04()) < 1e-3,
    expects="the share (a float between 0 and 1) of the course model's weight bytes that sit in its embedding",
    hint="labkit.lessons.quantization.footprint_by_layer_type(model) gives bytes per kind of module; divide the 'embedding' entry "
         "by the sum of all entries (a share, not a percentage)",
    where="notebook 05, section 3 'Where the bytes are'")
check_largest_nf4_fit = exercise(
    "largest_nf4_fit", _largest_fit_04,
    expects=f"the name (a str) of the largest Qwen3 dense model that fits a {GPU_04} at nf4 with "
            f"{CONTEXT_04:,} tokens of context (batch 1)",
    hint="labkit.family.architectures.fits(name, 'T4', 'nf4', context=32768) for each name in QWEN3_DENSE_04, or read "
         "labkit.lessons.quantization.memory_table; the KV cache is not quantized, so long contexts cost the same at nf4",
    where="notebook 05, section 6 'The memory calculator for real Qwen sizes'")
