"""Answer keys of exercise 00 (setup and hardware): its check functions and the data they check against.

Used in notebook 00.
"""
from __future__ import annotations

from labkit.checks.grader import exercise, qwen3_tokenizer

SENTENCE_00 = "In 2025, Qwen3 learned to think before answering 1234 questions."
CHAT_00 = [{"role": "user", "content": "Name a prime number."}]
EMPTY_THINK = "<think>\n\n</think>\n\n"

check_think_end_id = exercise(
    "think_end_id", 151668, expects="the id of '</think>' in the Qwen3 vocabulary",
    hint="look the token up in the tokenizer, as the notebook does for '<think>'; never guess ids",
    where="notebook 00, section 3 'Special tokens are looked up'")
check_n_tokens = exercise(
    "n_tokens", lambda: len(qwen3_tokenizer().encode(SENTENCE_00)), expects="the number of token ids of SENTENCE",
    hint="encode SENTENCE and count the ids (an int); remember every digit is a token of its own",
    where="notebook 00, section 3 'Encode a sentence'")
check_no_think_prompt = exercise(
    "no_think_prompt",
    predicate=lambda s: isinstance(s, str) and s == qwen3_tokenizer().apply_chat_template(
        CHAT_00, tokenize=False, add_generation_prompt=True, enable_thinking=False),
    expects=f"the rendered text (a str) ending with the assistant turn and the empty think block {EMPTY_THINK!r}",
    hint="apply_chat_template needs three arguments here: text not ids, the assistant's turn opened, thinking off",
    where="notebook 00, section 4 'The chat template'")
