"""A tiny OpenAI-compatible chat server (standard library only), and the engine that runs it.

For tests of :mod:`labkit.serving.servers` and :mod:`labkit.serving.loadtest` that need a real process and real
HTTP but not a model: it starts in a fraction of a second.  It answers ``GET /health`` (503
until ``--healthy-after`` seconds have passed) and ``POST /v1/chat/completions`` with an echo of
the messages (after ``--slow-delay`` seconds when they contain the word "slow", and ``--delay`` seconds always); a request with
``"stream": true`` gets the echo as server-sent events, one word a chunk, in bursts of ``--bursts``
words (default one burst a word) ``--burst-gap`` seconds apart, then a usage chunk.  ``--empty-streams``
answers every streamed request the way llama-cpp-python does when a newer request interrupts it: HTTP 200,
one chunk without content, ``[DONE]``.
``--api-key KEY[,KEY...]`` answers 401 to a ``/v1`` request without ``Authorization: Bearer KEY`` (as vLLM's
``--api-key``);
``GET /v1/models`` lists ``--model``; ``--max-in-flight N`` refuses a request with 429 while N others are being
answered (a proxy's per-key ``max_parallel_requests``); ``GET /stats`` gives the most requests it answered at once since the last ``GET /stats``; ``--echo-key`` puts the
request's key in the echo.
``--exit-code N`` makes it fail at start-up; ``--child`` starts a child process in its group
and logs its pid.  Also an example of an engine in a few lines (:class:`FakeEngine`).

    python tests/fake_server.py --port 8000 --model echo
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar, Sequence

HOST = "127.0.0.1"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default=HOST)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", default="echo")
    ap.add_argument("--healthy-after", type=float, default=0.0)
    ap.add_argument("--slow-delay", type=float, default=0.0)
    ap.add_argument("--exit-code", type=int)
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--bursts", default="", help="words per burst, e.g. 1,5,5 (default: one word a burst)")
    ap.add_argument("--burst-gap", type=float, default=0.0)
    ap.add_argument("--empty-streams", action="store_true")
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--max-in-flight", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0.0, help="seconds before every chat answer")
    ap.add_argument("--echo-key", action="store_true", help="answer 'echo [KEY]: ...' with the request's key")
    args = ap.parse_args()
    print(f"fake server for {args.model!r} starting", flush=True)
    if args.exit_code is not None:
        print("fake failure: there is no model here", flush=True)
        sys.exit(args.exit_code)
    if args.child:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print(f"child pid {child.pid}", flush=True)
    started = time.monotonic()
    lock, in_flight, most = threading.Lock(), [0], [0]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *a) -> None:
            print(fmt % a, flush=True)

        def _send(self, status: int, obj: dict) -> None:
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _event(self, obj, send: bool = True) -> bytes:
            data = obj if isinstance(obj, str) else json.dumps(obj)
            event = f"data: {data}\n\n".encode()
            if send:
                self.wfile.write(event)
            return event

        def _stream(self, body: dict, words: list[str]) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            chunk = {"id": "fake", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": body.get("model", args.model)}
            if args.empty_streams:   # what an interrupted llama-cpp-python stream looks like
                self._event({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
                self._event("[DONE]")
                return
            sizes = [int(n) for n in args.bursts.split(",")] if args.bursts else [1] * len(words)
            at = 0
            for size in sizes:
                burst = b"".join(self._event({**chunk, "choices": [{"index": 0, "delta": {"content": word + " "},
                                                                       "finish_reason": None}]}, send=False)
                                 for word in words[at:at + size])
                self.wfile.write(burst)   # one write a burst: its chunks reach the client together
                self.wfile.flush()
                at += size
                if at < len(words):
                    time.sleep(args.burst_gap)
            self._event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            self._event({**chunk, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": len(words),
                                                           "total_tokens": len(words) + 1}})
            self._event("[DONE]")

        def _refused(self) -> bool:
            """401 without the key (on /v1 routes, as vLLM)."""
            keys = {f"Bearer {k}" for k in (args.api_key or "").split(",") if k}
            if keys and self.path.startswith("/v1") and self.headers.get("authorization", "") not in keys:
                self._send(401, {"error": "Unauthorized"})
                return True
            return False

        def do_GET(self) -> None:  # noqa: N802
            if self._refused():
                return None
            if self.path == "/v1/models":
                return self._send(200, {"object": "list", "data": [{"id": args.model, "object": "model"}]})
            if self.path == "/stats":   # the most requests answered at once since the last GET /stats
                with lock:
                    seen, most[0] = most[0], in_flight[0]
                return self._send(200, {"max_in_flight": seen})
            if self.path != "/health":
                return self._send(404, {"detail": "not found"})
            ready = time.monotonic() - started >= args.healthy_after
            self._send(200 if ready else 503, {"status": "ok" if ready else "loading"})

        def do_POST(self) -> None:  # noqa: N802
            if self._refused():
                return None
            with lock:
                if args.max_in_flight and in_flight[0] >= args.max_in_flight:
                    return self._send(429, {"error": {"message": "max parallel requests reached"}})
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            try:
                self._answer()
            finally:
                with lock:
                    in_flight[0] -= 1

        def _answer(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            if "messages" not in body:
                return self._send(422, {"detail": "messages is required"})
            text = " ".join(str(m.get("content", "")) for m in body["messages"])
            if "slow" in text:
                time.sleep(args.slow_delay)
            time.sleep(args.delay)
            key = self.headers.get("authorization", "").removeprefix("Bearer ")
            answer = f"echo [{key}]: {text}" if args.echo_key else f"echo: {text}"
            tokens = len(answer.split())
            if body.get("stream"):
                return self._stream(body, answer.split())
            self._send(200, {"id": "fake", "object": "chat.completion", "created": int(time.time()),
                             "model": body.get("model", args.model),
                             "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": answer}}],
                             "usage": {"prompt_tokens": 1, "completion_tokens": tokens, "total_tokens": tokens + 1}})

    ThreadingHTTPServer.request_queue_size = 256   # the default backlog of 5 refuses a class's burst of connections
    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()  # run as a script, it never gets past this line (nor imports labkit: it starts in a blink)

from labkit.serving.servers import Engine  # noqa: E402  (imported as a module: the engine that runs this file)


@dataclass(frozen=True)
class FakeEngine(Engine):
    """This file as a server engine; ``args`` are its options (``("--healthy-after", "1")``)."""

    args: Sequence[str] = ()

    name: ClassVar[str] = "fake server"
    timeout_s: ClassVar[float] = 30.0

    def command(self, model: str, port: int, host: str = HOST) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), "--host", host, "--port", str(port),
                "--model", model, *self.args]
