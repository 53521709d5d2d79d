"""Serve the course's model with any engine: ``python -m labkit.serving --engine ENGINE --model PATH_OR_ID``.

    python -m labkit.serving --engine transformers --model nano
    python -m labkit.serving --engine vllm --model Qwen/Qwen3-0.6B --port 8000
    python -m labkit.serving --engine llamacpp --model nano --quant Q4_K_M --no-think

It starts an OpenAI-compatible server on 127.0.0.1, waits until it answers,
prints its URL and a ``curl`` line, and stops it and its process group on Ctrl+C.
:func:`serve` is the same for notebooks: it returns the :class:`~labkit.serving.servers.ServerHandle`.
The model is what the course loads: ``nano`` (the shipped nano model), a folder, or
a Hub id that the cache or ``$QWEN_LABS_MODELS_DIR`` holds (:func:`labkit.models.resolve_model_id`).
llama.cpp serves a GGUF: a folder is converted first (:func:`labkit.serving.llamacpp.to_gguf`).

Used in notebooks 08, 09, 10 and by the command `python -m labkit.serving`.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from labkit.classroom import endpoint
from labkit.errors import LabError
from labkit.hub import lookup
from labkit.models import NANO_ID, nano_path, resolve_model_id
from labkit.profile import choose_profile
from labkit.serving import servers
from labkit.serving.llamacpp import to_gguf


def model_folder(model: str | Path | None = None) -> Path:
    """The local folder of ``model`` (``nano``, a folder, or a Hub id held locally; None: the profile's model)."""
    if model in ("nano", NANO_ID):
        return nano_path()
    target = resolve_model_id(None if model is None else str(model))
    if Path(target).is_dir():
        return Path(target)
    loc = lookup.locate(target)
    if not loc.ok or loc.path is None:
        raise LabError(f"{target} is not on this machine ({loc.state}).", lookup.download_command(target))
    return loc.path


def serve(engine: str | servers.Engine, model: str | Path | None = None, *, port: int | None = None,
          threads: int | None = None, quant: str = "Q8_0", enable_thinking: bool | None = None,
          timeout_s: float | None = None, **options) -> servers.ServerHandle:
    """Start ``engine`` (a name of :data:`labkit.serving.servers.ENGINES`, or an :class:`Engine`) on ``model``.

    ``threads`` caps the server's CPU threads; ``quant`` is the GGUF type for
    llama.cpp; ``enable_thinking`` (llama.cpp only, where it is a server setting).
    Returns the running server's handle (a context manager that stops it).
    """
    if isinstance(engine, str):
        if engine not in servers.ENGINES:
            raise LabError(f"unknown engine {engine!r}.", f"use one of: {', '.join(servers.ENGINES)}.")
        opts = dict(options)
        if threads:
            opts["threads"] = threads
        if engine == "llamacpp" and enable_thinking is not None:
            opts["enable_thinking"] = enable_thinking
        if engine == "vllm":
            opts.setdefault("max_model_len", _max_len(model))
            opts.setdefault("gpu_memory_utilization", servers.gpu_memory_share())   # None on a CPU
        engine = servers.engine(engine, **opts)
    engine.check()
    target: str | Path = model if model is not None and str(model).endswith(".gguf") else model_folder(model)
    if isinstance(engine, servers.LlamaCpp) and not str(target).endswith(".gguf"):
        target = to_gguf(target, quant)
    return servers.start(engine, target, port, timeout_s=timeout_s)


def lesson_server(engine: str | servers.Engine, model: str | Path | None = None, **options):
    """The server a chat-API lesson talks to: the class server under ``QWEN_LABS_PROFILE=class``
    (:func:`labkit.classroom.endpoint.serve_class`, nothing started), else :func:`serve` ``(engine, model, ...)``.

    Both handles have ``base_url``, ``model``, ``client()``, ``logs()``, ``stop()`` and work in a ``with`` block.
    """
    if choose_profile().name == "class":
        return endpoint.serve_class()
    return serve(engine, model, **options)


def _max_len(model) -> int | None:
    """vLLM sizes its cache for the config's whole context: cap it at 4096 tokens (plenty for the course)."""

    try:
        cfg = json.loads((model_folder(model) / "config.json").read_text())
    except (LabError, OSError, ValueError):
        return None
    return min(int(cfg.get("max_position_embeddings", 4096)), 4096)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m labkit.serving", description=__doc__.split("\n")[0])
    ap.add_argument("--engine", choices=list(servers.ENGINES), required=True)
    ap.add_argument("--model", default="nano", help="nano (default), a folder, a Hub id held locally, or a .gguf")
    ap.add_argument("--port", type=int, default=None, help="default: a free port")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for the server")
    ap.add_argument("--quant", default="Q8_0", help="llama.cpp: BF16, F32, Q8_0 or Q4_K_M")
    ap.add_argument("--no-think", action="store_true", help="llama.cpp: answer without thinking (a server setting)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds to wait for the server to answer")
    args = ap.parse_args(argv)
    try:
        handle = serve(args.engine, args.model, port=args.port, threads=args.threads, quant=args.quant,
                       enable_thinking=False if args.no_think else None, timeout_s=args.timeout)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.engine} serves {handle.model} at {handle.base_url} (ready after {handle.startup_s:.1f} s; "
          f"log: {handle.log_path})")
    print(f"  curl {handle.base_url}/chat/completions -H 'content-type: application/json' "
          f"-d '{{\"model\": \"{handle.model}\", \"messages\": [{{\"role\": \"user\", \"content\": \"What is 12 + 30?\"}}]}}'")
    print("Ctrl+C stops it.")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        handle.process.wait()
        print(f"the server exited with code {handle.process.returncode}:\n{handle.logs(15)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        handle.stop()
        print(f"stopped (exit code {handle.process.returncode})")


if __name__ == "__main__":
    sys.exit(main())
