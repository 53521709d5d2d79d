"""Every notebook, exercise and solution: its shape, and its execution under the offline profile."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import nbformat
import pytest

import course_map
import labkit.checks
import make_exercises
import run_notebooks

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = [p for folder in run_notebooks.FOLDERS for p in sorted((ROOT / folder).glob("*.ipynb"))]
IDS = [str(p.relative_to(ROOT)) for p in NOTEBOOKS]
EXERCISES = [p for p in NOTEBOOKS if p.parent.name == "exercises"]
SOLUTIONS = [p for p in NOTEBOOKS if p.parent.name == "solutions"]

BADGE = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
         "(https://colab.research.google.com/github/qwen-labs/qwen-labs/blob/main/{path})")
INSTALL = '''# On Colab: install what the notebooks import (Colab keeps its own torch and Jupyter) and pick the profile: hub
# (real Qwen checkpoints) when a GPU is attached, offline (the nano model) on a CPU runtime. Elsewhere: nothing to do.
import os, sys
if "google.colab" in sys.modules:
    %pip install -q "qwen-labs[colab] @ git+https://github.com/qwen-labs/qwen-labs"
    import torch
    os.environ.setdefault("QWEN_LABS_PROFILE", "hub" if torch.cuda.is_available() else "offline")'''


def install_problem(source: str, extras: tuple[str, ...]) -> str | None:
    """Why ``source`` is not the install cell for ``extras`` (None: it is).  For ("colab",) it must be INSTALL
    itself.  A notebook that needs more extras (course_map.colab_extras derives them from its code;
    tests/notebooks/test_colab.py checks the same) installs them in the same %pip line and says why in comment lines of its
    own before `import os, sys`, each extra named there as [extra]; every other line is INSTALL's."""
    if extras == ("colab",):
        return None if source == INSTALL else "differs from INSTALL"
    head, tail = INSTALL.split("import os, sys\n", 1)
    if not source.startswith(head):
        return "does not start with INSTALL's two comment lines"
    notes, sep, rest = source[len(head):].partition("import os, sys\n")
    want = tail.replace('"qwen-labs[colab] @', f'"qwen-labs[{",".join(extras)}] @')
    if not sep or rest != want:
        return f"its code differs from INSTALL with the extras [{','.join(extras)}]"
    lines = notes.splitlines()
    if not lines or not all(line.startswith("# ") for line in lines):
        return "it needs comment lines (only) before `import os, sys` saying what the further extras bring"
    missing = [extra for extra in extras[1:] if f"[{extra}]" not in notes]
    return f"its comment lines do not name {missing}" if missing else None


