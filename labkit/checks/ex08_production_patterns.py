"""Answer keys of exercise 08 (production patterns): its check functions and the data they check against.

Used in notebook 08.
"""
from __future__ import annotations

import hashlib
from typing import Any

from labkit.checks.grader import REGISTRY, exercise, qwen3_tokenizer

QUESTION_08 = "What is 345 + 678?"                      # task 1: asked of the server with thinking off
BUCKET_RATE_08, BUCKET_CAPACITY_08 = 2.0, 3.0           # 2 requests per second, bursts of 3
ARRIVALS_08 = [0.0, 0.1, 0.2, 0.3, 0.4, 1.0, 1.1, 1.2, 3.0, 3.05, 3.1, 3.15]  # seconds
LEAKED_HASH_08 = "a93b137f41eb0c96"                     # sha256(user id)[:16], an unsalted log hash
CANDIDATES_08 = [f"user-{i}" for i in range(10_000)]
MESSAGES_08 = [{"role": "system", "content": "You are a pirate."},
               {"role": "user", "content": "Привіт! Скільки буде 345 + 678?"}]


# ---------------------------------------------------------------- task 1: a chat completion, thinking off
def _prompt_tokens(messages: list[dict[str, str]], thinking: bool) -> int:
    return len(qwen3_tokenizer().apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                     enable_thinking=thinking, return_dict=True)["input_ids"])


def _as_completion(reply: Any):
    """``reply`` as an ``openai`` ChatCompletion (a dict, e.g. a raw JSON response, is read as one)."""
    if isinstance(reply, dict):
        from openai.types.chat import ChatCompletion

        return ChatCompletion.model_validate(reply)
    return reply


def _reply_problems(reply: Any) -> list[str]:
    """What is wrong with ``reply`` as the server's answer to QUESTION_08 with thinking off ([] if nothing)."""
    reply = _as_completion(reply)
    choices = getattr(reply, "choices", None)
    if not choices:
        return ["it is not a chat completion (no .choices): keep what client.chat.completions.create(...) returns"]
    choice = choices[0]
    message = getattr(choice, "message", None)
    if message is None:
        return ["its first choice has no .message (a streamed response? send the request without stream=True)"]
    problems = []
    if not isinstance(message.content, str) or not message.content.strip():
        problems.append("the answer (choices[0].message.content) is empty")
    if choice.finish_reason not in ("stop", "length"):
        problems.append(f"finish_reason is {choice.finish_reason!r}, not 'stop' or 'length'")
    if getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None):
        problems.append("the model reasoned (the message has reasoning_content): thinking was on")
    usage = getattr(reply, "usage", None)
    if usage is None:
        problems.append("the response has no usage: send it to the notebook's server")
    else:
        question = [{"role": "user", "content": QUESTION_08}]
        off, on = _prompt_tokens(question, False), _prompt_tokens(question, True)
        if usage.prompt_tokens == on:
            problems.append(f"the prompt had {on} tokens, as with thinking on; with enable_thinking False the "
                            f"template adds an empty think block ({off} tokens)")
        elif usage.prompt_tokens != off:
            problems.append(f"the prompt had {usage.prompt_tokens} tokens, not {off}: send exactly "
                            "[{'role': 'user', 'content': QUESTION}], with no other message")
    return problems


_check_server_reply = exercise(
    "server_reply", predicate=lambda reply: not _reply_problems(reply),
    expects="the ChatCompletion the server returned for QUESTION with thinking off",
    hint="build openai.OpenAI(base_url=BASE_URL, api_key=...) and keep what client.chat.completions.create(model=MODEL, "
         "messages=[one user message: QUESTION], ...) returns; thinking off goes in extra_body, as "
         "{\"chat_template_kwargs\": {\"enable_thinking\": False}}",
    where="notebook 08, section 4 'The OpenAI client: thinking, streaming, errors'")


def check_server_reply(reply: Any) -> bool:
    """Check the answer of exercise task 'server_reply'; print the verdict (and what is wrong) and return it."""
    ok = _check_server_reply(reply)
    if not ok and reply is not None:
        try:
            problems = _reply_problems(reply)
        except Exception as exc:  # noqa: BLE001 (a check must never raise at the learner)
            problems = [f"{type(exc).__name__}: {exc}"]
        for problem in problems:
            print(f"   - {problem}")
    return ok


REGISTRY["server_reply"] = check_server_reply


# ---------------------------------------------------------------- tasks 2-4
def _bucket_08() -> list[bool]:
    tokens, last, out = BUCKET_CAPACITY_08, ARRIVALS_08[0], []
    for t in ARRIVALS_08:
        tokens = min(BUCKET_CAPACITY_08, tokens + (t - last) * BUCKET_RATE_08)
        last = t
        ok = tokens >= 1
        tokens -= 1 if ok else 0
        out.append(ok)
    return out


def _leaked_user_08() -> str | None:
    return next((c for c in CANDIDATES_08 if hashlib.sha256(c.encode()).hexdigest()[:16] == LEAKED_HASH_08), None)


def _prompt_tokens_08() -> int:
    return _prompt_tokens(MESSAGES_08, False)


check_bucket_decisions = exercise(
    "bucket_decisions", _bucket_08,
    expects="a list of True/False, one per time in ARRIVALS: may that request go?",
    hint="start with CAPACITY tokens; at each arrival add (time since the last arrival) x RATE, never above "
         "CAPACITY; the request goes if at least one token is left, and then takes it",
    where="notebook 08, section 7 'Rate limiting with a token bucket'")
check_leaked_user = exercise(
    "leaked_user", _leaked_user_08,
    expects="the user id (a str) from CANDIDATES whose unsalted hash is LEAKED_HASH",
    hint="hash every candidate the way the log does, hashlib.sha256(c.encode()).hexdigest()[:16], and compare; "
         "a salted hash (hmac.new(salt, ...)) would make this impossible without the salt",
    where="notebook 08, section 8 'Guardrails', 'Logs that keep no user data'")
check_prompt_tokens = exercise(
    "prompt_tokens", _prompt_tokens_08,
    expects="the number of tokens (an int) the model reads for MESSAGES, chat template applied, thinking off",
    hint="tok.apply_chat_template(MESSAGES, add_generation_prompt=True, enable_thinking=False) tokenizes: count "
         "its [\"input_ids\"]; len() of the text counts characters, and the template adds tokens of its own",
    where="notebook 08, section 8 'Guardrails', 'Limits in tokens, refused rather than truncated'")
