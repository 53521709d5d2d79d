"""labkit.serving.servers: one launch path for every engine (checked on a tiny fake server), the engines' command
lines, and the real `transformers serve` with the nano model (tier `serving`: load test, malformed
requests, the thinking switch, a server that cannot start).

The real server is bounded: one for the module (stopped in every case), 32 concurrent clients x 2
requests of at most 12 tokens, a 60 s timeout per request.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import psutil
import pytest
from fake_server import FakeEngine

import labkit
from labkit.serving import loadtest, servers
from labkit.errors import LabError

ROOT = Path(__file__).resolve().parents[2]
N_CLIENTS = 32
REQUESTS_PER_CLIENT = 2


# ---------------------------------------------------------------- the interface, on a fake engine
def test_start_waits_for_health_warms_up_and_stops_the_group(tmp_path):
    log = tmp_path / "fake.log"
    with servers.start(FakeEngine(("--healthy-after", "1.0", "--child")), "echo", log_path=log) as server:
        assert server.healthy() and server.alive() and server.startup_s >= 1.0
        assert server.log_path == log and "POST /v1/chat/completions" in server.logs()  # the warm-up
        child = int(re.search(r"child pid (\d+)", server.logs(50))[1])
        reply = server.client().chat.completions.create(model=server.model,
                                                         messages=[{"role": "user", "content": "Hi"}])
        assert reply.choices[0].message.content == "echo: Hi"
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert not server.alive() and server.process.returncode == -15
    deadline = time.monotonic() + 10
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the server's child outlived stop()"
        time.sleep(0.05)
    assert server.stop() == -15  # stopping again is harmless


def test_a_server_that_exits_is_reported_with_its_log():
    with pytest.raises(LabError, match="fake server exited with code 3 before it was healthy") as err:
        servers.start(FakeEngine(("--exit-code", "3")), "echo")
    assert "there is no model here" in str(err.value)  # the end of the log is in the message


def test_a_server_that_never_gets_healthy_is_stopped(tmp_path):
    log = tmp_path / "fake.log"
    with pytest.raises(LabError, match="not healthy after 1 s") as err:
        servers.start(FakeEngine(("--healthy-after", "600", "--child")), "echo", timeout_s=1, log_path=log)
    assert "starting" in str(err.value)
    pid = int(re.search(r"child pid (\d+)", log.read_text())[1])
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "a server that failed to start was left running"
        time.sleep(0.05)


def test_an_engine_is_a_few_lines_and_can_refuse_to_start():
    @dataclass(frozen=True)
    class Missing(servers.Engine):
        name: ClassVar[str] = "missing"

        def command(self, model, port, host=servers.HOST):
            return ["no-such-program", model, str(port)]

        def check(self):
            raise LabError("missing is not installed.", "install it.")

    assert Missing().command("m", 1) == ["no-such-program", "m", "1"]
    with pytest.raises(LabError, match="not installed"):
        servers.start(Missing(), "m")


def test_post_raw_sends_what_the_client_would_refuse():
    with servers.start(FakeEngine(), "echo") as server:
        url = f"{server.base_url}/chat/completions"
        assert servers.post_raw(url, {"model": "echo"})[0] == 422
        status, text = servers.post_raw(url, '{"model": "echo", "messages": [{"role": "user", "content": "x"}]}')
        assert status == 200 and "echo: x" in text


# ---------------------------------------------------------------- the engines' command lines
def test_no_remote_code_anywhere():
    cmd = servers.TransformersServe().command("some/model", 8000)
    assert "--no-trust-remote-code" in cmd and "--trust-remote-code" not in cmd
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "labkit").rglob("*.py")
                 if re.search(r"trust_remote_code\s*=\s*True", p.read_text())]
    assert not offenders


def test_cpu_server_gets_a_small_batching_cache():
    cmd = servers.TransformersServe(device="cpu").command("m", 8000)
    assert cmd[cmd.index("--cb-num-blocks") + 1] == str(servers.CPU_CB_NUM_BLOCKS)
    assert cmd[cmd.index("--dtype") + 1] == "float32"
    assert "--cb-num-blocks" not in servers.TransformersServe(device="cpu", continuous_batching=False).command("m", 1)
    assert "--cb-num-blocks" not in servers.TransformersServe(device="cuda").command("m", 8000)


def test_transformers_serve_environment(tmp_path):
    assert servers.TransformersServe(threads=2).env(str(tmp_path)) == {
        "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    assert servers.TransformersServe().env("Qwen/Qwen3-0.6B") == {}


def test_vllm_command(monkeypatch, tmp_path):
    monkeypatch.setenv(servers.VLLM_PYTHON_VAR, "/opt/vllm/bin/python")
    assert servers.VLLM().command("Qwen/Qwen3-0.6B", 8000) == [
        "/opt/vllm/bin/python", "-m", "vllm.entrypoints.openai.api_server", "--model", "Qwen/Qwen3-0.6B",
        "--host", "127.0.0.1", "--port", "8000", "--reasoning-parser", "qwen3",
        "--enable-auto-tool-choice", "--tool-call-parser", "hermes"]
    cmd = servers.VLLM(tensor_parallel_size=2, reasoning_parser=None, tool_call_parser=None, max_model_len=4096,
                       api_key="k").command("Qwen/Qwen3-32B", 8000)
    assert cmd[-6:] == ["--api-key", "k", "--max-model-len", "4096", "--tensor-parallel-size", "2"]
    assert "--reasoning-parser" not in cmd and "--tool-call-parser" not in cmd
    env = servers.VLLM(threads=2, kv_cache_gib=2).env(str(tmp_path))
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "nobind" and env["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert env["OMP_NUM_THREADS"] == "2" and env["HF_HUB_OFFLINE"] == "1"  # a local folder: never the network


def test_vllm_python_is_found_in_order(monkeypatch, tmp_path):
    monkeypatch.delenv(servers.VLLM_PYTHON_VAR, raising=False)
    monkeypatch.setattr(servers, "VLLM_VENV", tmp_path / "no-venv")
    monkeypatch.setattr(servers.importlib.util, "find_spec", lambda name: None)
    assert servers.vllm_python() is None
    with pytest.raises(LabError, match="vLLM is not installed") as err:
        servers.VLLM().check()
    assert "bash run.sh engines" in err.value.fix
    (tmp_path / "no-venv" / "bin").mkdir(parents=True)
    (tmp_path / "no-venv" / "bin" / "python").touch()
    assert servers.vllm_python() == str(tmp_path / "no-venv" / "bin" / "python")
    monkeypatch.setenv(servers.VLLM_PYTHON_VAR, "/x/python")
    assert servers.vllm_python() == "/x/python"


def test_llamacpp_command_and_engine_names():
    cmd = servers.LlamaCpp(threads=2, enable_thinking=False).command("m.gguf", 8001)
    assert cmd[1:5] == ["-m", "labkit.serving.llamacpp_server", "--model", "m.gguf"]
    assert cmd[cmd.index("--n_threads") + 1] == "2" and cmd[-2:] == ["--chat_template_kwargs", '{"enable_thinking": false}']
    assert "--chat_template_kwargs" not in servers.LlamaCpp().command("m.gguf", 8001)
    default = servers.LlamaCpp().command("m.gguf", 8001)   # queue concurrent requests, never cut a stream short
    assert default[default.index("--interrupt_requests") + 1] == "false"
    assert "true" in servers.LlamaCpp(interrupt_requests=True).command("m.gguf", 8001)
    assert set(servers.ENGINES) == {"transformers", "vllm", "llamacpp"}
    assert isinstance(servers.engine("llamacpp", threads=1), servers.LlamaCpp)
    with pytest.raises(LabError, match="unknown engine 'ollama'"):
        servers.engine("ollama")


# ---------------------------------------------------------------- the real transformers serve
@pytest.fixture(scope="module")
def server():
    handle = servers.start(servers.TransformersServe(threads=1), labkit.nano_path(), timeout_s=180)
    try:
        yield handle
    finally:
        handle.stop()
        assert not handle.alive(), "the server is still running after stop()"


@pytest.mark.serving
def test_load_test_loses_nothing(server, request):
    r = loadtest.load_test(server.base_url, server.model, n_clients=N_CLIENTS,
                           requests_per_client=REQUESTS_PER_CLIENT, timeout=60, max_tokens=12)
    print(f"\n{r}")
    request.config.qwen_labs_reports = [*getattr(request.config, "qwen_labs_reports", []), f"load test: {r}"]
    assert r.requests == N_CLIENTS * REQUESTS_PER_CLIENT
    assert r.lost == 0, r.errors[:5]
    assert r.ok == r.requests and len(r.latencies_s) == r.ok
    assert 0 < r.p50_s <= r.p95_s and r.requests_per_s > 0 and r.output_tokens > 0


@pytest.mark.serving
def test_malformed_requests_get_errors_and_the_server_keeps_serving(server):
    url = f"{server.base_url}/chat/completions"
    broken_json = servers.post_raw(url, b'{"model": "x", "messages": [')
    no_messages = servers.post_raw(url, {"model": server.model})
    unknown_field = servers.post_raw(url, {"model": server.model, "messages": [{"role": "user", "content": "Hi"}],
                                           "bogus_field": 1})
    for status, text in (broken_json, no_messages, unknown_field):
        print(status, text[:120])
        assert status >= 400
    assert 400 <= broken_json[0] < 500 and "JSON" in broken_json[1]
    assert 400 <= unknown_field[0] < 500 and "bogus_field" in unknown_field[1]
    assert server.alive() and server.healthy()
    r = server.client().chat.completions.create(
        model=server.model, messages=[{"role": "user", "content": "What is 12 + 30?"}], max_tokens=40,
        temperature=0, extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    assert r.choices[0].message.content.strip() and r.choices[0].finish_reason in ("stop", "length")


@pytest.mark.serving
def test_thinking_switch_reaches_the_server(server):
    client = server.client()
    q = [{"role": "user", "content": "What is 23 + 45?"}]
    on = client.chat.completions.create(model=server.model, messages=q, max_tokens=120, temperature=0,
                                        extra_body={"chat_template_kwargs": {"enable_thinking": True}})
    off = client.chat.completions.create(model=server.model, messages=q, max_tokens=120, temperature=0,
                                         extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    assert (on.choices[0].message.model_extra or {}).get("reasoning_content")
    assert not (off.choices[0].message.model_extra or {}).get("reasoning_content")
    assert on.usage.completion_tokens > off.usage.completion_tokens


def fresh_home(tmp_path, monkeypatch) -> Path:
    """A HOME with nothing in it and no cache variables: a fresh Colab runtime or laptop."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME", "QWEN_LABS_CACHE"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.mark.serving
