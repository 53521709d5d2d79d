"""Answer keys of exercise 01 (the Qwen family): its check functions and the data they check against.

Used in notebook 01.
"""
from __future__ import annotations

from typing import Any

from labkit.checks.grader import exercise
from labkit.family.architectures import count_params, fits, kv_cache_gb
from labkit.family.tokens import COURSE_TEXTS, _tokenizer, measure

MODEL_01 = "Qwen3-1.7B"          # task 1: non-embedding parameters (tied embeddings)
GPU_01, CONTEXT_01 = "T4", 8192  # task 2: the largest Qwen3 dense model at bf16
KV_MODEL_01, KV_CONTEXT_01 = "Qwen3-8B", 32768  # task 3: KV cache by hand
LANGUAGE_01 = "hi"               # task 4: tokens per character of a course text
QWEN3_DENSE_01 = ("Qwen3-0.6B", "Qwen3-1.7B", "Qwen3-4B", "Qwen3-8B", "Qwen3-14B", "Qwen3-32B")


def _non_embedding_01() -> int:
    return count_params(MODEL_01)["non_embedding"]


def _largest_fit_01() -> str:
    return [n for n in QWEN3_DENSE_01 if fits(n, GPU_01, "bf16", context=CONTEXT_01)][-1]


def _kv_ok_01(gb: Any) -> bool:
    return isinstance(gb, (int, float)) and abs(gb - kv_cache_gb(KV_MODEL_01, KV_CONTEXT_01)) <= 0.01


def _tokens_per_char_01() -> float:
    return measure(COURSE_TEXTS[LANGUAGE_01], _tokenizer("qwen3"), LANGUAGE_01)["tokens_per_char"]


check_non_embedding_params = exercise(
    "non_embedding_params", _non_embedding_01,
    expects=f"the non-embedding parameter count of {MODEL_01} (an int, about 1.4 billion)",
    hint="build the model with labkit.family.architectures.build_on_meta, sum p.numel() over model.parameters(), "
         "then subtract the input embedding once: Qwen3-1.7B ties its output head to it, so there is no "
         "second matrix to remove",
    where="notebook 01, section 4 'Parameters, counted'")
check_largest_t4_model = exercise(
    "largest_t4_model", _largest_fit_01,
    expects=f"the name (a str) of the largest Qwen3 dense model that fits a {GPU_01} at bf16 with "
            f"{CONTEXT_01:,} tokens of context",
    hint="try labkit.family.architectures.fits(name, 'T4', 'bf16', context=8192) for each name in QWEN3_DENSE, "
         "smallest to largest; bf16 weights alone are 2 bytes per parameter",
    where="notebook 01, section 5 'Memory: weights, KV cache, GPUs'")
check_kv_cache_gb = exercise(
    "kv_cache_gb", predicate=_kv_ok_01,
    expects=f"the KV-cache size of {KV_MODEL_01} for {KV_CONTEXT_01:,} tokens at bf16, in GB (10**9 bytes), "
            "within 0.01",
    hint="2 (K and V) x layers x KV heads x head_dim x tokens x 2 bytes; read the numbers from "
         "labkit.family.architectures.CONFIGS['Qwen3-8B'].config (KV heads, not attention heads)",
    where="notebook 01, section 5 'Memory: weights, KV cache, GPUs'")
check_tokens_per_char = exercise(
    "tokens_per_char", predicate=lambda x: isinstance(x, float) and abs(x - _tokens_per_char_01()) < 1e-3,
    expects=f"tokens per character (a float) of COURSE_TEXTS[{LANGUAGE_01!r}] with the Qwen3 tokenizer",
    hint="len(tok.encode(text)) / len(text), with tok = labkit.load_tokenizer('qwen3'); a float, not a percentage",
    where="notebook 01, section 6 'What a language costs in tokens'")
