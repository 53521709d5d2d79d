"""tools/run_notebooks.py: failures are caught and reported, times are recorded."""
from __future__ import annotations

import json

import nbformat
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
    assert text.splitlines()[0].split(" | ") == ["notebook            ", "status", "seconds"]
    assert text.splitlines()[2].endswith("| ok     |     3.2")
