"""labkit.lessons.roofline: bytes read per decoded token, bandwidth ceilings, a measured CPU bandwidth."""
from __future__ import annotations

import pytest

import labkit
import labkit.family.architectures
from labkit.lessons import roofline
from labkit.errors import LabError


@pytest.fixture(scope="module")
def model():
    return labkit.load_model()[0]


@pytest.mark.model
def test_nano_reads_its_whole_tied_output_matrix_and_one_row(model):
    cfg = model.config
    b = roofline.bytes_per_token(model)
    size = model.get_input_embeddings().weight.element_size()
    assert b.tied and cfg.tie_word_embeddings
    assert b.output_projection == cfg.vocab_size * cfg.hidden_size * size
    assert b.input_embedding == cfg.hidden_size * size
    all_params = sum(p.numel() * p.element_size() for p in model.parameters())
    assert b.layers == all_params - cfg.vocab_size * cfg.hidden_size * size
    assert b.total == b.layers + b.output_projection + b.input_embedding
    # in the nano model the output projection outweighs all layers together
    assert b.output_projection > b.layers


def test_untied_model_counts_embedding_as_one_row():
    b = roofline.bytes_per_token("Qwen3-8B", dtype_bytes=2)
    assert not b.tied
    assert b.output_projection == 151936 * 4096 * 2
    assert b.input_embedding == 4096 * 2
    assert b.layers == labkit.family.architectures.count_params("Qwen3-8B")["non_embedding"] * 2


def test_meta_model_needs_a_dtype():
    with pytest.raises(LabError, match="dtype_bytes"):
        roofline.bytes_per_token("Qwen3-0.6B")


def test_kv_cache_adds_two_tensors_per_layer():
    base = roofline.bytes_per_token("Qwen3-0.6B", dtype_bytes=2)
    with_ctx = roofline.bytes_per_token("Qwen3-0.6B", dtype_bytes=2, context=1000)
    assert with_ctx.kv_cache == 2 * 28 * 8 * 128 * 1000 * 2
    assert with_ctx.total == base.total + with_ctx.kv_cache


def test_ceiling_is_bandwidth_over_bytes_and_percent_is_relative():
    per_token = roofline.bytes_per_token("Qwen3-0.6B", dtype_bytes=2).total
    c = roofline.ceiling("Qwen3-0.6B", "H100 SXM", dtype_bytes=2)
    assert c == pytest.approx(3350e9 / per_token)
    assert roofline.ceiling("Qwen3-0.6B", 1675, dtype_bytes=2) == pytest.approx(c / 2)
    assert roofline.percent_of_ceiling(c / 4, "Qwen3-0.6B", "H100 SXM", dtype_bytes=2) == pytest.approx(25.0)
    assert roofline.ceiling("Qwen3-1.7B", "L4", dtype_bytes=2) < roofline.ceiling("Qwen3-0.6B", "L4", dtype_bytes=2)


@pytest.mark.parametrize("bad", ["H200 NVL", 0, -5])
def test_unknown_or_bad_bandwidth_is_named(bad):
    with pytest.raises(LabError):
        roofline.ceiling("Qwen3-0.6B", bad, dtype_bytes=2)


def test_every_bandwidth_has_a_source():
    assert set(roofline.BANDWIDTHS) >= {"H100 SXM", "H100 PCIe", "A100 80GB", "L4", "T4"}
    for name, bw in roofline.BANDWIDTHS.items():
        assert bw.gb_per_s > 0 and "http" in bw.source, name


def test_measured_cpu_bandwidth_is_plausible():
    gbps = roofline.measure_cpu_bandwidth(megabytes=64, repeats=2)
    assert 0.2 < gbps < 2000
    with pytest.raises(LabError, match="cache"):
        roofline.measure_cpu_bandwidth(megabytes=8)


def test_table_lists_measured_and_cited_devices(model):
    rows = roofline.table(model, extra={"this CPU": 10.0})
    assert rows[0]["source"] == "measured in this notebook"
    assert {r["device"] for r in rows} >= {"this CPU", "T4", "H100 SXM"}
    assert rows[0]["ceiling tok/s"] == pytest.approx(roofline.ceiling(model, 10.0))


@pytest.mark.parametrize("name,key", [("NVIDIA H100 80GB HBM3", "H100 SXM"), ("NVIDIA H100 PCIe", "H100 PCIe"),
                                      ("NVIDIA A100-SXM4-80GB", "A100 80GB"), ("NVIDIA A100-SXM4-40GB", None),
                                      ("NVIDIA L4", "L4"), ("Tesla T4", "T4"), ("NVIDIA H200", None)])
def test_bandwidth_key_maps_device_names(name, key):
    assert roofline.bandwidth_key(name) == key
