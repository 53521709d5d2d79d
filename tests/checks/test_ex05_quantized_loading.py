"""The checks of exercise 05: the NF4 config by the compute-dtype rule, a model loaded with it, the embedding's
share of its bytes, the largest Qwen3 that fits a T4 at nf4; every right answer passes, the usual wrong ones fail."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

from labkit import checks
from labkit.checks import ex05_quantized_loading as ex05
from labkit.family import architectures as arch
from labkit.lessons import quantization as quant
from labkit.models import resolve_model_id

needs_bnb = pytest.mark.skipif(not quant.bnb_status()[0], reason=f"bitsandbytes unusable: {quant.bnb_status()[1]}")


def nf4(**kw):
    return BitsAndBytesConfig(**{"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True,
                                 "bnb_4bit_compute_dtype": torch.bfloat16, **kw})


def test_the_checks_are_registered():
    for name in ("nf4_config", "nf4_model", "embedding_share", "largest_nf4_fit"):
        assert checks.REGISTRY[name] is getattr(checks, f"check_{name}")


def test_nf4_config_follows_the_compute_dtype_rule(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert checks.check_nf4_config(nf4()) is True
    assert checks.check_nf4_config(nf4(bnb_4bit_compute_dtype="bfloat16")) is True          # a string works too
    assert checks.check_nf4_config(nf4(bnb_4bit_compute_dtype=torch.float16)) is True       # gpu_dtype() on a CPU
    assert checks.check_nf4_config(nf4(bnb_4bit_compute_dtype=None)) is False               # float32: the default
    assert checks.check_nf4_config(nf4(bnb_4bit_use_double_quant=False)) is False
    assert checks.check_nf4_config(nf4(bnb_4bit_quant_type="fp4")) is False
    assert checks.check_nf4_config(BitsAndBytesConfig(load_in_8bit=True)) is False
    assert checks.check_nf4_config({"load_in_4bit": True}) is False
    # on a GPU the rule picks one dtype: fp16 below compute capability 8.0 (a T4), bf16 from 8.0
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(ex05, "gpu_dtype", lambda: torch.float16)
    assert checks.check_nf4_config(nf4(bnb_4bit_compute_dtype=torch.float16)) is True
    assert checks.check_nf4_config(nf4()) is False
    monkeypatch.setattr(ex05, "gpu_dtype", lambda: torch.bfloat16)
    assert checks.check_nf4_config(nf4()) is True
    assert "Hint:" in capsys.readouterr().out


@pytest.mark.model
@needs_bnb
def test_nf4_model_and_the_embedding_share(capsys):
    target = resolve_model_id()
    model4 = AutoModelForCausalLM.from_pretrained(target, quantization_config=nf4())
    assert checks.check_nf4_model(model4) is True
    emb = model4.model.embed_tokens.weight
    emb_bytes = emb.numel() * emb.element_size()
    assert checks.check_embedding_share(emb_bytes / model4.get_memory_footprint()) is True
    assert checks.check_embedding_share(emb_bytes / quant.total_bytes(model4)) is True        # with the scales
    fp32_rest = AutoModelForCausalLM.from_pretrained(target, quantization_config=nf4(), dtype=torch.float32)
    emb = fp32_rest.model.embed_tokens.weight
    assert checks.check_embedding_share(emb.numel() * emb.element_size() / fp32_rest.get_memory_footprint()) is True
    assert checks.check_embedding_share(100 * emb_bytes / model4.get_memory_footprint()) is False   # a percentage
    assert checks.check_embedding_share(2 * emb_bytes / model4.get_memory_footprint()) is False     # tied head twice
    assert checks.check_embedding_share(True) is False
    plain = AutoModelForCausalLM.from_pretrained(target, quantization_config=nf4(bnb_4bit_use_double_quant=False))
    assert checks.check_nf4_model(plain) is False                                              # no double quant
    assert checks.check_nf4_model(AutoModelForCausalLM.from_pretrained(target)) is False       # not quantized
    assert checks.check_nf4_model("model4") is False
    assert "Hint:" in capsys.readouterr().out


def test_largest_nf4_fit_on_a_t4_with_a_long_context():
    fitting = [n for n in ex05.QWEN3_DENSE_05 if arch.fits(n, "T4", "nf4", context=32768)]
    assert checks.check_largest_nf4_fit(fitting[-1]) is True
    assert checks.check_largest_nf4_fit(fitting[-1].lower()) is False
    # the long context matters: at 4,096 tokens a larger model fits
    assert [n for n in ex05.QWEN3_DENSE_05 if arch.fits(n, "T4", "nf4", context=4096)][-1] != fitting[-1]
