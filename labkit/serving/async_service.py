"""Serving from asyncio without freezing it: the model runs in a worker thread, never in the event loop.

* :class:`Heartbeat` proves it: a task that ticks every few ms and records the
  longest gap, which grows to the whole generation when ``generate()`` runs in
  the loop (:func:`blocking_generate`, the anti-pattern).
* :class:`AsyncService`: ``await service.generate(messages)`` and
  ``async for piece in service.stream(messages)``, with concurrent requests and
  optional dynamic batching (requests that arrive together share one left-padded batch).
  Notebook 08 first writes its parts out: a ``ThreadPoolExecutor(max_workers=1)`` that owns the
  model, and transformers' ``AsyncTextIteratorStreamer`` for streaming (``stream()`` adds stopping
  early and handing a generation error to the caller).

Used in notebook 08.
"""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, AsyncIterator

from labkit.errors import LabError
from labkit.generation import build_inputs, chat, generate_batch, validate_messages


class Heartbeat:
    """A task that ticks every ``interval`` seconds and records the longest gap between ticks.

    While the event loop is free, the gap stays near ``interval``; when something
    blocks the loop (a ``generate()`` call made directly in a coroutine), the gap
    grows to the length of the block.  Use as ``async with Heartbeat() as hb: ...``.
    """

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.ticks = 0
        self.max_gap = 0.0
        self._task: asyncio.Task | None = None
        self._last = 0.0

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            now = time.perf_counter()
            self.max_gap = max(self.max_gap, now - self._last)
            self.ticks += 1
            self._last = now

    async def __aenter__(self) -> "Heartbeat":
        self._last = time.perf_counter()
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)  # let it start
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._task is not None
        # the gap still open at the end counts too (the loop may have been blocked until now)
        self.max_gap = max(self.max_gap, time.perf_counter() - self._last)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    def __str__(self) -> str:
        return f"{self.ticks} heartbeats, longest gap {self.max_gap * 1000:.1f} ms (interval {self.interval * 1000:.0f} ms)"


async def blocking_generate(model, tokenizer, messages, *, max_new_tokens: int = 32) -> str:
    """The anti-pattern: ``generate()`` called directly inside a coroutine (blocks the event loop)."""
    return chat(model, tokenizer, messages, thinking=False, max_new_tokens=max_new_tokens, do_sample=False,
                temperature=None, top_p=None, top_k=None).answer


def _async_text_streamer(tokenizer, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue):
    """A ``generate(streamer=...)`` that decodes new tokens and hands the text to an asyncio queue."""
    from transformers import TextStreamer

    class _Streamer(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:  # called in the worker thread: hand over thread-safely
                loop.call_soon_threadsafe(queue.put_nowait, ("text", text))

    return _Streamer(tokenizer, skip_prompt=True, skip_special_tokens=True)


def _stop_when(event: threading.Event):
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Cancelled(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            import torch

            return torch.full((input_ids.shape[0],), event.is_set(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_Cancelled()])


@dataclass
class _Pending:
    messages: list[dict[str, Any]]
    max_new_tokens: int
    future: asyncio.Future


class AsyncService:
    """An asyncio service around one model; the model runs in a worker thread, never in the event loop.

    * ``await service.generate(messages)`` -> the answer text.  Requests that
      arrive within ``batch_wait_s`` of each other (up to ``max_batch_size``) are
      generated together in one left-padded batch (:func:`labkit.generate_batch`),
      which is greedy and gives the same answers as one by one.
    * ``async for piece in service.stream(messages)`` -> text as it is generated.
    * One worker thread owns the model, so calls never race on it; the event loop
      only queues work and hands out results.

    Use ``async with AsyncService(model, tok) as service:`` (or call :meth:`aclose`).
    """

    def __init__(self, model, tokenizer, *, max_new_tokens: int = 64, thinking: bool | None = False,
                 max_batch_size: int = 1, batch_wait_s: float = 0.005) -> None:
        if max_batch_size < 1:
            raise LabError(f"max_batch_size={max_batch_size}", "use 1 (no batching) or more.")
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.thinking = thinking
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_s
        self.batches: list[int] = []  # size of every batch run (for the notebook)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labkit-generate")
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None

    # -- lifecycle
    async def __aenter__(self) -> "AsyncService":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the dispatcher and the worker thread (waits for a running generation to finish)."""
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        self._executor.shutdown(wait=True)

    def _ensure_worker(self) -> asyncio.Queue:
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._dispatch())
        return self._queue

    # -- generation in the worker thread
    def _run_batch(self, batch: list[_Pending]) -> list[str]:
        limit = max(p.max_new_tokens for p in batch)
        replies = generate_batch(self.model, self.tokenizer, [p.messages for p in batch], thinking=self.thinking,
                                 max_new_tokens=limit, do_sample=False, temperature=None, top_p=None, top_k=None)
        return [r.answer for r in replies]

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.batch_wait_s
            while len(batch) < self.max_batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), left))
                except asyncio.TimeoutError:
                    break
            batch = [p for p in batch if not p.future.done()]  # skip requests whose caller gave up
            if not batch:
                continue
            self.batches.append(len(batch))
            try:
                answers = await loop.run_in_executor(self._executor, self._run_batch, batch)
            except Exception as exc:  # noqa: BLE001 (the error goes to every caller of this batch)
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            for p, answer in zip(batch, answers):
                if not p.future.done():
                    p.future.set_result(answer)

    async def generate(self, messages, *, max_new_tokens: int | None = None) -> str:
        """Queue one request and wait for its answer (greedy) without blocking the event loop."""
        msgs = validate_messages(messages)
        fut = asyncio.get_running_loop().create_future()
        await self._ensure_worker().put(_Pending(msgs, max_new_tokens or self.max_new_tokens, fut))
        return await fut

    async def stream(self, messages, *, max_new_tokens: int | None = None) -> AsyncIterator[str]:
        """Yield the answer's text piece by piece while the worker thread generates it.

        Leaving the loop early (``break``) stops the generation at the next token.
        """
        loop = asyncio.get_running_loop()
        limit = max_new_tokens or self.max_new_tokens
        inputs = build_inputs(self.model, self.tokenizer, messages, thinking=self.thinking, max_new_tokens=limit)
        queue: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()
        streamer = _async_text_streamer(self.tokenizer, loop, queue)

        def work() -> None:
            try:
                self.model.generate(**inputs, max_new_tokens=limit, streamer=streamer, do_sample=False,
                                    temperature=None, top_p=None, top_k=None,
                                    stopping_criteria=_stop_when(cancelled),
                                    pad_token_id=self.tokenizer.pad_token_id)
                loop.call_soon_threadsafe(queue.put_nowait, ("end", None))
            except Exception as exc:  # noqa: BLE001 (handed to the consumer)
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))

        job = loop.run_in_executor(self._executor, work)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "text":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    break
        finally:
            cancelled.set()
            await job
