"""labkit.lessons.metrics: per-request timings, the memory a model holds, a health check that runs the model."""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
import torch
from transformers.generation.streamers import BaseStreamer

import labkit
from labkit.lessons import metrics

MSGS = [{"role": "user", "content": "What is 12 + 30?"}]


@pytest.fixture(scope="module")
def mt():
    return labkit.load_model()


NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "07_monitoring_and_performance.ipynb"


def test_timing_streamer_skips_the_prompt():
    s = metrics.TimingStreamer()
    assert isinstance(s, BaseStreamer)
    s.put(torch.tensor([[1, 2, 3]]))  # the prompt
    assert s.token_times == []
    s.put(torch.tensor([4]))
    s.put(torch.tensor([5]))
    s.end()
    assert len(s.token_times) == 2 and s.ended_at is not None and s.start <= s.token_times[0] <= s.token_times[1]


def test_timing_streamer_is_the_notebooks_token_timer(monkeypatch):
    """measure_request repeats notebook 07's TokenTimer: the same stamps for the same calls."""
    cells = ["".join(c["source"]) for c in json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
             if c["cell_type"] == "code"]
    source = next(c for c in cells if "class TokenTimer(BaseStreamer)" in c)
    namespace = {"BaseStreamer": BaseStreamer, "time": time}
    exec(source, namespace)
    stamps = []
    for make in (namespace["TokenTimer"], metrics.TimingStreamer):
        ticks = iter([10.0, 11.0, 11.25, 11.5, 11.5])   # made, three tokens, end (the prompt reads no clock)
        monkeypatch.setattr(time, "perf_counter", lambda: next(ticks))
        s = make()
        for value in (torch.tensor([[7, 8, 9]]), torch.tensor([1]), torch.tensor([2]), torch.tensor([3])):
            s.put(value)
        s.end()
        times = s.times if hasattr(s, "times") else s.token_times
        ended = s.ended if hasattr(s, "ended") else s.ended_at
        stamps.append((s.start, times, ended))
    assert stamps[0] == stamps[1] == (10.0, [11.0, 11.25, 11.5], 11.5)


@pytest.mark.model
def test_measure_request_counts_and_orders(mt):
    model, tok = mt
    m = metrics.measure_request(model, tok, MSGS, max_new_tokens=12, min_new_tokens=12)
    want_prompt = len(tok.apply_chat_template(MSGS, add_generation_prompt=True, enable_thinking=False,
                                              return_dict=True)["input_ids"])
    assert m.prompt_tokens == want_prompt
    assert m.output_tokens == 12
    assert 0 < m.ttft_s < m.total_s
    assert m.total_s >= m.ttft_s + (m.output_tokens - 1) / m.decode_tokens_per_s * 0.999  # first + decode <= all
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