PARAMS = 'profile = None  # "offline", "hub" or "auto"; None keeps $QWEN_LABS_PROFILE (default auto)'
BANNER = "import labkit\nlabkit.banner(profile)"
CHECK_CALL = re.compile(r"labkit\.checks\.(check_\w+)\(")


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def output_text(nb: nbformat.NotebookNode) -> str:
    """All the text a notebook's outputs show."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(out.get("data", {}).get("text/plain", ""))
            elif out.output_type == "error":
                parts.append(f"{out.ename}: {out.evalue}")
    return "\n".join(parts)


def executed(path: Path, runs: dict) -> tuple[str, float, str | None, Path]:
    """Run ``path`` once per session (offline profile, run_notebooks' per-cell timeout) and remember
    the result.  Cells slower than run_notebooks.SLOW_CELL_S are recorded and shown as a warning
    in pytest's summary."""
    name = str(path.relative_to(ROOT))
    if name not in runs:
        status, seconds, error = run_notebooks.run_notebook(path, run_notebooks.EXECUTED, profile="offline")
        out = run_notebooks.EXECUTED / path.parent.name / path.name
        slow = run_notebooks.slow_cells(out)
        runs[name] = (status, seconds, error, out)
        run_notebooks.record_times([{"notebook": name, "status": status, "seconds": seconds,
                                     "profile": "offline", "slow_cells": slow}])
        print(f"{name}: {status} in {seconds:.1f} s")
        if slow:
            warnings.warn(f"{name}: cells over {run_notebooks.SLOW_CELL_S} s: {run_notebooks.describe_slow(slow)}",
                          stacklevel=2)
    return runs[name]


def test_the_course_has_notebooks_exercises_and_solutions():
    assert {p.parent.name for p in NOTEBOOKS} == set(run_notebooks.FOLDERS)


# ---------------------------------------------------------------- (a) shape
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_outputs_committed(path):
    nb = read(path)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"cells {dirty} have outputs or execution counts: clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_header_cells(path):
    nb = read(path)
    title, install, params, banner = nb.cells[:4]
    rel = path.relative_to(ROOT).as_posix()
    assert title.cell_type == "markdown" and title.source.startswith("# ")
    assert BADGE.format(path=rel) in title.source, f"the Colab badge must point at {rel}"
    assert install.cell_type == "code"
    problem = install_problem(install.source, course_map.colab_extras(path))
    assert problem is None, f"the install cell: {problem}"
    # the profile first; a notebook may add its own parameters below it (each `NAME = value  # comment`)
    first, *more = params.source.split("\n")
    assert params.cell_type == "code" and first == PARAMS
    assert all(re.fullmatch(r"[A-Z_]+ = .+  # .+", line) for line in more), more
    assert banner.cell_type == "code" and banner.source == BANNER
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [2], f"exactly the third cell must be tagged 'parameters', found {tagged}"
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("path", EXERCISES, ids=[str(p.relative_to(ROOT)) for p in EXERCISES])
def test_every_answer_has_one_check(path):
    """Each marked answer of the solution (the exercise is generated from it: tests/notebooks/test_make_exercises.py)
    is followed by exactly one labkit.checks call, and that check exists."""
    solution = ROOT / "solutions" / path.name.replace("_exercise", "_solution")
    assert solution.exists(), f"{path.name} has no solution {solution.name}"
    answers = sum(make_exercises.BEGIN in c.source for c in read(solution).cells)
    calls = CHECK_CALL.findall("\n".join(c.source for c in read(path).cells))
    assert answers >= 1 and len(calls) == answers
    for call in calls:
        assert hasattr(labkit.checks, call), f"labkit.checks has no {call}"


# ---------------------------------------------------------------- (b) execution
@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_executes_offline(path, notebook_runs):
    status, seconds, error, out = executed(path, notebook_runs)
    assert status == "ok", f"{path.name} failed after {seconds:.1f} s: {error}"
    text = output_text(read(out))
    assert "profile: offline" in text, "the banner did not report the offline profile"
    assert "Traceback" not in text


# ---------------------------------------------------------------- (c) exercises and solutions
def checked_output(path: Path, runs: dict) -> tuple[str, int]:
    """The executed notebook's output text (it must have run) and how many checks it calls."""
    status, _, error, out = executed(path, runs)
    assert status == "ok", error
    return output_text(read(out)), len(CHECK_CALL.findall("\n".join(c.source for c in read(path).cells)))


@pytest.mark.notebooks
@pytest.mark.parametrize("path", SOLUTIONS, ids=[str(p.relative_to(ROOT)) for p in SOLUTIONS])
def test_solution_passes_every_check(path, notebook_runs):
    text, n_checks = checked_output(path, notebook_runs)
    assert "❌" not in text and "not answered" not in text, text
    assert text.count("✅") == n_checks
    assert f"{n_checks}/{n_checks} checks passed" in text


@pytest.mark.notebooks
@pytest.mark.parametrize("path", EXERCISES, ids=[str(p.relative_to(ROOT)) for p in EXERCISES])
def test_unanswered_exercise_gives_hints_not_errors(path, notebook_runs):
    text, n_checks = checked_output(path, notebook_runs)
    assert text.count("not answered yet") == n_checks
    assert "✅" not in text
