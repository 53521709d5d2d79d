"""Answer keys of exercise 05 (quantized loading): its check functions and the data they check against.

Used in notebook 05.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from labkit.checks.grader import course_model, exercise
from labkit.env import gpu_dtype
from labkit.family.architectures import fits
from labkit.lessons.quantization import footprint_by_layer_type, total_bytes
from labkit.models import resolve_model_id

GPU_05, CONTEXT_05 = "T4", 32768  # task 4: the largest Qwen3 dense model at nf4 with a long context
QWEN3_DENSE_05 = ("Qwen3-0.6B", "Qwen3-1.7B", "Qwen3-4B", "Qwen3-8B", "Qwen3-14B", "Qwen3-32B")
SHARE_TOLERANCE = 0.002


def _right_compute_dtypes() -> tuple[Any, ...]:
    """The course's rule: on a CUDA GPU its 16-bit dtype (bf16 from compute capability 8.0, fp16 before);
    without a GPU the rule does not apply, and either 16-bit dtype is right (the notebook takes bf16,
    ``labkit.env.gpu_dtype()`` says fp16 there)."""
    import torch

    if torch.cuda.is_available():
        return (gpu_dtype(),)
    return (torch.bfloat16, torch.float16)


def _nf4_config_ok(cfg: Any) -> bool:
    from transformers import BitsAndBytesConfig

    return (isinstance(cfg, BitsAndBytesConfig) and cfg.load_in_4bit and not cfg.load_in_8bit
            and cfg.bnb_4bit_quant_type == "nf4" and cfg.bnb_4bit_use_double_quant is True
            and cfg.bnb_4bit_compute_dtype in _right_compute_dtypes())


def _nf4_model_ok(model: Any) -> bool:
    """Every nn.Linear but the output head is a bitsandbytes Linear4bit holding NF4 codes with
    double quantization (a nested quant_state)."""
    import torch

    head = model.get_output_embeddings()
    linear4 = [m for m in model.modules() if type(m).__name__ == "Linear4bit"]
    plain = [m for m in model.modules() if type(m) is torch.nn.Linear and m is not head]
    states = [m.weight.quant_state for m in linear4]
    return bool(linear4) and not plain and all(s.quant_type == "nf4" and s.nested for s in states)


@lru_cache(maxsize=1)
def _embedding_shares() -> tuple[float, ...]:
    """Every right reading of "the share of the 4-bit model's bytes in its embedding": of
    get_memory_footprint() or of the bytes with the quantization scales, whether the parts
    bitsandbytes leaves alone were loaded in the checkpoint's dtype (the default) or in float32;
    and the share of the unquantized course model (the question before it is quantized)."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                bnb_4bit_compute_dtype=_right_compute_dtypes()[0])
    shares = []
    for dtype in ("auto", torch.float32):
        model = AutoModelForCausalLM.from_pretrained(resolve_model_id(), quantization_config=config, dtype=dtype,
                                                     device_map="auto")
        emb = model.get_input_embeddings().weight
        emb_bytes = emb.numel() * emb.element_size()
        shares += [emb_bytes / model.get_memory_footprint(), emb_bytes / total_bytes(model)]
        del model
    fp = footprint_by_layer_type(course_model()[0])
    shares.append(fp["embedding"] / sum(fp.values()))
    return tuple(shares)


def _share_ok(x: Any) -> bool:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    return any(abs(float(x) - s) <= SHARE_TOLERANCE for s in _embedding_shares())


def _largest_fit_05() -> str:
    return [n for n in QWEN3_DENSE_05 if fits(n, GPU_05, "nf4", context=CONTEXT_05)][-1]


check_nf4_config = exercise(
    "nf4_config", predicate=_nf4_config_ok,
    expects="a transformers BitsAndBytesConfig: 4-bit, quant type 'nf4', double quantization on, compute dtype "
            "torch.bfloat16 on a GPU of compute capability 8.0+ (or on a CPU), torch.float16 on an older GPU",
    hint="BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=..., bnb_4bit_use_double_quant=..., "
         "bnb_4bit_compute_dtype=...); NF4 is a quant type (the default is fp4), double quantization is off unless "
         "you turn it on, and torch.cuda.get_device_capability()[0] >= 8 says whether bf16 is native",
    where="notebook 05, section 1 'Load a model in 8 and 4 bits'")
check_nf4_model = exercise(
    "nf4_model", predicate=_nf4_model_ok,
    expects="a model loaded with from_pretrained(..., quantization_config=<your NF4 config>): every nn.Linear but "
            "the output head a bitsandbytes Linear4bit with NF4 codes and double quantization",
    hint="AutoModelForCausalLM.from_pretrained(target, quantization_config=nf4, device_map='auto'); the config goes "
         "in quantization_config, not as load_in_4bit=True",
    where="notebook 05, section 1 'Load a model in 8 and 4 bits'")
check_embedding_share = exercise(
    "embedding_share", predicate=_share_ok,
    expects="the share (a float between 0 and 1) of model4.get_memory_footprint() that sits in its embedding",
    hint="bytes of a tensor = t.numel() * t.element_size(); divide the embedding's bytes "
         "(model4.model.embed_tokens.weight) by model4.get_memory_footprint() (a share, not a percentage)",
    where="notebook 05, section 2 'Inside the quantized model'")
check_largest_nf4_fit = exercise(
    "largest_nf4_fit", _largest_fit_05,
    expects=f"the name (a str) of the largest Qwen3 dense model that fits a {GPU_05} at nf4 with "
            f"{CONTEXT_05:,} tokens of context (batch 1)",
    hint="labkit.family.architectures.fits(name, 'T4', 'nf4', context=32768) for each name in QWEN3_DENSE, or read "
         "labkit.lessons.quantization.memory_table at that context; the KV cache is not quantized, so a long context "
         "costs as much at nf4 as at bf16",
    where="notebook 05, section 4 'Which Qwen3 fits which GPU'")
