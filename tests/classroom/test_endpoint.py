"""labkit.classroom.endpoint and the class profile: the variables, the cap on requests in flight, the handle."""
from __future__ import annotations

import asyncio

import httpx
import pytest
from fake_server import FakeEngine

from labkit import profile
from labkit.classroom import endpoint
from labkit.errors import LabError
from labkit.serving import loadtest, serve, servers


@pytest.fixture()
def class_env(monkeypatch):
    def set_env(url, key=None, model=None, cap=None):
        monkeypatch.setenv("QWEN_LABS_PROFILE", "class")
        monkeypatch.setenv(endpoint.URL_VAR, url)
        for var, value in ((endpoint.KEY_VAR, key), (endpoint.MODEL_VAR, model), (endpoint.PARALLEL_VAR, cap)):
            if value is None:
                monkeypatch.delenv(var, raising=False)
            else:
                monkeypatch.setenv(var, str(value))
    return set_env


@pytest.fixture(scope="module")
def slow():
    with servers.start(FakeEngine(("--slow-delay", "0.4", "--api-key", "k-1")), "class-model", warmup=False) as h:
        yield h


def _most_in_flight(handle) -> int:
    return httpx.get(f"{handle.url}/stats").json()["max_in_flight"]


def test_class_profile_needs_the_url_and_loads_the_nano_model_locally(monkeypatch, class_env):
    monkeypatch.setenv("QWEN_LABS_PROFILE", "class")
    monkeypatch.delenv(endpoint.URL_VAR, raising=False)
    with pytest.raises(LabError, match="OPENAI_BASE_URL"):
        profile.choose_profile()
    class_env("http://10.0.0.5:4000/v1/")
    choice = profile.choose_profile()
    assert (choice.name, choice.local, profile.active_profile()) == ("class", "offline", "offline")
    assert "http://10.0.0.5:4000/v1" in choice.reason and "nano" in choice.models
    from labkit.models import nano_path, resolve_model_id
    assert resolve_model_id() == str(nano_path())


def test_auto_never_picks_class(monkeypatch):
    monkeypatch.setenv("QWEN_LABS_PROFILE", "auto")
    monkeypatch.setenv(endpoint.URL_VAR, "http://10.0.0.5:4000/v1")
    assert profile.choose_profile().name != "class"


def test_bad_values_say_what_to_set(monkeypatch, class_env):
    for bad in ("10.0.0.5:4000", "http://SERVER:PORT/v1"):      # no scheme; the placeholder of a fix text
        class_env(bad)
        with pytest.raises(LabError, match="OPENAI_BASE_URL"):
            endpoint.base_url()
    class_env("http://10.0.0.5:4000/v1")
    assert endpoint.is_class_url("http://10.0.0.5:4000/v1/") and not endpoint.is_class_url("http://10.0.0.5:40001/v1")
    class_env("http://x/v1", cap="zero")
    with pytest.raises(LabError, match="QWEN_LABS_MAX_PARALLEL"):
        endpoint.max_parallel()


def test_the_cap_holds_requests_in_the_kernel(slow, class_env):
    """Eight requests at once through a client capped at 2: the server never sees more than 2; uncapped, 8."""
    class_env(slow.base_url, key="k-1", cap=2)
    _most_in_flight(slow)                               # reads and resets the server's high-water mark

    async def burst(client):
        async with client:
            return await asyncio.gather(*[client.chat.completions.create(
                model="class-model", messages=[{"role": "user", "content": f"slow {i}"}]) for i in range(8)])

    replies = asyncio.run(burst(servers.openai_client(slow.base_url, asynchronous=True)))   # the class URL: capped
    assert [r.choices[0].message.content for r in replies] == [f"echo: slow {i}" for i in range(8)]
    assert _most_in_flight(slow) == 2
    asyncio.run(burst(__import__("openai").AsyncOpenAI(base_url=slow.base_url, api_key="k-1", max_retries=0)))
    assert _most_in_flight(slow) == 8


def test_lesson_server_is_the_class_server_under_the_class_profile(slow, class_env):
    class_env(slow.base_url, key="k-1", cap=3)
    with serve.lesson_server("transformers", None, threads=1) as handle:    # nothing is started
        assert isinstance(handle, endpoint.ClassServer)
        assert (handle.base_url, handle.model, handle.cap) == (slow.base_url, "class-model", 3)
        reply = handle.client().chat.completions.create(model=handle.model, messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "echo: hi"
        result = loadtest.load_test(handle.base_url, handle.model, n_clients=6, requests_per_client=1)
        assert result.ok == 6 and all(a.strip() == f"echo: {q}" for q, a in result.replies)
    assert handle.alive() and slow.alive()              # the end of the block leaves the class server running


def test_a_wrong_key_is_named(slow, class_env):
    for model in (None, "class-model"):          # with the model named too (as the plan's JupyterHub file does)
        class_env(slow.base_url, key="not-my-key", model=model)
        with pytest.raises(LabError, match="refused the key"):
            endpoint.serve_class()
