"""python -m labkit.classroom check against fake servers: every line can fail, and says how to fix it.

(Against real engines, vLLM with --api-key and transformers serve: tests/serving/test_classroom_engines.py.)"""
from __future__ import annotations

import subprocess
import sys

import pytest
from fake_server import FakeEngine

from labkit.classroom import check
from labkit.serving import servers


@pytest.fixture(scope="module")
def keyed():
    with servers.start(FakeEngine(("--api-key", "k-1", "--max-in-flight", "2", "--delay", "0.3")), "echo",
                       warmup=False) as handle:
        yield handle


def _by_name(lines):
    return {line.name: line for line in lines}


def test_an_echo_server_fails_exactly_the_capabilities_it_lacks(keyed):
    lines = _by_name(check.run_check(keyed.base_url, "k-1", burst=2))
    passed = {n for n, line in lines.items() if line.status == "PASS"}
    assert passed == {"the URL answers", "the key is accepted", "the model is listed", "thinking can be switched off",
                      "a burst of 2 is not rate-limited"}
    assert "no reasoning field" in lines["thinking comes back apart"].detail
    assert "--reasoning-parser" in lines["thinking comes back apart"].fix
    assert "no tool call" in lines["a tool call comes back parsed"].detail
    assert "is not JSON" in lines["a JSON-schema response is enforced"].detail
    assert "HTTP 422" in lines["the Responses API answers"].detail          # the echo server has no /v1/responses


def test_a_burst_over_the_proxy_limit_is_named(keyed):
    line = _by_name(check.run_check(keyed.base_url, "k-1", burst=6))["a burst of 6 is not rate-limited"]
    assert line.status == "FAIL" and "429" in line.detail and "max_parallel_requests" in line.fix


def test_a_wrong_key_is_one_clear_line_and_exit_code_1(keyed):
    run = subprocess.run([sys.executable, "-m", "labkit.classroom", "check", "--url", keyed.base_url, "--key", "nope"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAIL  the key is accepted: HTTP 401" in run.stdout and "fix: set OPENAI_API_KEY" in run.stdout


def test_the_check_runs_inside_a_notebook_event_loop(keyed):
    """In a notebook an event loop runs already: the burst line still works (its own loop in a thread)."""
    import asyncio

    async def in_a_loop():
        return check.run_check(keyed.base_url, "k-1", burst=2)

    assert _by_name(asyncio.run(in_a_loop()))["a burst of 2 is not rate-limited"].status == "PASS"


def test_an_open_server_gets_a_note_and_an_unreachable_one_a_fail():
    with servers.start(FakeEngine(), "echo", warmup=False) as open_server:
        lines = _by_name(check.run_check(open_server.base_url, "anything", burst=1))
    assert lines["keys are required"].status == "NOTE"
    down = check.run_check(open_server.base_url, "anything")
    assert [(line.name, line.status) for line in down] == [("the URL answers", "FAIL")]
