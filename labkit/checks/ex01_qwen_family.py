"""Answer keys of exercise 01 (the Qwen family): its check functions and the data they check against.

Used in notebook 01.
"""
from __future__ import annotations

from typing import Any

from labkit.checks.grader import exercise, is_number
from labkit.family.architectures import count_params, fits, kv_cache_gb
from labkit.family.tokens import COURSE_TEXTS, _tokenizer, measure

MODEL_01 = "Qwen3-1.7B"          # task 1: non-embedding parameters (tied embeddings)
KV_MODEL_01, KV_CONTEXT_01 = "Qwen3-8B", 32768  # task 2: the KV cache from the config's fields
GPU_01, CONTEXT_01 = "T4", 8192  # task 3: the largest Qwen3 dense model at bf16
ALLOWANCE_GB_01 = 1.0            # task 3: activations and runtime (the allowance of architectures.fits)
LANGUAGE_01 = "hi"               # task 4: tokens per character of a course text
QWEN3_DENSE_01 = ("Qwen3-0.6B", "Qwen3-1.7B", "Qwen3-4B", "Qwen3-8B", "Qwen3-14B", "Qwen3-32B")


def _non_embedding_01() -> int:
    return count_params(MODEL_01)["non_embedding"]


def _largest_fit_01() -> str:
    fitting = [n for n in QWEN3_DENSE_01 if fits(n, GPU_01, "bf16", context=CONTEXT_01, overhead_gb=ALLOWANCE_GB_01)]
    return fitting[-1]


def _kv_ok_01(gb: Any) -> bool:
    return is_number(gb) and abs(gb - kv_cache_gb(KV_MODEL_01, KV_CONTEXT_01)) <= 0.01


def _tokens_per_char_ok_01(x: Any) -> bool:
    expected = measure(COURSE_TEXTS[LANGUAGE_01], _tokenizer("qwen3"), LANGUAGE_01)["tokens_per_char"]
    return is_number(x) and abs(x - expected) < 1e-3


check_non_embedding_params = exercise(
    "non_embedding_params", _non_embedding_01,
    expects=f"the non-embedding parameter count of {MODEL_01} (an int, about 1.4 billion)",
    hint="make the config from fields with AutoConfig.for_model, build the model from it with from_config on the "
         "meta device, sum the numel() of its parameters, then subtract the input embedding's once: the output "
         "layer is tied to it, so there is no second matrix to remove",
    where="notebook 01, section 2 'Parameters, counted on the meta device'")
check_kv_cache_gb = exercise(
    "kv_cache_gb", predicate=_kv_ok_01,
    expects=f"the KV-cache size of {KV_MODEL_01} for {KV_CONTEXT_01:,} tokens at bf16, in GB (10**9 bytes), "
            "within 0.01",
    hint="2 (K and V) x num_hidden_layers x num_key_value_heads x head_dim x tokens x 2 bytes, read from the "
         "config (KV heads, not attention heads), divided by 1e9",
    where="notebook 01, section 3 'Memory: the weights and the KV cache'")
check_largest_t4_model = exercise(
    "largest_t4_model", _largest_fit_01,
    expects=f"the name (a str) of the largest Qwen3 dense model whose bf16 weights + KV cache for {CONTEXT_01:,} "
            f"tokens + {ALLOWANCE_GB_01:g} GB fit a {GPU_01} (16 GB)",
    hint="for each name in QWEN3_DENSE, smallest first: count its parameters on the meta device, weights = 2 bytes "
         "x parameters, add its KV cache for 8,192 tokens and the 1 GB allowance, and keep the last name whose "
         "total stays at or under 16 GB",
    where="notebook 01, section 4 'Which GPU holds which model'")
check_tokens_per_char = exercise(
    "tokens_per_char", predicate=_tokens_per_char_ok_01,
    expects=f"tokens per character (a float) of COURSE_TEXTS[{LANGUAGE_01!r}] with the Qwen3 tokenizer",
    hint="load the tokenizer with AutoTokenizer as notebook 01 does, encode the text, and divide the number of ids "
         "by the number of characters (a ratio, not a percentage)",
    where="notebook 01, section 5 'What a language costs in tokens'")