def test_a_fresh_machine_lists_the_models(tmp_path, monkeypatch):
    """`GET /v1/models` (client.models.list(), the first call of many clients) on a machine without a
    Hugging Face cache: transformers serve answers 500 unless the launcher made the folder (checked first)."""
    import openai

    home = fresh_home(tmp_path, monkeypatch)
    monkeypatch.setattr(servers.TransformersServe, "prepare", lambda self, model: None)   # without the fix
    with servers.start(servers.TransformersServe(threads=1), labkit.nano_path(), timeout_s=180) as server:
        with pytest.raises(openai.InternalServerError):
            server.client().models.list()
    monkeypatch.undo()
    home = fresh_home(tmp_path / "again", monkeypatch) if (tmp_path / "again").mkdir() is None else home
    with servers.start(servers.TransformersServe(threads=1), labkit.nano_path(), timeout_s=180) as server:
        listed = server.client().models.list()
        assert isinstance(listed.data, list)
    assert (home / ".cache" / "huggingface" / "hub").is_dir()


@pytest.mark.serving
def test_a_server_that_cannot_start_is_reported_and_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # fail at once, never try the network
    with pytest.raises(LabError, match="exited|not healthy"):
        servers.start(servers.TransformersServe(), tmp_path / "no-model-here", timeout_s=90, warmup=False)


