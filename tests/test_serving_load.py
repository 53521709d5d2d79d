"""A real `transformers serve` on 127.0.0.1 with the nano model: load test, malformed requests, clean stop.

Bounded: one server for the module (stopped in every case), 32 concurrent clients x 2
requests of at most 12 tokens, a 60 s timeout per request.
"""
from __future__ import annotations

import pytest

import labkit
from labkit import serving
from labkit.errors import LabError

N_CLIENTS = 32
REQUESTS_PER_CLIENT = 2


@pytest.fixture(scope="module")
def server():
    handle = serving.start_server(labkit.nano_path(), timeout_s=180, threads=1)
    try:
        yield handle
    finally:
        handle.stop()
        assert not handle.alive(), "the server is still running after stop()"


def test_load_test_loses_nothing(server, request):
    r = serving.load_test(server.base_url, server.model, n_clients=N_CLIENTS,
                          requests_per_client=REQUESTS_PER_CLIENT, timeout=60, max_tokens=12)
    print(f"\n{r}")
    request.config.qwen_labs_reports = [*getattr(request.config, "qwen_labs_reports", []), f"load test: {r}"]
    assert r.requests == N_CLIENTS * REQUESTS_PER_CLIENT
    assert r.lost == 0, r.errors[:5]
    assert r.ok == r.requests and len(r.latencies_s) == r.ok
    assert 0 < r.p50_s <= r.p95_s and r.requests_per_s > 0 and r.output_tokens > 0


def test_malformed_requests_get_errors_and_the_server_keeps_serving(server):
    from openai import OpenAI

    url = f"{server.base_url}/chat/completions"
    broken_json = serving.post_raw(url, b'{"model": "x", "messages": [')
    no_messages = serving.post_raw(url, {"model": server.model})
    unknown_field = serving.post_raw(url, {"model": server.model, "messages": [{"role": "user", "content": "Hi"}],
                                           "bogus_field": 1})
    for status, text in (broken_json, no_messages, unknown_field):
        print(status, text[:120])
        assert status >= 400
    assert 400 <= broken_json[0] < 500 and "JSON" in broken_json[1]
    assert 400 <= unknown_field[0] < 500 and "bogus_field" in unknown_field[1]
    assert server.alive() and server.healthy()
    client = OpenAI(base_url=server.base_url, api_key="local", max_retries=0, timeout=60)
    r = client.chat.completions.create(model=server.model, messages=[{"role": "user", "content": "What is 12 + 30?"}],
                                       max_tokens=40, temperature=0,
                                       extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    assert r.choices[0].message.content.strip() and r.choices[0].finish_reason in ("stop", "length")


def test_thinking_switch_reaches_the_server(server):
    from openai import OpenAI

    client = OpenAI(base_url=server.base_url, api_key="local", max_retries=0, timeout=60)
    q = [{"role": "user", "content": "What is 23 + 45?"}]
    on = client.chat.completions.create(model=server.model, messages=q, max_tokens=120, temperature=0,
                                        extra_body={"chat_template_kwargs": {"enable_thinking": True}})
    off = client.chat.completions.create(model=server.model, messages=q, max_tokens=120, temperature=0,
                                         extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    assert (on.choices[0].message.model_extra or {}).get("reasoning_content")
    assert not (off.choices[0].message.model_extra or {}).get("reasoning_content")
    assert on.usage.completion_tokens > off.usage.completion_tokens


def test_a_server_that_cannot_start_is_reported_and_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # fail at once, never try the network
    with pytest.raises(LabError, match="exited|not healthy"):
        serving.start_server(tmp_path / "no-model-here", timeout_s=90, warmup=False)
