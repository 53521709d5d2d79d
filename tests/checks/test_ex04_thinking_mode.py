"""The answer keys of exercise 04: every right answer passes, the usual wrong ones fail with a hint."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import LogitsProcessor

from labkit import checks
from labkit.lessons import thinking

ROOT = Path(__file__).resolve().parents[2]


def _class_from(path: Path, marker: str, name: str) -> type:
    """A class a notebook defines, executed from its own cell (the part up to the first blank-line-separated
    statement after the class)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    source = next("".join(c["source"]) for c in cells if c["cell_type"] == "code" and marker in "".join(c["source"]))
    source = source[source.index(marker):].split("\n\n\n")[0]
    namespace = {"LogitsProcessor": LogitsProcessor}
    exec(compile(source, str(path), "exec"), namespace)  # noqa: S102 (the notebook's own cell)
    return namespace[name]


class _NoOp(LogitsProcessor):
    def __init__(self, tokenizer, budget):
        pass

    def __call__(self, input_ids, scores):
        return scores


def test_exercise_04_checks_are_registered():
    for name in ("answer_after_think", "budget_processor", "second_turn"):
        assert checks.REGISTRY[name] is getattr(checks, f"check_{name}")


def test_the_answer_after_think_accepts_any_stripping(capsys):
    assert checks.check_answer_after_think("8 + 4 = 12")
    assert checks.check_answer_after_think("\n\n8 + 4 = 12")          # decoded, not stripped
    assert not checks.check_answer_after_think(checks.OUTPUT_03)       # the reasoning kept
    assert not checks.check_answer_after_think(12)
    assert "notebook 04" in capsys.readouterr().out


@pytest.mark.model
@pytest.mark.parametrize("source", ["notebook", "solution", "labkit"])
def test_every_right_budget_processor_passes(source):
    """Forcing "\\n</think>\\n\\n" (the notebook, labkit) and forcing "</think>" alone (the solution) both pass."""
    cls = {"notebook": lambda: _class_from(ROOT / "notebooks" / "04_thinking_mode.ipynb",
                                           "class ThinkingBudget(LogitsProcessor)", "ThinkingBudget"),
           "solution": lambda: _class_from(ROOT / "solutions" / "04_thinking_mode_solution.ipynb",
                                           "class Budget(LogitsProcessor)", "Budget"),
           "labkit": lambda: thinking.ThinkingBudget}[source]()
    assert checks.check_budget_processor(cls)


@pytest.mark.model
def test_wrong_budget_processors_fail():
    solution = _class_from(ROOT / "solutions" / "04_thinking_mode_solution.ipynb", "class Budget(LogitsProcessor)",
                           "Budget")

    class Fixed(solution):  # ignores the budget it is given
        def __init__(self, tokenizer, budget):
            super().__init__(tokenizer, 16)

    assert not checks.check_budget_processor(_NoOp)
    assert not checks.check_budget_processor(Fixed)
    assert not checks.check_budget_processor(thinking.ThinkingBudget(checks.grader.qwen3_tokenizer(), 8))  # instance
