"""Answer keys of exercise 02 (chat and generation): its check functions and the data they check against.

Used in notebook 02.
"""
from __future__ import annotations

from typing import Any

from labkit.checks.grader import course_model, exercise
from labkit.family.facts import SAMPLING
from labkit.generation import chat

QUESTION_02 = "What is 12 + 30?"
PROBS_02 = [0.5, 0.2, 0.15, 0.1, 0.05]  # a toy next-token distribution (5 tokens)
TOP_P_02 = 0.8
CONVS_02 = [[{"role": "user", "content": "What is 7 + 5?"}],
            [{"role": "user", "content": "What is 23 + 45?"}],
            [{"role": "user", "content": "What is 6 × 3?"}]]


def _top_p_kept(probs: list[float], top_p: float) -> int:
    import torch
    from transformers.generation import TopPLogitsWarper

    scores = torch.log(torch.tensor([probs]))
    return int(torch.isfinite(TopPLogitsWarper(top_p)(torch.zeros(1, 1, dtype=torch.long), scores)).sum())


def _greedy_answers(conversations: list, thinking: bool) -> list[str]:
    model, tok = course_model()
    return [chat(model, tok, c, thinking=thinking, do_sample=False, max_new_tokens=40).answer for c in conversations]


def _is_new_text_only(text: Any) -> bool:
    want = _greedy_answers([[{"role": "user", "content": QUESTION_02}]], thinking=False)[0]
    return isinstance(text, str) and QUESTION_02 not in text and text.strip() == want.strip()


def _sampling_kwargs_ok(kw: Any) -> bool:
    want = SAMPLING["non_thinking"].generate_kwargs()
    return (isinstance(kw, dict) and kw.get("do_sample") is True
            and all(kw.get(k) == want[k] for k in ("temperature", "top_p", "top_k"))
            and kw.get("min_p", 0.0) == want["min_p"])


def _batch_answers_ok(answers: Any) -> bool:
    return (isinstance(answers, list) and len(answers) == len(CONVS_02)
            and all(isinstance(a, str) for a in answers) and answers == _greedy_answers(CONVS_02, thinking=False))


check_new_tokens_only = exercise(
    "new_tokens_only", predicate=_is_new_text_only,
    expects=f"the reply text only (a str: what the model wrote after the prompt, without {QUESTION_02!r})",
    hint="slice the generated ids after the prompt: output_ids[0, inputs['input_ids'].shape[1]:], then decode "
         "with skip_special_tokens=True",
    where="notebook 02, section 2 'Decode only the new tokens'")
check_top_p_kept = exercise(
    "top_p_kept", lambda: _top_p_kept(PROBS_02, TOP_P_02),
    expects="the number of tokens top-p keeps (an int)",
    hint="sort the probabilities, add them up from the largest; top-p keeps tokens until the sum reaches top_p "
         "(or apply transformers.generation.TopPLogitsWarper to the log-probabilities and count finite scores)",
    where="notebook 02, section 6 'Sampling: the next-token distribution'")
check_non_thinking_sampling = exercise(
    "non_thinking_sampling", predicate=_sampling_kwargs_ok,
    expects="a dict of generate() arguments: do_sample=True and the temperature, top_p, top_k of "
            "labkit.family.facts.SAMPLING['non_thinking']",
    hint="read labkit.family.facts.SAMPLING['non_thinking'] (its .generate_kwargs() builds the dict); do_sample must be "
         "True or the other settings are ignored",
    where="notebook 02, section 7 'Recommended settings per mode'")
check_batch_answers = exercise(
    "batch_answers", predicate=_batch_answers_ok,
    expects=f"a list of {len(CONVS_02)} answer strings, one per conversation, in order, equal to the greedy "
            "one-by-one answers (thinking off)",
    hint="labkit.generate_batch(model, tok, CONVS, thinking=False, do_sample=False, max_new_tokens=40) returns "
         "Replies; keep each reply's .answer",
    where="notebook 02, section 9 'Batch generation done right'")