def test_vllm_beside_a_resident_model_takes_only_the_free_share(monkeypatch):
    """vLLM's --gpu-memory-utilization is a share of the whole GPU (default 0.9): beside the notebook's own
    model the launcher passes 0.9 x free / total explicitly."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (6 * 2**30, 16 * 2**30))
    assert servers.gpu_memory_share() == pytest.approx(0.34)
    cmd = servers.VLLM(python="python", gpu_memory_utilization=servers.gpu_memory_share(), dtype="auto").command("m", 1)
    assert cmd[cmd.index("--gpu-memory-utilization") + 1] == "0.34"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert servers.gpu_memory_share() is None
    assert "--gpu-memory-utilization" not in servers.VLLM(python="python").command("m", 1)


def test_the_docs_install_vllm_beside_the_course_never_into_it():
    """vLLM pins its own transformers: README, the guide and the engine's hint install it in an environment of its
    own and point the course at it with $QWEN_LABS_VLLM_PYTHON, never `pip install vllm` into the course's."""
    texts = {"README.md": (ROOT / "README.md").read_text(), "guide": (ROOT / "docs" / "instructor_guide.md").read_text(),
             "hint": servers.VLLM.hint}
    for where, text in texts.items():
        assert servers.VLLM_PYTHON_VAR in text, where
        for line in text.splitlines():
            if "pip install vllm" in line:
                assert "venv" in line or "environment of its own" in line or "own:" in line, (where, line)
    assert "~/vllm-env/bin/pip install vllm" in servers.VLLM_INSTALL


def test_a_port_taken_before_the_server_binds_it_is_replaced(monkeypatch):
    """free_port() can hand out a port another process grabs first: start() tries again on a new one."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        ports = iter([taken, servers.free_port()])
        monkeypatch.setattr(servers, "free_port", lambda host="127.0.0.1": next(ports))
        with servers.start(FakeEngine(), "echo", warmup=False) as server:
            assert server.port != taken and server.healthy()
        with pytest.raises(servers.PortTaken):   # a port the caller chose is not replaced
            servers.start(FakeEngine(), "echo", port=taken, warmup=False)
