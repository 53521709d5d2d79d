"""labkit.family.architectures: counted parameters match the official headline figures; memory arithmetic."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from labkit import LabError  # noqa: E402
from labkit.family import architectures as A  # noqa: E402

MOE = ("Qwen3-30B-A3B", "Qwen3-235B-A22B")


def test_every_spec_is_sourced_and_unverified_fields_are_empty():
    assert set(A.CONFIGS) == set(A.OFFICIAL_PARAMS)
    for name, s in A.CONFIGS.items():
        assert s.source.strip(), name
        assert A.OFFICIAL_PARAMS[name].source.strip(), name
        for f in s.unverified:
            assert s.config[f] is None, f"{name}.{f} is marked unverified but has a value"
    for g in A.GPUS.values():
        assert g.source.strip() and g.memory_gb > 0


def test_tied_embeddings_follow_the_report():
    tied = {n for n, s in A.CONFIGS.items() if s.config["tie_word_embeddings"]}
    assert tied == {"Qwen2.5-0.5B", "Qwen2.5-1.5B", "Qwen2.5-3B", "Qwen3-0.6B", "Qwen3-1.7B", "Qwen3-4B",
                    "Qwen3.5-0.8B", "Qwen3.5-2B"}
    for name in ("Qwen3-0.6B", "Qwen3-8B", "Qwen3-30B-A3B"):
        assert A.count_params(name)["tied"] == A.CONFIGS[name].config["tie_word_embeddings"]


def test_meta_build_uses_no_memory_and_has_the_right_shapes():
    m = A.build_on_meta("Qwen3-0.6B")
    assert all(p.device.type == "meta" for p in m.parameters())
    q = m.model.layers[0].self_attn.q_proj.weight
    assert tuple(q.shape) == (16 * 128, 1024)          # head_dim 128 is not hidden/heads
    assert len(m.model.layers) == 28


@pytest.mark.parametrize("name", list(A.CONFIGS))
def test_counts_within_2_percent_of_official(name):
    c, o = A.count_params(name), A.OFFICIAL_PARAMS[name]
    assert c["total"] == pytest.approx(o.total_b * 1e9, rel=o.tolerance)
    if o.non_embedding_b is not None:
        assert c["non_embedding"] == pytest.approx(o.non_embedding_b * 1e9, rel=0.02)
    if o.active_b is not None:
        assert c["active"] == pytest.approx(o.active_b * 1e9, rel=0.02)


def test_exact_counts_for_two_small_models():
    # Qwen2.5-0.5B: 0.49B on the card; 494,032,768 is also the count a third-party note reports.
    assert A.count_params("Qwen2.5-0.5B")["total"] == 494_032_768
    # Qwen3-0.6B: embedding 151936 x 1024, tied; keras-hub's qwen3_0.6b_en preset lists 596049920.
    c = A.count_params("Qwen3-0.6B")
    assert c["embedding"] == 151936 * 1024 and c["total"] == 596_049_920


def test_moe_active_is_less_than_total_and_dense_active_equals_total():
    for name in A.CONFIGS:
        c = A.count_params(name)
        if name in MOE:
            assert c["routed_experts"] > 0 and c["active"] < c["total"]
            assert c["active"] < 0.15 * c["total"]
        else:
            assert c["routed_experts"] == 0 and c["active"] == c["total"]


def test_kv_cache_formula_by_hand():
    # Qwen3-0.6B: 2 x 28 layers x 8 kv heads x 128 x 2048 tokens x 1 x 2 bytes
    assert A.kv_cache_gb("Qwen3-0.6B", 2048) == pytest.approx(2 * 28 * 8 * 128 * 2048 * 2 / 1e9)
    assert A.kv_cache_gb("Qwen3-0.6B", 2048) == pytest.approx(0.234881024)
    # Qwen2.5-7B: head_dim is hidden/heads = 3584/28 = 128; 4 kv heads; 32K tokens, batch 4, fp8 cache
    assert A.head_dim("Qwen2.5-7B") == 128 and A.head_dim("Qwen2.5-0.5B") == 64
    assert A.kv_cache_gb("Qwen2.5-7B", 32768, batch=4, dtype_bytes=1) == pytest.approx(
        2 * 28 * 4 * 128 * 32768 * 4 * 1 / 1e9)
    assert A.kv_cache_gb("Qwen3-8B", 0) == 0


def test_qwen35_counts_and_its_hybrid_cache_by_hand():
    """Qwen3.5-0.8B: the counts of its language model and vision tower (which a bf16 checkpoint of 1.747 GB, MTP
    included, confirms), and a KV cache in 6 of its 24 layers."""
    import torch
    from transformers import Qwen3_5VisionConfig
    from transformers.models.qwen3_5.modeling_qwen3_5 import Qwen3_5VisionModel

    c = A.count_params("Qwen3.5-0.8B")
    assert c["embedding"] == 248320 * 1024 and c["total"] == 752_393_024 and c["tied"]
    with torch.device("meta"):
        vision = Qwen3_5VisionModel(Qwen3_5VisionConfig(**A.VISION["Qwen3.5-0.8B"]))
    assert sum(p.numel() for p in vision.parameters()) == 100_592_896
    m = A.build_on_meta("Qwen3.5-0.8B")
    assert [t for t in m.config.layer_types[:4]] == ["linear_attention"] * 3 + ["full_attention"]
    assert A.attention_layers("Qwen3.5-0.8B") == 6 and A.attention_layers("Qwen3-0.6B") == 28
    assert A.kv_cache_gb("Qwen3.5-0.8B", 4096) == pytest.approx(2 * 6 * 2 * 256 * 4096 * 2 / 1e9)
    # 18 linear layers: 16 x 128 x 128 float32 recurrent state + (2*16*128 + 16*128) x 3 bf16 conv state each
    assert A.linear_state_gb("Qwen3.5-0.8B") == pytest.approx(18 * (16 * 128 * 128 * 4 + 6144 * 3 * 2) / 1e9)
    assert A.linear_state_gb("Qwen3-0.6B") == 0


def test_weight_memory():
    for name in ("Qwen2.5-7B", "Qwen3-0.6B"):
        total = A.count_params(name)["total"]
        assert A.weight_memory_gb(name, "bf16") == pytest.approx(2 * total / 1e9)
        assert A.weight_memory_gb(name, "nf4") < A.weight_memory_gb(name, "int8") < A.weight_memory_gb(name, "bf16")
        assert A.weight_memory_gb(name, "nf4", double_quant=True) < A.weight_memory_gb(name, "nf4")
    # 7B in 4-bit: linear weights at ~0.53 byte, embedding + untied head (1.09B params) in bf16
    assert 5.0 < A.weight_memory_gb("Qwen2.5-7B", "nf4") < 6.5
    # one 64x128 linear in nf4: 4096 packed bytes + 64-byte code + 128 fp32 absmax
    assert A._linear_bytes(128 * 64, 128, "nf4", False) == 4096 + 64 + 128 * 4
    assert A._linear_bytes(128 * 64, 128, "int8", False) == 128 * 64 + 128 * 4
    # fused MoE experts stay bf16 under bitsandbytes unless counted as quantized
    moe_default = A.weight_memory_gb("Qwen3-30B-A3B", "nf4")
    moe_ideal = A.weight_memory_gb("Qwen3-30B-A3B", "nf4", experts_quantized=True)
    assert moe_default > 0.9 * A.weight_memory_gb("Qwen3-30B-A3B", "bf16")
    assert moe_ideal < 0.35 * moe_default
    with pytest.raises(LabError):
        A.weight_memory_gb("Qwen3-0.6B", "int3")


def test_bitsandbytes_leaves_fused_experts_alone():
    """The assumption behind weight_memory_gb's MoE numbers, checked on a tiny meta model."""
    pytest.importorskip("bitsandbytes")
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig, Qwen3MoeConfig
    from transformers.integrations.bitsandbytes import replace_with_bnb_linear

    cfg = Qwen3MoeConfig(hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=32, num_experts=4,
                         num_experts_per_tok=2, vocab_size=256)
    with torch.device("meta"):
        m = AutoModelForCausalLM.from_config(cfg)
    m = replace_with_bnb_linear(m, modules_to_not_convert=["lm_head"],
                                quantization_config=BitsAndBytesConfig(load_in_4bit=True))
    kinds = {n: type(mod).__name__ for n, mod in m.named_modules()}
    assert kinds["model.layers.0.self_attn.q_proj"] == "Linear4bit"
    assert kinds["model.layers.0.mlp.experts"] == "Qwen3MoeExperts"
    assert kinds["lm_head"] == "Linear"


