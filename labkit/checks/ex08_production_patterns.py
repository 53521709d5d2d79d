"""Answer keys of exercise 08 (production patterns): its check functions and the data they check against.

Used in notebook 08.
"""
from __future__ import annotations

import hashlib

from labkit.checks.grader import exercise, qwen3_tokenizer

BUCKET_RATE_07, BUCKET_CAPACITY_07 = 2.0, 3.0           # 2 requests per second, bursts of 3
ARRIVALS_07 = [0.0, 0.1, 0.2, 0.3, 0.4, 1.0, 1.1, 1.2, 3.0, 3.05, 3.1, 3.15]  # seconds
LEAKED_HASH_07 = "a93b137f41eb0c96"                     # sha256(user id)[:16], as the seed logs it
CANDIDATES_07 = [f"user-{i}" for i in range(10_000)]
MESSAGES_07 = [{"role": "system", "content": "You are a pirate."},
               {"role": "user", "content": "Привіт! Скільки буде 345 + 678?"}]


def _bucket_07() -> list[bool]:
    tokens, last, out = BUCKET_CAPACITY_07, ARRIVALS_07[0], []
    for t in ARRIVALS_07:
        tokens = min(BUCKET_CAPACITY_07, tokens + (t - last) * BUCKET_RATE_07)
        last = t
        ok = tokens >= 1
        tokens -= 1 if ok else 0
        out.append(ok)
    return out


def _leaked_user_07() -> str | None:
    return next((c for c in CANDIDATES_07 if hashlib.sha256(c.encode()).hexdigest()[:16] == LEAKED_HASH_07), None)


def _prompt_tokens_07() -> int:
    return len(qwen3_tokenizer().apply_chat_template(MESSAGES_07, add_generation_prompt=True, tokenize=True,
                                            enable_thinking=False, return_dict=True)["input_ids"])


check_bucket_decisions = exercise(
    "bucket_decisions", _bucket_07,
    expects="a list of True/False, one per time in ARRIVALS_07: may that request go?",
    hint="make labkit.serving.guardrails.TokenBucket(BUCKET_RATE_07, BUCKET_CAPACITY_07, clock=...) with a clock you control "
         "(e.g. a lambda reading a variable you set to each arrival time), then call allow() once per arrival",
    where="notebook 08, section 6 'Rate limiting with a token bucket'")
check_leaked_user = exercise(
    "leaked_user", _leaked_user_07,
    expects="the user id (a str) from CANDIDATES_07 whose unsalted hash is LEAKED_HASH_07",
    hint="hash every candidate the way the seed does (labkit.serving.guardrails.unsalted_hash, or guess_from_hash) and "
         "compare; a salted hash (hash_for_log) would make this impossible without the salt",
    where="notebook 08, section 7 'Guardrails', 'Logs that keep no user data'")
check_prompt_tokens = exercise(
    "prompt_tokens", _prompt_tokens_07,
    expects="the number of tokens (an int) the model reads for MESSAGES_07, chat template applied, thinking off",
    hint="labkit.serving.guardrails.prompt_tokens(tok, MESSAGES_07) counts tokens with the chat template; len() of the "
         "text counts characters, and the template adds its own tokens too",
    where="notebook 08, section 7 'Guardrails', 'Limits in tokens, refused not truncated'")
