"""The checks of exercise 08: a chat completion with thinking off (read from the response the server returns), a
token bucket, an unsalted hash reversed, a prompt counted in tokens; every right answer passes, the usual wrong
ones fail with a hint."""
from __future__ import annotations

import hashlib

import pytest

import labkit
from labkit import checks


@pytest.fixture(scope="module")
def tok():
    return labkit.load_tokenizer("qwen3")


def completion(prompt_tokens: int, content: str = "345 + 678 = 1023", finish: str | None = "stop",
               reasoning: str | None = None) -> dict:
    """A chat completion as transformers serve returns it (JSON)."""
    message = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": finish, "message": message}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 9, "total_tokens": prompt_tokens + 9}}


def prompt_tokens(tok, thinking: bool) -> int:
    question = [{"role": "user", "content": checks.QUESTION_08}]
    return len(tok.apply_chat_template(question, add_generation_prompt=True, enable_thinking=thinking)["input_ids"])


@pytest.mark.model
def test_a_reply_with_thinking_off_passes_as_object_or_json(tok, capsys):
    from openai.types.chat import ChatCompletion

    off = prompt_tokens(tok, False)
    assert checks.check_server_reply(completion(off)) is True
    assert checks.check_server_reply(ChatCompletion.model_validate(completion(off))) is True
    assert checks.check_server_reply(completion(off, finish="length")) is True   # cut short is still an answer
    assert capsys.readouterr().out.count("✅ server_reply: correct") == 3


@pytest.mark.model
def test_a_reply_with_thinking_on_or_another_prompt_fails_and_says_why(tok, capsys):
    on, off = prompt_tokens(tok, True), prompt_tokens(tok, False)
    assert on < off          # the empty think block of enable_thinking=False
    assert checks.check_server_reply(completion(on, reasoning="5+8=13, carry 1")) is False
    out = capsys.readouterr().out
    assert "thinking was on" in out and "as with thinking on" in out
    assert checks.check_server_reply(completion(off + 10)) is False
    assert "no other message" in capsys.readouterr().out
    assert checks.check_server_reply(completion(off, content="")) is False
    assert checks.check_server_reply(completion(off, finish=None)) is False


def test_a_string_or_nothing_is_not_a_reply(capsys):
    assert checks.check_server_reply("345 + 678 = 1023") is False
    assert "not a chat completion" in capsys.readouterr().out
    assert checks.check_server_reply(None) is False
    assert "not answered yet" in capsys.readouterr().out
    assert checks.REGISTRY["server_reply"] is checks.check_server_reply


def test_the_token_bucket_decisions():
    rate, capacity = checks.BUCKET_RATE_08, checks.BUCKET_CAPACITY_08
    tokens, last, decisions = capacity, checks.ARRIVALS_08[0], []
    for t in checks.ARRIVALS_08:
        tokens, last = min(capacity, tokens + (t - last) * rate), t
        decisions.append(tokens >= 1)
        tokens -= decisions[-1]
    assert checks.check_bucket_decisions(decisions) is True
    assert checks.check_bucket_decisions([True] * len(checks.ARRIVALS_08)) is False


def test_the_leaked_user():
    user = next(c for c in checks.CANDIDATES_08
                if hashlib.sha256(c.encode()).hexdigest()[:16] == checks.LEAKED_HASH_08)
    assert checks.check_leaked_user(user) is True
    assert checks.check_leaked_user("user-0") is False


@pytest.mark.model
def test_the_prompt_counted_in_tokens(tok):
    n = len(tok.apply_chat_template(checks.MESSAGES_08, add_generation_prompt=True, enable_thinking=False)["input_ids"])
    assert checks.check_prompt_tokens(n) is True
    assert checks.check_prompt_tokens(sum(len(m["content"]) for m in checks.MESSAGES_08)) is False