def test_fits_at_the_boundary():
    name, gpu = "Qwen3-0.6B", "T4"
    base = A.memory_needed_gb(name, "bf16", context=4096, batch=1, overhead_gb=0.0)
    room = A.GPUS[gpu].memory_gb - base
    assert A.fits(name, gpu, "bf16", context=4096, batch=1, overhead_gb=room - 1e-9)
    assert not A.fits(name, gpu, "bf16", context=4096, batch=1, overhead_gb=room + 1e-6)
    # the KV cache alone can overflow a small model: 0.6B at 128K tokens x 8 sequences
    assert not A.fits(name, "T4", context=131072, batch=8)
    assert A.fits("Qwen2.5-7B", "T4", "nf4") and not A.fits("Qwen2.5-7B", "T4", "bf16")
    assert not A.fits("Qwen3-235B-A22B", "H100", "nf4")
    with pytest.raises(LabError):
        A.fits(name, "TPUv9")
    with pytest.raises(LabError):
        A.count_params("Qwen9-1B")


def test_memory_plot_returns_a_figure():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = A.memory_plot(["Qwen3-0.6B", "Qwen2.5-7B", "Qwen3-30B-A3B"], ["T4", "H100"])
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.patches) == 3 * 3 and len(ax.get_lines()) == 2
    plt.close(fig)
