"""Answer keys of exercise 03 (conversations): its check functions and the data they check against.

Used in notebook 03.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from labkit.checks.grader import course_model, exercise
from labkit.generation import chat, generate_batch

# Task 1: a system prompt, rendered with thinking off.
SYSTEM_03 = "You are a pirate."
QUESTION_03 = "What is 40 + 25?"
# Task 2: conversations of different lengths, answered in one left-padded batch (thinking off, greedy).
CONVS_03 = [[{"role": "user", "content": "What is 7 + 5?"}],
            [{"role": "system", "content": "Your name is Ada."}, {"role": "user", "content": "Who are you?"}],
            [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "What is 23 + 45?"}],
            [{"role": "user", "content": "Hi!"}]]
BATCH_TOKENS_03 = 40
# Task 3: a conversation as Qwen3's template (and the nano model's) renders it (add_generation_prompt=True,
# enable_thinking=False).
CHATML_03 = ("<|im_start|>system\nYour name is Ada.<|im_end|>\n"
             "<|im_start|>user\nWhat is 9 + 4?<|im_end|>\n"
             "<|im_start|>assistant\n9 + 4 = 13<|im_end|>\n"
             "<|im_start|>user\nWho are you?<|im_end|>\n"
             "<|im_start|>assistant\n<think>\n\n</think>\n\n")


def _rendered(messages: list) -> str:
    """``messages`` as the active profile's tokenizer renders them: assistant turn opened, thinking off."""
    tok = course_model()[1]
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, enable_thinking=False)


def _system_prompt_ok(text: Any) -> bool:
    conversation = [{"role": "system", "content": SYSTEM_03}, {"role": "user", "content": QUESTION_03}]
    return isinstance(text, str) and text == _rendered(conversation)


@lru_cache(maxsize=1)
def _batch_references() -> tuple[list[str], list[str]]:
    """The greedy answers to CONVS_03: one by one, and in one left-padded batch (either is right: in bfloat16 on a
    GPU a padded batch may swap two nearly tied tokens)."""
    model, tok = course_model()
    kwargs = dict(thinking=False, do_sample=False, max_new_tokens=BATCH_TOKENS_03)
    alone = [tok.decode(chat(model, tok, c, **kwargs).ids, skip_special_tokens=True) for c in CONVS_03]
    batched = [tok.decode(r.ids, skip_special_tokens=True) for r in generate_batch(model, tok, CONVS_03, **kwargs)]
    return alone, batched


def _batch_answers_ok(answers: Any) -> bool:
    if not (isinstance(answers, list) and len(answers) == len(CONVS_03) and all(isinstance(a, str) for a in answers)):
        return False
    alone, batched = _batch_references()
    return all(a.strip() in (x.strip(), y.strip()) for a, x, y in zip(answers, alone, batched))


def _messages_ok(messages: Any) -> bool:
    return (isinstance(messages, list) and all(isinstance(m, dict) and "role" in m for m in messages)
            and _rendered(messages) == CHATML_03)


check_system_prompt_text = exercise(
    "system_prompt_text", predicate=_system_prompt_ok,
    expects=f"the rendered prompt (a str) of [system {SYSTEM_03!r}, user {QUESTION_03!r}], with the assistant turn "
            "opened and thinking off",
    hint="tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, enable_thinking=False); "
         "the system message comes first",
    where="notebook 03, sections 1 'The chat template and its roles' and 2 'System prompts'")
check_batch_answers = exercise(
    "batch_answers", predicate=_batch_answers_ok,
    expects=f"a list of {len(CONVS_03)} reply strings, one per conversation, in order, equal to the greedy one-by-one "
            "replies (thinking off)",
    hint="render each conversation with apply_chat_template(tokenize=False, ...), set tokenizer.padding_side = "
         "'left', tokenize the list with padding=True, generate with pad_token_id=tokenizer.pad_token_id, then "
         "decode each row after the prompt's width with skip_special_tokens=True",
    where="notebook 03, section 4 'Many conversations in one batch'")
check_chatml_messages = exercise(
    "chatml_messages", predicate=_messages_ok,
    expects="a list of {'role': ..., 'content': ...} dicts that Qwen3's template renders (add_generation_prompt=True, "
            "enable_thinking=False) into exactly CHATML",
    hint="each <|im_start|>ROLE\\nCONTENT<|im_end|> block is one message; the last, opened assistant turn and its "
         "empty think block come from add_generation_prompt=True and enable_thinking=False, not from a message",
    where="notebook 03, sections 1 'The chat template and its roles' and 6 'Prompt builders on the chat template'")
