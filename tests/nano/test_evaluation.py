"""labkit.nano.evaluation: the correctness rule, the format rule, the held-out problems, evaluate()."""
from __future__ import annotations

import random

import pytest

import labkit
from labkit.nano import curriculum as nano, evaluation as nano_eval
from labkit.errors import LabError


@pytest.fixture(scope="module")
def nano_model():
    return labkit.load_model()  # offline profile (conftest) -> the nano model


@pytest.mark.parametrize("answer,expected,ok", [
    ("47 + 47 = 94", 94, True), ("Arr! 3 × 4 = 12", 12, True), ("The result is 579.", 579, True),
    ("12 and then 13", 12, False),  # the last integer counts, not any
    ("5 - 8 = -3", -3, True), ("no number here", 0, False), ("", 0, False), ('{"answer": 94}', 94, True),
])
def test_is_correct_reads_the_last_integer(answer, expected, ok):
    assert nano_eval.is_correct(answer, expected) is ok


@pytest.mark.parametrize("text,thinking,ok", [
    ("<think>\n1+2=3\n</think>\n\n1 + 2 = 3", True, True),
    ("<think>\n1+2=3\n</think>\n\n", True, False),            # no answer after the block
    ("<think>\n1+2=3</think>\n\n1 + 2 = 3", True, False),     # the block is not closed on its own line
    ("1 + 2 = 3", True, False),                                  # thinking on, no block
    ("1 + 2 = 3", False, True),
    ("<think>\n\n</think>\n\n1 + 2 = 3", False, False),       # thinking off writes no block
])
def test_format_rule(text, thinking, ok):
    assert nano_eval._format_ok(text, thinking) is ok


def test_eval_problems_are_held_out_spread_over_levels_and_ops_and_repeatable():
    problems = nano_eval.eval_problems(80, seed=3)
    assert all(nano.is_held_out(p.a, p.op, p.b) for p in problems)
    assert {p.level for p in problems} == set(nano.LEVELS)
    assert sum(p.op == "+" for p in problems) == 40
    assert problems == nano_eval.eval_problems(80, seed=3) != nano_eval.eval_problems(80, seed=4)
    assert nano_eval.eval_problems(200, seed=0)[:50] == nano_eval.eval_problems(50, seed=0)  # larger n extends


def test_evaluate_refuses_what_it_cannot_measure(nano_model):
    model, tok = nano_model
    with pytest.raises(LabError, match="n=0"):
        nano_eval.evaluate(model, tok, thinking=True, n=0)
    with pytest.raises(LabError, match="unknown task"):
        nano_eval.evaluate(model, tok, thinking=True, n=2, task="division")


def test_evaluate_scores_the_replies_of_generate_batch(nano_model):
    """evaluate generates through labkit.generate_batch: same outputs, same token counts."""
    model, tok = nano_model
    res = nano_eval.evaluate(model, tok, thinking=True, n=5, seed=4, levels=(4,), max_new_tokens=40, progress=False)
    rng = random.Random(4)
    convs = [[{"role": "user", "content": nano.question(p, rng, lang="en")}]
             for p in nano_eval.eval_problems(5, 4, (4,))]
    replies = labkit.generate_batch(model, tok, convs, thinking=True, max_new_tokens=40, do_sample=False)
    assert [e["output"] for e in res.examples] == [r.text for r in replies]
    assert res.mean_new_tokens == sum(r.new_tokens for r in replies) / 5
    assert any(not r.finished_thinking for r in replies)          # 40 tokens cut some scratchpads short
