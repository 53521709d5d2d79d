"""labkit.lessons.metrics: per-request timings, true model memory, percentiles, a health check that runs the model."""
from __future__ import annotations

import copy

import pytest

import labkit
from labkit.lessons import metrics
from labkit.errors import LabError

MSGS = [{"role": "user", "content": "What is 12 + 30?"}]


@pytest.fixture(scope="module")
def mt():
    return labkit.load_model()


def test_timing_streamer_skips_the_prompt():
    s = metrics.TimingStreamer()
    s.put([[1, 2, 3]])  # the prompt
    assert s.token_times == []
    s.put([4])
    s.put([5])
    s.end()
    assert len(s.token_times) == 2 and s.ended_at is not None and s.token_times[0] <= s.token_times[1]


@pytest.mark.model
def test_measure_request_counts_and_orders(mt):
    model, tok = mt
    m = metrics.measure_request(model, tok, MSGS, max_new_tokens=12, min_new_tokens=12)
    want_prompt = len(tok.apply_chat_template(MSGS, add_generation_prompt=True, enable_thinking=False,
                                              return_dict=True)["input_ids"])
    assert m.prompt_tokens == want_prompt
    assert m.output_tokens == 12
    assert 0 < m.ttft_s < m.total_s
    assert m.decode_tokens_per_s > 0
    # decode speed is measured after the first token: it must exceed the naive all-in figure
    assert m.decode_tokens_per_s > m.output_tokens / m.total_s * 0.99
    assert str(m).startswith(f"{m.prompt_tokens} prompt tokens -> 12 new tokens: first after ")
    assert f"{m.ttft_s * 1000:.1f} ms" in str(m) and repr(m.text) in str(m)


def test_model_memory_counts_tied_weights_once(mt):
    model, _ = mt
    report = metrics.model_memory(model)
    state = model.state_dict()  # lists the tied matrix twice: embed_tokens.weight and lm_head.weight
    assert state["lm_head.weight"].data_ptr() == state["model.embed_tokens.weight"].data_ptr()
    naive = sum(t.numel() * t.element_size() for t in state.values())
    emb = model.get_input_embeddings().weight
    assert naive - report.parameter_bytes == emb.numel() * emb.element_size()
    assert report.total_bytes == report.parameter_bytes + report.buffer_bytes
    assert (report.cuda_max_allocated_bytes is None) == (not labkit.has_gpu())


def test_model_memory_is_transformers_footprint_split_in_two(mt):
    model, _ = mt
    report = metrics.model_memory(model)
    assert report.total_bytes == model.get_memory_footprint()
    # the nano model's buffers are the rotary frequencies: not in state_dict (non-persistent), yet held
    buffers = dict(model.named_buffers())
    assert buffers and all("rotary" in name for name in buffers)
    assert report.buffer_bytes == sum(b.numel() * b.element_size() for b in buffers.values()) > 0
    assert not set(buffers) & set(model.state_dict())
    text = str(report)
    assert f"buffers {report.buffer_bytes:,} bytes" in text and "MiB" in text  # small buffers in bytes, not 0.000 MiB


def test_rss_delta_is_not_model_memory(mt):
    model, tok = mt
    result, delta = metrics.rss_delta(lambda: 42)
    assert result == 42 and isinstance(delta, int)
    # a generation with an already loaded model changes RSS by far less than the weights it reads
    _, delta = metrics.rss_delta(lambda: metrics.measure_request(model, tok, MSGS, max_new_tokens=4))
    assert abs(delta) < metrics.model_memory(model).parameter_bytes


def test_percentiles_match_numpy_and_drop_nan():
    vals = list(range(1, 101)) + [float("nan")]
    p = metrics.percentiles(vals)
    assert p == {"p50": 50.5, "p95": pytest.approx(95.05), "p99": pytest.approx(99.01)}
    with pytest.raises(LabError, match="no values"):
        metrics.percentiles([])


def test_summarize_shows_the_tail_the_mean_hides():
    fast = [metrics.RequestMetrics(10, 8, 0.01, 0.1, 100.0) for _ in range(18)]
    slow = [metrics.RequestMetrics(10, 8, 0.5, 3.0, 5.0) for _ in range(2)]
    s = metrics.summarize(fast + slow)
    assert s["total_s"]["p50"] == pytest.approx(0.1)
    assert s["total_s"]["p99"] > 2.0 > s["total_s"]["mean"]
    table = metrics.format_summary(s)
    assert "p95" in table
    latency = next(line for line in table.splitlines() if line.startswith("total latency (ms)"))
    assert latency.split()[3:5] == ["390.0", "100.0"]  # in ms: mean (18 x 0.1 s + 2 x 3 s) / 20, p50 0.1 s
    with pytest.raises(LabError):
        metrics.summarize([])


def test_plot_latencies_marks_percentiles():
    import matplotlib

    matplotlib.use("Agg")
    ms = [metrics.RequestMetrics(10, 8, 0.01, 0.1 + i / 100, 100.0) for i in range(20)]
    ax = metrics.plot_latencies(ms)
    labels = [line.get_label() for line in ax.get_lines()]
    assert any(lbl.startswith("p95") for lbl in labels) and any(lbl.startswith("mean") for lbl in labels)


def test_health_check_runs_the_model(mt):
    model, tok = mt
    h = metrics.health_check(model, tok, max_latency_s=60)
    assert h.ok and h.status == "ok" and 0 <= h.token_id < model.config.vocab_size and h.latency_s > 0
    assert str(h) == f"ok: one token in {h.latency_s * 1000:.1f} ms (token {h.token!r}, id {h.token_id})"
    assert metrics.health_check(model, tok, max_latency_s=0.0).status == "slow"


def test_health_check_finds_a_broken_model(mt):
    import torch

    model, tok = mt
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.model.norm.weight.fill_(float("nan"))
    h = metrics.health_check(broken, tok)
    assert h.status == "unhealthy" and "NaN" in h.detail and not h.ok
    assert str(h) == "unhealthy: the logits contain NaN or inf"
    assert metrics.health_check(None, tok).status == "unhealthy"


def test_measure_request_rejects_zero_tokens(mt):
    model, tok = mt
    with pytest.raises(ValueError, match="max_new_tokens"):  # LabError is a ValueError too
        metrics.measure_request(model, tok, MSGS, max_new_tokens=0)
