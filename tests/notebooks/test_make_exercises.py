"""tools/make_exercises.py: each exercise is generated from its solution, and the committed ones are current."""
from __future__ import annotations

import shutil

import nbformat
import run_notebooks
import pytest

import make_exercises as mk


def test_committed_exercises_are_what_the_generator_makes(capsys):
    assert mk.main(["--check"]) == 0, capsys.readouterr().err


def test_every_course_notebook_has_a_solution_with_marked_answers():
    sols = mk.solutions()
    assert len(sols) == len(run_notebooks.notebooks()) >= 9
    for sol in sols:
        nb = nbformat.read(sol, as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert text.count(mk.BEGIN) == text.count(mk.END) >= 3, sol.name


def test_an_exercise_shows_no_solution():
    for sol in mk.solutions():
        ex = mk.make_exercise(sol)
        assert ex.cells[0].source.startswith("# Exercise "), sol.name
        assert "/exercises/" in ex.cells[0].source and "/solutions/" not in ex.cells[0].source
        for cell, src in zip(ex.cells, nbformat.read(sol, as_version=4).cells):
            assert mk.BEGIN not in cell.source and mk.END not in cell.source
            if mk.BEGIN in src.source:     # the stub stays, the answer goes
                assert cell.source != src.source and "None" in cell.source


def test_strip_keeps_the_stub_and_drops_the_block():
    text = "# YOUR CODE HERE\nx = None\n### BEGIN SOLUTION\nx = 42\n### END SOLUTION\ncheck(x)"
    assert mk.strip_solutions(text) == ("# YOUR CODE HERE\nx = None\ncheck(x)", 1)


@pytest.mark.parametrize("text", ["### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION",
                                  "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"])
def test_unbalanced_markers_are_refused(text):
    with pytest.raises(ValueError, match="SOLUTION"):
        mk.strip_solutions(text, "nb")


def test_a_changed_solution_makes_the_committed_exercise_stale(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "exercises").mkdir()
    sol = mk.solutions()[0]
    copy = tmp_path / "solutions" / sol.name
    shutil.copy(sol, copy)
    committed = mk.exercise_path(sol).read_text(encoding="utf-8")
    assert nbformat.writes(mk.make_exercise(copy)) + "\n" == committed
    nb = nbformat.read(copy, as_version=4)
    cell = next(c for c in nb.cells if mk.BEGIN in c.source)
    cell.source = cell.source.replace("# YOUR CODE HERE", "# YOUR CODE HERE (edited)")
    nbformat.write(nb, copy)
    assert nbformat.writes(mk.make_exercise(copy)) + "\n" != committed
