"""A bounded load test of an OpenAI-compatible server: N concurrent clients, lost requests, p50/p95, throughput.

:func:`load_test` (or :func:`load_test_async` inside a notebook's event loop)
runs ``n_clients`` concurrent clients with the official ``openai.AsyncOpenAI``
(``max_retries=0``: a retry would hide a failure), bounded in count and time,
and returns a :class:`LoadTestResult`.  Half the requests are streamed by default
(``stream="mixed"``), as real clients do, and every answer's content is checked, streamed
or not: a request is *ok* only when it came back with text (an answer, or reasoning) and a
``finish_reason``.  An HTTP 200 with an empty stream is counted *empty*, and lost.

Used in notebooks 08, 09.
"""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from labkit.classroom import endpoint
from labkit.errors import LabError
from labkit.serving.servers import openai_client


@dataclass
class LoadTestResult:
    """What :func:`load_test` saw."""

    n_clients: int
    requests: int
    ok: int
    lost: int                    # raised, timed out, never ran, or came back empty
    errors: list[str]
    latencies_s: list[float]
    wall_s: float
    output_tokens: int
    replies: list[tuple[str, str]] = field(default_factory=list)  # (question, answer) of each request that came back
    streamed: int = 0            # requests sent with stream=True
    empty: int = 0               # of the lost: HTTP 200 but no text or no finish_reason (a silent loss)

    @property
    def p50_s(self) -> float:
        return self._pct(50)

    @property
    def p95_s(self) -> float:
        return self._pct(95)

    def _pct(self, q: float) -> float:
        import numpy as np

        return float(np.percentile(self.latencies_s, q)) if self.latencies_s else float("nan")

    @property
    def requests_per_s(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.wall_s if self.wall_s > 0 else float("nan")

    def __str__(self) -> str:
        empty = f" ({self.empty} came back empty)" if self.empty else ""
        return (f"{self.n_clients} concurrent clients, {self.requests} requests ({self.streamed} streamed): "
                f"{self.ok} ok, {self.lost} lost{empty}; "
                f"latency p50 {self.p50_s:.2f} s, p95 {self.p95_s:.2f} s; "
                f"throughput {self.requests_per_s:.2f} requests/s, {self.tokens_per_s:.1f} output tokens/s "
                f"(wall {self.wall_s:.1f} s)")


DEFAULT_QUESTIONS = ("What is 12 + 30?", "What is 7 × 8?", "Who are you?", "What is 345 + 678?", "Hello!",
                     "What is 56 × 4?")


async def _ask(client, streamed: bool, **request) -> tuple[str, str, str | None, int]:
    """``(answer, reasoning, finish_reason, completion tokens)`` of one chat request, streamed or not."""
    if not streamed:
        r = await client.chat.completions.create(**request)
        if not r.choices:
            return "", "", None, 0
        msg = r.choices[0].message
        reasoning = getattr(msg, "reasoning", None) or getattr(msg, "reasoning_content", None) or ""
        return msg.content or "", reasoning, r.choices[0].finish_reason, r.usage.completion_tokens if r.usage else 0
    stream = await client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
    answer, reasoning, finish, usage, chunks = [], [], None, 0, 0
    async for chunk in stream:
        if getattr(chunk, "usage", None):
            usage = chunk.usage.completion_tokens
        for choice in chunk.choices or ():
            delta = choice.delta
            answer.append(delta.content or "")
            reasoning.append(getattr(delta, "reasoning", None) or getattr(delta, "reasoning_content", None) or "")
            chunks += bool(delta.content or reasoning[-1])
            finish = choice.finish_reason or finish
    return "".join(answer), "".join(reasoning), finish, usage or chunks


async def load_test_async(base_url: str, model: str, *, n_clients: int = 32, requests_per_client: int = 2,
                          timeout: float = 60.0, max_tokens: int = 16,
                          questions: Sequence[str] = DEFAULT_QUESTIONS,
                          extra_body: dict | None = None, stream: bool | str = "mixed",
                          client: Any = None, api_key: str | None = None,
                          in_flight: int | None = None) -> LoadTestResult:
    """:func:`load_test` as a coroutine (for notebooks, where an event loop already runs).

    ``client``: an ``openai.AsyncOpenAI`` to send the requests with (one learner's, with its key and cap:
    :func:`labkit.classroom.endpoint.client`); by default one for ``base_url`` (with ``api_key`` when the server
    requires one), closed at the end.  ``in_flight``: the most requests the client sends at once (a capped class
    client; default the class cap on the class server's URL, else all of them): the deadline allows the rounds."""
    if n_clients < 1 or requests_per_client < 1:
        raise LabError("a load test needs at least one client and one request.", "use n_clients >= 1.")
    if stream not in (True, False, "mixed"):
        raise LabError(f"stream={stream!r} is not a choice.", 'use True, False or "mixed" (every other request).')
    total = n_clients * requests_per_client
    latencies: list[float] = []
    errors: list[str] = []
    replies: list[tuple[str, str]] = []
    tokens = empty = streamed = 0
    own = client is None
    client = openai_client(base_url, timeout=timeout, asynchronous=True, api_key=api_key) if own else client

    async def one_client(i: int) -> None:
        nonlocal tokens, empty, streamed
        for j in range(requests_per_client):
            k = i * requests_per_client + j
            q = questions[k % len(questions)]
            as_stream = stream is True or (stream == "mixed" and k % 2 == 1)
            streamed += as_stream
            t0 = time.perf_counter()
            try:
                answer, reasoning, finish, used = await _ask(
                    client, as_stream, model=model, messages=[{"role": "user", "content": q}], max_tokens=max_tokens,
                    temperature=0, extra_body=extra_body or {"chat_template_kwargs": {"enable_thinking": False}})
            except Exception as exc:  # noqa: BLE001 (counted as lost)
                errors.append(f"{type(exc).__name__}: {str(exc)[:160]}")
                continue
            if not (answer.strip() or reasoning.strip()) or finish is None:
                empty += 1
                errors.append(f"empty answer ({'streamed' if as_stream else 'not streamed'}, HTTP 200): "
                              f"{len(answer)} characters, finish_reason {finish!r}")
                continue
            latencies.append(time.perf_counter() - t0)
            replies.append((q, answer))
            tokens += used

    start = time.perf_counter()
    try:
        tasks = [asyncio.create_task(one_client(i)) for i in range(n_clients)]
        if in_flight is None and endpoint.is_class_url(base_url):
            in_flight = endpoint.max_parallel()
        rounds = math.ceil(n_clients / in_flight) if in_flight else 1
        done, pending = await asyncio.wait(tasks, timeout=timeout * requests_per_client * rounds + 5)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            errors.append(f"{len(pending)} clients still running at the deadline were cancelled")
    finally:
        if own:
            await client.close()
    wall = time.perf_counter() - start
    ok = len(latencies)
    return LoadTestResult(n_clients, total, ok, total - ok, errors, latencies, wall, tokens, replies, streamed, empty)


def load_test(base_url: str, model: str, *, n_clients: int = 32, requests_per_client: int = 2,
              timeout: float = 60.0, max_tokens: int = 16, **kwargs: Any) -> LoadTestResult:
    """Run ``n_clients`` concurrent clients, each sending ``requests_per_client`` chat requests one after another.

    Uses the official ``openai.AsyncOpenAI`` client (``max_retries=0``: a retry
    would hide a failure) with a per-request ``timeout``; the whole test is
    bounded by ``timeout × requests_per_client`` (+5 s).  ``stream``: True, False, or
    ``"mixed"`` (every other request streamed, the default).  A request is *lost* when
    it raised, timed out, never ran, or came back without text or ``finish_reason`` (*empty*).
    Greedy (temperature 0), thinking off unless ``extra_body`` says otherwise.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(load_test_async(base_url, model, n_clients=n_clients,
                                           requests_per_client=requests_per_client, timeout=timeout,
                                           max_tokens=max_tokens, **kwargs))
    raise LabError("load_test() was called inside a running event loop (a notebook).",
                   "use `await labkit.serving.loadtest.load_test_async(...)` there.")
