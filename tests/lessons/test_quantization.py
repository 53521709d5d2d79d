"""labkit.lessons.quantization: bitsandbytes loading really quantizes, the byte counts add up, errors name the fix."""
from __future__ import annotations

import sys

import pytest
import torch

import labkit
from labkit.family import architectures as arch
from labkit.lessons import quantization as quant

needs_bnb = pytest.mark.skipif(not quant.bnb_status()[0], reason=f"bitsandbytes unusable: {quant.bnb_status()[1]}")


@pytest.fixture(scope="module")
def fp32():
    return quant.load_quantized("fp32")


@pytest.fixture(scope="module")
def nf4():
    return quant.load_quantized("nf4")


@pytest.mark.model
@needs_bnb
def test_nf4_linear_layers_are_linear4bit_and_the_embedding_is_not(nf4):
    model, _ = nf4
    import bitsandbytes as bnb

    layers = model.model.layers
    kinds = {type(getattr(getattr(layer, part), name)) for layer in layers
             for part, names in (("self_attn", ("q_proj", "k_proj", "v_proj", "o_proj")),
                                 ("mlp", ("gate_proj", "up_proj", "down_proj"))) for name in names}
    assert kinds == {bnb.nn.Linear4bit}
    assert layers[0].mlp.down_proj.weight.dtype == torch.uint8
    assert layers[0].mlp.down_proj.weight.quant_state.quant_type == "nf4"
    assert type(model.model.embed_tokens) is torch.nn.Embedding
    assert model.lm_head.weight is model.model.embed_tokens.weight


@pytest.mark.model
@needs_bnb
def test_int8_layers_are_linear8bitlt():
    model, tok = quant.load_quantized("int8")
    import bitsandbytes as bnb

    down = model.model.layers[0].mlp.down_proj
    assert isinstance(down, bnb.nn.Linear8bitLt) and down.weight.dtype == torch.int8
    # one fp32 scale per output row of every int8 layer
    out_rows = sum(mod.out_features for mod in model.modules() if isinstance(mod, bnb.nn.Linear8bitLt))
    assert quant.footprint_by_layer_type(model)["quantization constants"] == 4 * out_rows
    # the first forward pass moves the scales from the weight to the layer's state: still counted
    with torch.no_grad():
        model(**tok("What is 1 + 2?", return_tensors="pt"))
    assert quant.footprint_by_layer_type(model)["quantization constants"] == 4 * out_rows
    assert quant.total_bytes(model) == model.get_memory_footprint() + 4 * out_rows


@pytest.mark.model
def test_footprint_adds_up_and_counts_tied_weights_once(fp32):
    model, _ = fp32
    fp = quant.footprint_by_layer_type(model)
    assert sum(fp.values()) == model.get_memory_footprint() == quant.total_bytes(model)
    assert "output head (lm_head)" not in fp            # tied: counted with the embedding
    assert fp["embedding"] == model.model.embed_tokens.weight.numel() * 4
    assert fp["embedding"] / sum(fp.values()) > 0.9      # the lesson of notebook 05


@needs_bnb
def test_quantization_constants_are_counted_beyond_get_memory_footprint(nf4):
    model, _ = nf4
    fp = quant.footprint_by_layer_type(model)
    linear4 = [m for m in model.modules() if type(m).__name__ == "Linear4bit"]
    absmax = sum(m.weight.quant_state.absmax.numel() for m in linear4)
    assert absmax == sum(m.in_features * m.out_features for m in linear4) // 64   # one per block of 64
    assert fp["quantization constants"] == 4 * absmax + 16 * 4 * len(linear4)     # fp32 absmax + NF4 code
    assert quant.total_bytes(model) == model.get_memory_footprint() + fp["quantization constants"]
    assert fp["linear (4-bit)"] == sum(m.in_features * m.out_features for m in linear4) // 2  # 2 per byte


def test_kl_is_zero_for_the_same_model_and_positive_for_nf4(fp32, nf4):
    model, tok = fp32
    prompts = quant.kl_prompts(tok, n=2)
    assert quant.kl_divergence(model, model, tok, prompts) == pytest.approx(0.0, abs=1e-6)
    if quant.bnb_status()[0]:
        assert quant.kl_divergence(model, nf4[0], tok, prompts) > 1e-5


def test_missing_bitsandbytes_raises_laberror_with_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)    # import bitsandbytes -> ImportError
    ok, reason = quant.bnb_status()
    assert not ok and "cannot be imported" in reason
    with pytest.raises(labkit.LabError, match="pip install"):
        quant.bnb_config("nf4")
    with pytest.raises(labkit.LabError, match="bitsandbytes"):
        quant.load_quantized("int8")
    quant.require_bnb("fp32")                                  # unquantized needs nothing


