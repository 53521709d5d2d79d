"""Widget cells never stall a headless run (papermill / nbclient, as `bash run.sh course` and the tests).

The stall: nbclient 0.11 answers a cell's captured Output-widget output on the kernel's shell
socket while it waits on that socket for the cell's reply; about one such cell in twenty then
waited until the per-cell timeout (1,800 s in one course run), found its reply and passed.
tools/run_notebooks.py fixes nbclient's Output-widget stand-in (``_OutputWidget``), and labkit's
selection form writes its table as widget state instead of capturing it.

Each test runs widget cells many times in one kernel, with a per-cell timeout far above their normal
time and a bound far below it: one stall makes the test fail, and the timeout bounds its time.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import run_notebooks

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parents[2]
WITH_WIDGETS = [p for p in run_notebooks.notebooks(include_all=True) if run_notebooks.widget_cells(p)]
REPEAT = 15          # extra runs of each course widget cell
BOUND_S = 10         # a widget cell normally takes well under a second; a stalled one until the timeout
KERNELSPEC = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}

# The pattern of the old selection form, without labkit: output captured into an Output widget.
CAPTURED = '''out = W.Output()
out.clear_output(wait=True)
with out:
    display(HTML("<table>" + "<tr><td>x</td></tr>" * 300 + "</table>"))
    print("a")
    print("b")
W.VBox([out])'''


def durations(executed: Path, first: int) -> list[tuple[int, float, str]]:
    """(cell, seconds, first line) of the code cells of an executed copy from index ``first`` on."""
    nb = nbformat.read(executed, as_version=4)
    return [(i, c.metadata["papermill"]["duration"], c.source.splitlines()[0])
            for i, c in enumerate(nb.cells) if i >= first and c.cell_type == "code"]


def run(nb: nbformat.NotebookNode, tmp_path: Path, name: str, timeout: int) -> Path:
    """Execute ``nb`` with run_notebooks (as `bash run.sh course` does), ``timeout`` s per cell."""
    src = tmp_path / "notebooks" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, src)
    status, seconds, error = run_notebooks.run_notebook(src, tmp_path / "out", profile="offline", timeout=timeout)
    assert status == "ok", f"{name} failed after {seconds} s: {error}"
    return tmp_path / "out" / "notebooks" / name


def test_the_course_has_widget_cells():
    names = {p.name for p in WITH_WIDGETS}
    assert {"01_qwen_family.ipynb", "02_generation_basics.ipynb"} <= names


def test_captured_output_widget_cells_do_not_stall(tmp_path):
    """150 cells that capture output into an Output widget: stock nbclient stalls on a few of them."""
    params = new_code_cell("profile = None")
    params.metadata["tags"] = ["parameters"]
    setup = new_code_cell("import ipywidgets as W\nfrom IPython.display import HTML, display")
    n = 150
    nb = new_notebook(cells=[params, setup] + [new_code_cell(CAPTURED) for _ in range(n)], metadata=KERNELSPEC)
    times = durations(run(nb, tmp_path, "captured.ipynb", timeout=20), first=3)  # after the injected parameters
    assert len(times) == n
    stalled = [t for t in times if t[1] > BOUND_S]
    assert not stalled, f"{len(stalled)} of {n} cells stalled (cell, seconds, line): {stalled[:5]}"


@pytest.mark.parametrize("path", WITH_WIDGETS, ids=[str(p.relative_to(ROOT)) for p in WITH_WIDGETS])
def test_course_widget_cells_do_not_stall(path, tmp_path):
    """The notebook up to its last widget cell, then each widget cell REPEAT more times."""
    nb = nbformat.read(path, as_version=4)
    cells = run_notebooks.widget_cells(path)
    head = nb.cells[: cells[-1] + 1]
    repeats = [new_code_cell(nb.cells[i].source) for i in cells for _ in range(REPEAT)]
    derived = new_notebook(cells=head + repeats, metadata=nb.metadata)
    executed = run(derived, tmp_path, path.name, timeout=run_notebooks.CELL_TIMEOUT_S)
    first = len(head) + 1  # papermill's injected-parameters cell comes first
    times = durations(executed, first)
    assert len(times) == len(repeats)
    stalled = [t for t in times if t[1] > BOUND_S]
    assert not stalled, f"{len(stalled)} of {len(times)} widget cells stalled (cell, seconds, line): {stalled[:5]}"
    shown = nbformat.read(executed, as_version=4).metadata.get("widgets", {})
    assert shown, "the executed copy holds no widget state: the widget cells built nothing"


def test_selection_form_writes_its_table_as_widget_state():
    """Not captured with `with out:` (which needs the runner's answer while the cell runs)."""
    from labkit.family import selection as S

    out = S.selection_form(task="math", memory_gb=24, hardware="gpu").children[-1]
    kinds = [o["output_type"] for o in out.outputs]
    assert kinds == ["display_data", "stream"], kinds
    assert "<table" in out.outputs[0]["data"]["text/html"]
    assert "Task mapping:" in out.outputs[1]["text"]
