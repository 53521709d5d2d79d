"""Generate every exercise notebook from its solution: one source per exercise.

    python tools/make_exercises.py           # write exercises/ from solutions/
    python tools/make_exercises.py --check   # write nothing; exit 1 if a committed exercise differs

A solution notebook carries each answer between nbgrader's solution markers, after the stub
the learner starts from::

    # YOUR CODE HERE
    largest = None
    ### BEGIN SOLUTION
    largest = [name for name in QWEN3_DENSE if arch.fits(name, "T4", "nf4")][-1]
    ### END SOLUTION
    labkit.checks.check_largest_fit(largest)

The exercise is the solution with every marked block removed (what nbgrader's ClearSolutions
does, except that the stub is written in the solution instead of a generated
``raise NotImplementedError()``: a ``None`` answer makes the check print "not answered yet"),
its title ``# Solution NN`` turned into ``# Exercise NN`` and its Colab badge pointed at
exercises/.  Cell ids are derived from the solution's, so a regenerated exercise is
byte-identical and ``--check`` (run by tests/notebooks/test_make_exercises.py) can compare files.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def exercise_path(solution: Path) -> Path:
    """solutions/NN_name_solution.ipynb -> exercises/NN_name_exercise.ipynb (same root)."""
    name = solution.name.replace("_solution.ipynb", "_exercise.ipynb")
    return solution.parent.parent / "exercises" / name


def strip_solutions(source: str, where: str = "") -> tuple[str, int]:
    """Remove every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block; return (text, blocks)."""
    kept, inside, blocks = [], False, 0
    for number, line in enumerate(source.split("\n"), 1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"{where} line {number}: {BEGIN} inside another solution block")
            inside, blocks = True, blocks + 1
        elif marker == END:
            if not inside:
                raise ValueError(f"{where} line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError(f"{where}: {BEGIN} is never closed by {END}")
    return "\n".join(kept), blocks


def _cell_id(solution_id: str) -> str:
    return hashlib.sha1(f"exercise:{solution_id}".encode()).hexdigest()[:8]


def make_exercise(solution: Path) -> nbformat.NotebookNode:
    """The exercise notebook generated from ``solution``."""
    nb = nbformat.read(solution, as_version=4)
    out = copy.deepcopy(nb)
    rel_solution = solution.relative_to(solution.parent.parent).as_posix()
    rel_exercise = exercise_path(solution).relative_to(solution.parent.parent).as_posix()
    blocks = 0
    for i, cell in enumerate(out.cells):
        if "id" in cell:
            cell["id"] = _cell_id(cell["id"])
        if i == 0:
            title, _, rest = cell.source.partition("\n")
            cell.source = title.replace("# Solution ", "# Exercise ", 1) + "\n" + rest.replace(rel_solution,
                                                                                              rel_exercise)
        if cell.cell_type == "code":
            cell.source, n = strip_solutions(cell.source, f"{solution.name} cell {i}")
            blocks += n
    if not blocks:
        raise ValueError(f"{solution.name} has no {BEGIN} block: there is nothing for the learner to do")
    return out


def solutions(root: Path = ROOT) -> list[Path]:
    return sorted((root / "solutions").glob("*_solution.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed exercises, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for solution in solutions():
        target = exercise_path(solution)
        text = nbformat.writes(make_exercise(solution)) + "\n"
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        if args.check:
            stale.append(target.relative_to(ROOT).as_posix())
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        print("out of date (regenerate with `python tools/make_exercises.py`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
