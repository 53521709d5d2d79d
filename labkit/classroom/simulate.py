"""A class rehearsed before it meets: N learners, each its own client with its own key and cap, at once.

    python -m labkit.classroom simulate --learners 30 --requests 4

Each simulated learner is what a class-profile kernel is: an ``openai.AsyncOpenAI`` client capped at
``$QWEN_LABS_MAX_PARALLEL`` requests in flight (:func:`labkit.classroom.endpoint.client`), running notebook 08's
load test (:func:`labkit.serving.loadtest.load_test_async`: every other request streamed, every answer's content
checked, an empty one counted as lost).  All learners start together; the result is one
:class:`~labkit.serving.loadtest.LoadTestResult` over every request, latencies measured from the moment the learner's
kernel sent the request (so the wait for a free slot under the cap counts, as a learner feels it).

Used by the command `python -m labkit.classroom`.
"""
from __future__ import annotations

import argparse
import asyncio
import time
from typing import Sequence

from labkit.classroom import endpoint
from labkit.errors import LabError
from labkit.serving.loadtest import DEFAULT_QUESTIONS, LoadTestResult, load_test_async


async def simulate_async(url: str | None = None, model: str | None = None, *, learners: int = 30,
                         requests_per_learner: int = 4, per_learner: int | None = None,
                         keys: Sequence[str] | None = None, max_tokens: int = 16,
                         questions: Sequence[str] = DEFAULT_QUESTIONS, extra_body: dict | None = None,
                         timeout: float = 300.0) -> LoadTestResult:
    """``learners`` clients (key ``keys[i]``, default ``$OPENAI_API_KEY``), each sending ``requests_per_learner``
    requests at once, at most ``per_learner`` in flight (default ``$QWEN_LABS_MAX_PARALLEL``)."""
    url = (url or endpoint.base_url()).rstrip("/")
    model = model or endpoint.model_id(url, keys[0] if keys else None)
    cap = per_learner or endpoint.max_parallel()
    clients = [endpoint.client(url, (keys[i % len(keys)] if keys else None), timeout=timeout, cap=cap,
                               asynchronous=True) for i in range(learners)]
    # learner i asks the questions from offset i, so the class as a whole asks all of them
    rotated = [list(questions[i % len(questions):]) + list(questions[:i % len(questions)]) for i in range(learners)]
    t0 = time.perf_counter()
    try:
        parts = await asyncio.gather(*[
            load_test_async(url, model, n_clients=requests_per_learner, requests_per_client=1, timeout=timeout,
                            max_tokens=max_tokens, questions=rotated[i], extra_body=extra_body, client=clients[i],
                            in_flight=cap)
            for i in range(learners)])
    finally:
        await asyncio.gather(*[c.close() for c in clients])
    wall = time.perf_counter() - t0
    merged = LoadTestResult(learners, sum(p.requests for p in parts), sum(p.ok for p in parts),
                            sum(p.lost for p in parts), [e for p in parts for e in p.errors],
                            [x for p in parts for x in p.latencies_s], wall, sum(p.output_tokens for p in parts),
                            [r for p in parts for r in p.replies], sum(p.streamed for p in parts),
                            sum(p.empty for p in parts))
    return merged


def simulate(url: str | None = None, model: str | None = None, **kwargs) -> LoadTestResult:
    """:func:`simulate_async` outside an event loop (a script, a test, the command line)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(simulate_async(url, model, **kwargs))
    raise LabError("simulate() was called inside a running event loop (a notebook).",
                   "use `await labkit.classroom.simulate.simulate_async(...)` there.")


def read_keys(path: str) -> list[str]:
    """The keys of a keys file (``USER KEY`` lines, as the plan writes them; a line of one word is a key)."""
    try:
        lines = [line.split() for line in open(path, encoding="utf-8") if line.strip()]
    except OSError as exc:
        raise LabError(f"cannot read the keys file {path}: {exc.strerror}.", "give the file the plan wrote.") from None
    return [words[-1] for words in lines]


def describe(result: LoadTestResult, per_learner: int) -> str:
    return (f"{result.n_clients} learners x {result.requests // max(1, result.n_clients)} requests, at most "
            f"{per_learner} in flight each: {result}")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    from labkit.classroom.plan import positive

    ap.add_argument("--learners", type=positive, default=30)
    ap.add_argument("--requests", type=positive, default=4, help="requests each learner sends at once (default 4)")
    ap.add_argument("--per-learner", type=positive, default=None, help="default: $QWEN_LABS_MAX_PARALLEL or 4")
    ap.add_argument("--max-tokens", type=positive, default=16)
    ap.add_argument("--keys-file", default=None, help="the learners' keys (the plan's keys file): learner i uses key "
                    "i; default: everyone $OPENAI_API_KEY")
    ap.add_argument("--url", help="default: $OPENAI_BASE_URL")
    ap.add_argument("--model", help="default: $QWEN_LABS_CLASS_MODEL, else the first listed")


def main(args: argparse.Namespace) -> int:
    """Print the rehearsal's figures; exit 1 when a request was lost."""
    try:
        cap = args.per_learner or endpoint.max_parallel()
        keys = read_keys(args.keys_file) if args.keys_file else None
        if keys is not None and len(keys) < args.learners:
            print(f"note: {len(keys)} keys for {args.learners} learners: some learners share a key (and its limits)")
        r = simulate(args.url, args.model, learners=args.learners, requests_per_learner=args.requests,
                     per_learner=cap, max_tokens=args.max_tokens, keys=keys)
    except LabError as exc:
        print(f"error: {exc}")
        return 1
    print(describe(r, cap))
    for error in sorted(set(r.errors))[:5]:
        print("  lost:", error)
    return 1 if r.lost else 0
