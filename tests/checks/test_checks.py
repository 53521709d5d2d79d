"""labkit.checks: verdicts, hints, never a traceback, and the checks of exercise 00."""
from __future__ import annotations

import pytest

import labkit
from labkit import checks


@pytest.fixture(autouse=True)
def fresh_session():
    checks.reset()
    yield
    checks.reset()


def test_correct_answer(capsys):
    assert checks.check("answer", 42, 42) is True
    assert capsys.readouterr().out == "✅ answer: correct\n"


def test_wrong_answer_says_expected_seen_hint_and_where(capsys):
    assert checks.check("answer", 41, 42, hint="count again", where="notebook 00, section 3") is False
    out = capsys.readouterr().out
    assert out.startswith("❌ answer: expected 42, got 41.")
    assert "Hint: count again (see notebook 00, section 3)" in out


def test_none_is_not_answered_yet(capsys):
    assert checks.check("answer", None, 42, hint="h") is False
    out = capsys.readouterr().out
    assert "❌ answer: not answered yet" in out and "Hint: h" in out


def test_predicate_and_description(capsys):
    assert checks.check("even", 4, predicate=lambda x: x % 2 == 0, expects="an even number") is True
    assert checks.check("even", 3, predicate=lambda x: x % 2 == 0, expects="an even number") is False
    assert "expected an even number, got 3" in capsys.readouterr().out


def test_errors_inside_a_check_become_hints(capsys):
    assert checks.check("p", "text", predicate=lambda x: x + 1, hint="give an int") is False
    assert checks.check("e", 1, expected=lambda: 1 / 0, hint="h") is False
    out = capsys.readouterr().out
    assert "TypeError" in out and "Hint: give an int" in out
    assert "ZeroDivisionError" in out
    assert "Traceback" not in out


def test_long_answers_are_shortened(capsys):
    checks.check("long", "x" * 1000, "y")
    assert len(capsys.readouterr().out) < 300


def test_exercise_makes_a_registered_one_liner(capsys):
    check_demo = checks.exercise("demo_task", lambda: 6 * 7, hint="multiply")
    assert check_demo.__name__ == "check_demo_task"
    assert checks.REGISTRY["demo_task"] is check_demo
    assert check_demo(42) is True and check_demo(6) is False
    del checks.REGISTRY["demo_task"]


def test_summary_counts_the_latest_verdicts(capsys):
    checks.check("a", 1, 1)
    checks.check("b", 1, 2)
    checks.check("c", 1, 2)
    checks.check("c", 2, 2)  # fixed on a second try
    capsys.readouterr()
    checks.summary()
    out = capsys.readouterr().out
    assert out.startswith("2/3 checks passed in this session")
    assert "❌ b" in out and "❌ c" not in out
    assert checks.results() == {"a": True, "b": False, "c": True}


# ---------------------------------------------------------------- exercise 00
@pytest.fixture(scope="module")
def tok():
    return labkit.load_tokenizer("qwen3")


def test_exercise_00_checks_are_registered():
    for name in ("think_end_id", "n_tokens", "no_think_prompt"):
        assert checks.REGISTRY[name] is getattr(checks, f"check_{name}")


@pytest.mark.model
def test_exercise_00_right_answers_pass(tok):
    assert checks.check_think_end_id(tok.convert_tokens_to_ids("</think>")) is True
    assert checks.check_n_tokens(len(tok.encode(checks.SENTENCE_00))) is True
    prompt = tok.apply_chat_template(checks.CHAT_00, tokenize=False, add_generation_prompt=True,
                                     enable_thinking=False)
    assert prompt.endswith(checks.EMPTY_THINK)
    assert checks.check_no_think_prompt(prompt) is True


@pytest.mark.model
def test_exercise_00_wrong_answers_fail(tok, capsys):
    assert checks.check_think_end_id(tok.convert_tokens_to_ids("<think>")) is False
    assert checks.check_n_tokens(len(checks.SENTENCE_00.split())) is False
    thinking_on = tok.apply_chat_template(checks.CHAT_00, tokenize=False, add_generation_prompt=True)
    assert checks.check_no_think_prompt(thinking_on) is False
    assert checks.check_no_think_prompt(tok.apply_chat_template(checks.CHAT_00, add_generation_prompt=True,
                                                                enable_thinking=False)) is False  # ids
    out = capsys.readouterr().out
    assert out.count("❌") == 4 and "notebook 00" in out


@pytest.mark.model
def test_second_turn_expects_the_active_models_own_first_answer(capsys):
    """The key is computed from the active profile's model, so the solution passes under offline and hub."""
    model, tok = checks.grader.course_model()
    first = labkit.chat(model, tok, [{"role": "user", "content": checks.FIRST_03}], thinking=True, do_sample=False)

    def history(content):
        return [{"role": "user", "content": checks.FIRST_03}, {"role": "assistant", "content": content},
                {"role": "user", "content": checks.SECOND_03}]

    assert checks.check_second_turn(history(first.answer))
    assert not checks.check_second_turn(history(first.thinking))
    assert not checks.check_second_turn(history(first.answer + " "))
    assert not checks.check_second_turn(history(first.text))   # the reasoning and its tags kept
    out = capsys.readouterr().out
    assert out.count("✅") == 1 and "first_reply.answer" in out
