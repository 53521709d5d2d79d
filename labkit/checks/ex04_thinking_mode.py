"""Answer keys of exercise 04 (thinking mode): its check functions and the data they check against.

Used in notebook 04.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from labkit.checks.grader import course_model, exercise, qwen3_tokenizer
from labkit.generation import chat, split_thinking
from labkit.profile import active_profile

# Task 1: a reply with a think block, as fixed text.
OUTPUT_03 = "<think>\n8+4+0=12, carry 1 → 2\ncarry 1 → 12\n</think>\n\n8 + 4 = 12"
# Task 2: the budgets the learner's processor class is run with, on these level-4 problems (thinking on, greedy).
BUDGETS_04 = (8, 16)
BUDGET_QUESTIONS_04 = ("What is 4821 × 8?", "What is 7396 + 2858?", "What is 9137 × 6?", "What is 5082 + 4769?")
# Task 3: the conversation the learner continues.
FIRST_03 = "What is 8 + 4?"
SECOND_03 = "And 12 + 30? /no_think"


def think_tokens() -> int:
    """``max_new_tokens`` for a reply with thinking on: 160 for the nano model, 2048 for a real Qwen3 (hub)."""
    return 160 if active_profile() == "offline" else 2048


def _think_answer_03() -> str:
    tok = qwen3_tokenizer()
    _, answer_ids, _ = split_thinking(tok.encode(OUTPUT_03), tok)
    return tok.decode(answer_ids, skip_special_tokens=True).strip()


def _answer_ok(text: Any) -> bool:
    return isinstance(text, str) and text.strip() == _think_answer_03()


def _budget_runs(processor_class: Any, budget: int) -> list[list[int]]:
    """The ids (prompt and new) of BUDGET_QUESTIONS_04 answered in one left-padded batch, thinking on, greedy,
    with ``processor_class(tokenizer, budget)`` as the logits processor."""
    import torch
    from transformers import LogitsProcessorList

    model, tok = course_model()
    texts = [tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True,
                                     enable_thinking=True) for q in BUDGET_QUESTIONS_04]
    batch = tok(texts, return_tensors="pt", padding=True, padding_side="left").to(model.device)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=budget + 32, do_sample=False, pad_token_id=tok.pad_token_id,
                             logits_processor=LogitsProcessorList([processor_class(tok, budget)]))
    return out[:, batch["input_ids"].shape[1]:].tolist()


def _closes_within_budget(new_ids: list[int], budget: int) -> bool:
    """The think block of ``new_ids`` holds between budget - 2 and budget + 2 tokens (the learner may count
    ``<think>`` itself, or force a newline before ``</think>``), and an answer follows it."""
    tok = course_model()[1]
    start, end = tok.convert_tokens_to_ids("<think>"), tok.convert_tokens_to_ids("</think>")
    if start not in new_ids or end not in new_ids:
        return False
    first, close = new_ids.index(start), new_ids.index(end)
    after = tok.decode(new_ids[close + 1:], skip_special_tokens=True)
    return budget - 2 <= close - first - 1 <= budget + 2 and bool(after.strip()) and "<think>" not in after


def _budget_ok(processor_class: Any) -> bool:
    if not isinstance(processor_class, type):
        raise TypeError("pass the class itself (Budget), not an instance of it")
    return all(_closes_within_budget(row, budget) for budget in BUDGETS_04
               for row in _budget_runs(processor_class, budget))


@lru_cache(maxsize=1)
def _first_answer_03() -> str:
    """The answer (no reasoning) the active profile's model gives to FIRST_03, greedy, as the exercise asks it."""
    model, tok = course_model()
    return chat(model, tok, [{"role": "user", "content": FIRST_03}], thinking=True, do_sample=False,
                max_new_tokens=think_tokens()).answer


def _history_ok(messages: Any) -> bool:
    if not isinstance(messages, list) or [m.get("role") for m in messages if isinstance(m, dict)] != [
            "user", "assistant", "user"]:
        return False
    first, reply, second = messages
    content = reply.get("content", "")
    return (first["content"] == FIRST_03 and second["content"] == SECOND_03 and isinstance(content, str)
            and "<think>" not in content and "</think>" not in content and content == _first_answer_03())


check_answer_after_think = exercise(
    "answer_after_think", predicate=_answer_ok,
    expects="the text after the last '</think>' (a str), without the reasoning",
    hint="look up the id of '</think>' with tok.convert_tokens_to_ids, find its last position in the ids and "
         "decode what follows with skip_special_tokens=True",
    where="notebook 04, section 4 'Split the reasoning from the answer by token id'")
check_budget_processor = exercise(
    "budget_processor", predicate=_budget_ok,
    expects=f"a LogitsProcessor class Budget(tokenizer, budget) that closes each row's think block after budget "
            f"thinking tokens (run here with budgets {BUDGETS_04} on a batch of {len(BUDGET_QUESTIONS_04)} hard "
            "questions), after which the model answers",
    hint="in __call__(self, input_ids, scores), for each row: find its last <think>; if no </think> follows and "
         "budget tokens came after it, set scores[row, :] = -inf and scores[row, </think> id] = 0; return scores",
    where="notebook 04, section 7 'A thinking budget, written as a LogitsProcessor'")
check_second_turn = exercise(
    "second_turn", predicate=_history_ok,
    expects=f"[user {FIRST_03!r}, assistant <the first reply's answer: the text after the last </think>, "
            f"stripped of newlines>, user {SECOND_03!r}]",
    hint="split first_ids at the last </think> and keep what follows, .strip('\\n'): the history holds the answer, "
         "not the reasoning (the template would drop it; other prompt builders do not)",
    where="notebook 04, section 8 'Conversations: the history keeps the answers'")
