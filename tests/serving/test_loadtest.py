"""labkit.serving.loadtest against a tiny fake OpenAI-compatible server: counting, lost requests, percentiles, bounds.

(The load test against the real `transformers serve` is in tests/serving/test_servers.py, tier `serving`.)
"""
from __future__ import annotations

import asyncio
import math

import pytest
from fake_server import FakeEngine

from labkit.serving import loadtest, servers
from labkit.errors import LabError


@pytest.fixture(scope="module")
def fake():
    with servers.start(FakeEngine(("--slow-delay", "5")), "echo") as handle:
        yield handle


def test_every_request_is_counted(fake):
    r = loadtest.load_test(fake.base_url, fake.model, n_clients=8, requests_per_client=3, timeout=20,
                           questions=["What is 1 + 1?"])
    assert (r.requests, r.ok, r.lost, r.errors) == (24, 24, 0, [])
    assert len(r.latencies_s) == 24 and 0 < r.p50_s <= r.p95_s <= max(r.latencies_s)
    assert r.output_tokens == 24 * len("echo: What is 1 + 1?".split())
    assert r.requests_per_s == pytest.approx(24 / r.wall_s)
    assert r.streamed == 12 and r.empty == 0        # every other request streamed, every answer checked
    assert all(a == "echo: What is 1 + 1?" or a.split() == "echo: What is 1 + 1?".split() for _, a in r.replies)
    assert "8 concurrent clients, 24 requests (12 streamed): 24 ok, 0 lost" in str(r)


def test_requests_that_time_out_are_lost_not_hidden(fake):
    # questions alternate: client i sends questions[i % 2]; the slow ones take 5 s against a 1 s timeout
    r = loadtest.load_test(fake.base_url, fake.model, n_clients=4, requests_per_client=1, timeout=1,
                           questions=["fast", "slow"])
    assert (r.ok, r.lost) == (2, 2)
    assert len(r.errors) == 2 and all("Timeout" in e for e in r.errors)
    assert r.wall_s < 5  # bounded by the timeout, not by the slow server


def test_an_empty_stream_is_a_lost_answer_not_a_success():
    """HTTP 200 with a stream that carries no content (llama-cpp-python's interrupted stream) is lost."""
    with servers.start(FakeEngine(("--empty-streams",)), "echo", warmup=False) as server:
        r = loadtest.load_test(server.base_url, server.model, n_clients=4, requests_per_client=2, timeout=20)
        only = loadtest.load_test(server.base_url, server.model, n_clients=2, requests_per_client=1, timeout=20,
                                  stream=False)
    assert (r.requests, r.streamed, r.ok, r.lost, r.empty) == (8, 4, 4, 4, 4)
    assert all(e.startswith("empty answer (streamed, HTTP 200)") for e in r.errors)
    assert "4 lost (4 came back empty)" in str(r)
    assert (only.ok, only.lost, only.streamed) == (2, 0, 0)
    with pytest.raises(LabError, match="stream="):
        loadtest.load_test(server.base_url, server.model, stream="sometimes")


def test_no_latencies_give_nan_percentiles():
    r = loadtest.LoadTestResult(1, 1, 0, 1, ["x"], [], 1.0, 0)
    assert math.isnan(r.p50_s) and math.isnan(r.p95_s) and r.requests_per_s == 0


def test_bad_arguments_and_a_running_loop_are_refused():
    with pytest.raises(LabError, match="at least one client"):
        loadtest.load_test("http://127.0.0.1:1/v1", "m", n_clients=0)

    async def inside_a_loop():
        loadtest.load_test("http://127.0.0.1:1/v1", "m")

    with pytest.raises(LabError, match="load_test_async"):
        asyncio.run(inside_a_loop())
