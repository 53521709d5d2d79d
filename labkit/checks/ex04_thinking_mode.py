"""Answer keys of exercise 04 (thinking mode): its check functions and the data they check against.

Used in notebook 04.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from labkit.checks.grader import course_model, exercise, qwen3_tokenizer
from labkit.generation import chat, split_thinking

OUTPUT_03 = "<think>\n8+4+0=12, carry 1 → 2\ncarry 1 → 12\n</think>\n\n8 + 4 = 12"
FIRST_03 = "What is 8 + 4?"
SECOND_03 = "And 12 + 30? /no_think"


def _think_answer_03() -> str:
    tok = qwen3_tokenizer()
    _, answer_ids, _ = split_thinking(tok.encode(OUTPUT_03), tok)
    return tok.decode(answer_ids, skip_special_tokens=True).strip("\n")


def _budget_ok(procs: Any) -> bool:
    from labkit.lessons.thinking import ThinkingBudget  # imports transformers: only when this check runs

    return (hasattr(procs, "__iter__") and type(procs).__name__ == "LogitsProcessorList"
            and any(isinstance(p, ThinkingBudget) and p.budget == 16 for p in procs))


@lru_cache(maxsize=1)
def _first_answer_03() -> str:
    """The answer (no reasoning) the active profile's model gives to FIRST_03, greedy, as the exercise asks it."""
    model, tok = course_model()
    return chat(model, tok, [{"role": "user", "content": FIRST_03}], thinking=True, do_sample=False).answer


def _history_ok(messages: Any) -> bool:
    if not isinstance(messages, list) or [m.get("role") for m in messages if isinstance(m, dict)] != [
            "user", "assistant", "user"]:
        return False
    first, reply, second = messages
    content = reply.get("content", "")
    return (first["content"] == FIRST_03 and second["content"] == SECOND_03 and isinstance(content, str)
            and "<think>" not in content and "</think>" not in content and content == _first_answer_03())


check_answer_after_think = exercise(
    "answer_after_think", _think_answer_03,
    expects="the text after the last '</think>' (a str), without the reasoning",
    hint="look up the id of '</think>' with tok.convert_tokens_to_ids, find its last position in the ids and "
         "decode what follows (labkit.split_thinking does exactly this)",
    where="notebook 04, section 4 'Parse thinking and answer by token id'")
check_budget_16 = exercise(
    "budget_16", predicate=_budget_ok,
    expects="a transformers LogitsProcessorList holding labkit.lessons.thinking.ThinkingBudget(tok, 16)",
    hint="LogitsProcessorList([ThinkingBudget(tok, 16)]); pass it to generate() as logits_processor=",
    where="notebook 04, section 7 'A thinking budget that works'")
check_second_turn = exercise(
    "second_turn", predicate=_history_ok,
    expects=f"[user {FIRST_03!r}, assistant <the first reply's answer (first_reply.answer), no reasoning>, "
            f"user {SECOND_03!r}]",
    hint="keep reply.answer, not reply.thinking: the official template drops earlier reasoning, so the history "
         "should hold answers only",
    where="notebook 04, section 8 'Multi-turn: the history keeps answers'")
