"""tools/run_notebooks.py: failures are caught and reported, times are recorded."""
from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import run_notebooks


def test_a_failing_notebook_is_reported_not_raised(tmp_path):
    params = new_code_cell("profile = None")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell("print(profile)"), new_code_cell("1 / 0")],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    src = tmp_path / "notebooks" / "bad.ipynb"
    src.parent.mkdir()
    nbformat.write(nb, src)
    status, seconds, error = run_notebooks.run_notebook(src, tmp_path / "out", profile="offline")
    assert status == "failed" and seconds > 0
    assert "ZeroDivisionError: division by zero" in error
    executed = nbformat.read(tmp_path / "out" / "notebooks" / "bad.ipynb", as_version=4)
    assert any("offline" in o.get("text", "") for c in executed.cells for o in c.get("outputs", []))


def test_times_are_merged_into_the_json(tmp_path):
    path = tmp_path / "times.json"
    run_notebooks.record_times([{"notebook": "a.ipynb", "status": "ok", "seconds": 1.5, "profile": "offline"}], path)
    run_notebooks.record_times([{"notebook": "b.ipynb", "status": "failed", "seconds": 2.0, "profile": "hub"}], path)
    data = json.loads(path.read_text())["notebooks"]
    assert data["a.ipynb"]["seconds"] == 1.5 and data["b.ipynb"]["status"] == "failed"


def test_table_columns():
    text = run_notebooks.table([{"notebook": "notebooks/00_x.ipynb", "status": "ok", "seconds": 3.25}])
    assert text.splitlines()[0].split(" | ") == ["notebook            ", "status", "seconds",
                                                 f"cells over {run_notebooks.SLOW_CELL_S} s"]
    assert text.splitlines()[2].endswith("| ok     |     3.2 |")


def _notebook(tmp_path, *sources: str):
    params = new_code_cell("profile = None")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, *map(new_code_cell, sources)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    src = tmp_path / "notebooks" / "nb.ipynb"
    src.parent.mkdir(exist_ok=True)
    nbformat.write(nb, src)
    return src


@pytest.mark.notebooks
def test_a_cell_past_the_timeout_fails_naming_the_cell(tmp_path):
    src = _notebook(tmp_path, "x = 1", "import time\ntime.sleep(120)  # hangs", "print('never')")
    status, seconds, error = run_notebooks.run_notebook(src, tmp_path / "out", profile="offline", timeout=5)
    assert status == "failed"
    assert seconds < 60, "the kernel was not interrupted: the run waited for the cell"
    assert "cell 2 (In [4]): import time -> CellTimeoutError: ran past the 5 s limit for one cell" in error, error
    executed = nbformat.read(tmp_path / "out" / "notebooks" / "nb.ipynb", as_version=4)
    assert not any(o.get("text") == "never\n" for c in executed.cells for o in c.get("outputs", []))


def test_the_failing_cell_and_its_error_are_named(tmp_path):
    src = _notebook(tmp_path, "x = 1", "\n# a comment line\nraise KeyError('no such key')")
    status, _, error = run_notebooks.run_notebook(src, tmp_path / "out", profile="offline")
    assert status == "failed"
    assert error == "cell 2 (In [4]): # a comment line -> KeyError: 'no such key'", error


def test_slow_cells_are_read_from_papermill_durations(tmp_path):
    nb = new_notebook(cells=[new_code_cell("a"), new_code_cell("b\nmore"), new_code_cell("c")])
    nb.cells[0].metadata["tags"] = ["injected-parameters"]
    for cell, seconds in zip(nb.cells, (0.1, 45.04, 31.0)):
        cell.metadata["papermill"] = {"duration": seconds}
    nb.cells[1].execution_count = 7
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    slow = run_notebooks.slow_cells(path, threshold=30)
    assert [(c["cell"], c["execution_count"], c["seconds"], c["source"]) for c in slow] == [
        (0, 7, 45.0, "b"), (1, None, 31.0, "c")]
    assert run_notebooks.describe_slow(slow) == "cell 0 (In [7]) 45.0 s: b; cell 1 31.0 s: c"
    assert run_notebooks.slow_cells(path, threshold=50) == []
    row = {"notebook": "notebooks/00_x.ipynb", "status": "ok", "seconds": 80.0, "slow_cells": slow}
    assert run_notebooks.table([row]).splitlines()[2].endswith("| cell 0 (45.0 s), cell 1 (31.0 s)")
    assert "- SLOW `notebooks/00_x.ipynb`: cell 0 (In [7]) 45.0 s: b" in run_notebooks.summary_markdown([row], "t")


def test_the_browser_check_has_the_same_per_cell_limit(monkeypatch):
    import time

    import browser_check

    assert browser_check.CellWatch().limit == run_notebooks.CELL_TIMEOUT_S
    watch = browser_check.CellWatch(limit=0.2)
    watch({"running": {"index": 3, "line": "x = 1"}})
    watch({"running": {"index": 4, "line": "slow()"}})  # another cell: the clock starts again
    time.sleep(0.3)
    watch({"running": None})  # idle between cells is never a timeout
    watch({"running": {"index": 4, "line": "slow()"}})
    time.sleep(0.3)
    with pytest.raises(TimeoutError, match=r"cell 4 ran past the 0 s limit for one cell .*: slow\(\)"):
        watch({"running": {"index": 4, "line": "slow()"}})
