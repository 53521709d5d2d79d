"""labkit.serving.async_service: the event loop keeps ticking, batched answers equal one-by-one, streaming stops early."""
from __future__ import annotations

import asyncio

import pytest

import labkit
from labkit.serving import async_service
from labkit.errors import LabError

QUESTIONS = ["What is 12 + 30?", "What is 7 × 8?", "Who are you?", "What is 345 + 678?"]


@pytest.fixture(scope="module")
def mt():
    return labkit.load_model()


def conv(q: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": q}]


@pytest.mark.model
def test_event_loop_keeps_ticking_while_the_service_generates(mt):
    model, tok = mt

    async def run():
        async with async_service.Heartbeat(0.005) as blocked:
            t0 = asyncio.get_running_loop().time()
            await async_service.blocking_generate(model, tok, conv(QUESTIONS[0]), max_new_tokens=24)
            blocking_s = asyncio.get_running_loop().time() - t0
        async with async_service.AsyncService(model, tok, max_new_tokens=24) as svc:
            async with async_service.Heartbeat(0.005) as free:
                t0 = asyncio.get_running_loop().time()
                await svc.generate(conv(QUESTIONS[0]))
                service_s = asyncio.get_running_loop().time() - t0
        return blocked, blocking_s, free, service_s

    blocked, blocking_s, free, service_s = asyncio.run(run())
    # blocking: the loop froze for the whole generation; service: it kept ticking
    assert blocked.ticks <= 1 and blocked.max_gap >= 0.9 * blocking_s
    assert free.ticks >= 3 and free.max_gap < max(0.5 * service_s, 0.05)


def test_batched_service_gives_the_same_answers_as_one_by_one(mt):
    model, tok = mt

    async def run(batch: int):
        async with async_service.AsyncService(model, tok, max_new_tokens=40, max_batch_size=batch) as svc:
            answers = await asyncio.gather(*[svc.generate(conv(q)) for q in QUESTIONS])
            return answers, list(svc.batches)

    one, sizes_one = asyncio.run(run(1))
    many, sizes_many = asyncio.run(run(len(QUESTIONS)))
    assert one == many
    assert sizes_one == [1] * len(QUESTIONS) and max(sizes_many) > 1
    assert all(a.strip() for a in one)


def test_stream_yields_the_same_text_and_can_stop_early(mt):
    model, tok = mt

    async def run():
        async with async_service.AsyncService(model, tok, max_new_tokens=40) as svc:
            whole = await svc.generate(conv(QUESTIONS[1]))
            pieces = [p async for p in svc.stream(conv(QUESTIONS[1]))]
            async for _ in svc.stream(conv(QUESTIONS[3]), max_new_tokens=200):
                break  # leaving early must not hang
            return whole, pieces

    whole, pieces = asyncio.run(run())
    assert len(pieces) > 1 and "".join(pieces).strip() == whole.strip()


def test_service_rejects_a_bad_conversation(mt):
    model, tok = mt

    async def run():
        async with async_service.AsyncService(model, tok) as svc:
            await svc.generate("hi")

    with pytest.raises(LabError, match="not a conversation"):
        asyncio.run(run())