def test_old_bitsandbytes_on_cpu_is_refused(monkeypatch):
    import types

    fake = types.SimpleNamespace(__version__="0.48.2", supported_torch_devices={"cuda"})
    monkeypatch.setitem(sys.modules, "bitsandbytes", fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ok, reason = quant.bnb_status()
    assert not ok and "0.49" in reason


def test_unknown_precision():
    with pytest.raises(labkit.LabError, match="nf4-dq"):
        quant.bnb_config("int4")


def test_bnb_config_fields():
    cfg = quant.bnb_config("nf4-dq", compute_dtype=torch.bfloat16)
    assert cfg.load_in_4bit and cfg.bnb_4bit_quant_type == "nf4" and cfg.bnb_4bit_use_double_quant
    assert cfg.bnb_4bit_compute_dtype == torch.bfloat16
    assert quant.bnb_config("int8").load_in_8bit and quant.bnb_config("fp32") is None


def test_memory_table_matches_the_calculator():
    table = quant.memory_table(["Qwen3-0.6B", "Qwen3-32B"], context=8192, batch=1)
    assert list(table.columns[:5]) == ["model", "dtype", "weights_gb", "kv_cache_gb", "total_gb"]
    row = table[(table.model == "Qwen3-32B") & (table.dtype == "bf16")].iloc[0]
    assert row["T4"] == "no" and row["weights_gb"] == round(arch.weight_memory_gb("Qwen3-32B", "bf16"), 2)
    small = table[(table.model == "Qwen3-0.6B") & (table.dtype == "nf4")].iloc[0]
    assert small["T4"] == "yes"
    assert small["kv_cache_gb"] == round(arch.kv_cache_gb("Qwen3-0.6B", 8192, 1), 2)


@pytest.mark.model
@needs_bnb
def test_keep_4bit_trainable_keeps_gradients_through_an_evaluation():
    from peft import get_peft_model

    from labkit.lessons import finetuning as finetune

    model, tok = quant.load_quantized("nf4")
    assert quant.keep_4bit_trainable(model) == 6 * 7          # every Linear4bit of the nano model
    peft_model = get_peft_model(model, finetune.lora_config(model, r=4))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    batch = tok(["<|im_start|>user\nDouble 47.<|im_end|>\n<|im_start|>assistant\n47 + 47 = 94"], return_tensors="pt")

    def grads():
        peft_model.train()
        peft_model.zero_grad()
        peft_model(**batch, labels=batch["input_ids"]).loss.backward()
        return torch.cat([p.grad.flatten() for p in peft_model.parameters() if p.requires_grad])

    first = grads()
    peft_model.eval()
    with torch.no_grad():
        peft_model(**batch)        # an evaluation: without the fix, bitsandbytes repacks the weights here
    assert torch.allclose(grads(), first, rtol=1e-5, atol=1e-7)


@needs_bnb
def test_load_weights_matches_load_quantized(fp32):
    model = quant.load_weights("fp32")
    assert next(model.parameters()).dtype == torch.float32
    assert quant.total_bytes(model) == quant.total_bytes(fp32[0])
    nf4_bf16 = quant.load_weights("nf4", dtype=torch.bfloat16, compute_dtype=torch.bfloat16)
    assert type(nf4_bf16.model.layers[0].mlp.up_proj).__name__ == "Linear4bit"
    assert nf4_bf16.model.embed_tokens.weight.dtype == torch.bfloat16


@pytest.mark.model
@needs_bnb
def test_compare_precisions_loads_the_quantized_rows_in_the_dtype_asked_for():
    # notebook 05 passes dtype=compute_dtype, so the 4-bit row's memory reads against the 16-bit row's
    table = quant.compare_precisions(["bf16", "nf4"], eval_n=2, thinking=False, dtype=torch.bfloat16,
                                     compute_dtype=torch.bfloat16, prompts=["What is 2 + 3?"], decode_tokens=2,
                                     decode_repeats=1, progress=False)
    mb = table.set_index("precision")["footprint_mb"]
    assert mb["nf4"] < mb["bf16"]
    assert table["kl_vs_baseline"].iloc[1] > 0


def test_the_optional_cpu_kernel_notice_is_dropped_and_nothing_else(caplog):
    import logging

    quant.quiet_bitsandbytes()   # what labkit.banner installs
    assert quant.quiet_bitsandbytes() is False   # once
    log = logging.getLogger("bitsandbytes.backends.cpu.ops")
    with caplog.at_level(logging.WARNING, logger=log.name):
        log.warning("Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please make sure you "
                    "already `pip install kernels`", "No module named 'kernels'")
        log.warning("some other bitsandbytes warning")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["some other bitsandbytes warning"]
