"""Execute the course notebooks with papermill and print a table of timings.

    python tools/run_notebooks.py            # notebooks/
    python tools/run_notebooks.py --all      # notebooks/, exercises/ and solutions/
    python tools/run_notebooks.py --profile hub notebooks/00_setup_and_hardware.ipynb
    python tools/run_notebooks.py --all --summary-md "$GITHUB_STEP_SUMMARY"   # also append a markdown table
    python tools/run_notebooks.py --from-times build/notebook_times.json --summary-md "$GITHUB_STEP_SUMMARY"

Executed copies go to build/executed/<folder>/<name>.ipynb and the timings to
build/notebook_times.json.  Exits with 1 if any notebook fails.  The tests reuse
:func:`run_notebook`.  ``--from-times`` runs nothing: it shows the times a run recorded (the CI job
runs the notebooks through pytest, which records them there).

Every cell has :data:`CELL_TIMEOUT_S`: a cell that runs past it is interrupted and the run fails
naming the notebook, the cell and its first line.  Cells slower than :data:`SLOW_CELL_S` are
flagged in the table.  Notebooks run on papermill's nbclient engine with one fix, see
:class:`_OutputWidget`.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = ROOT / "build" / "executed"
TIMES = ROOT / "build" / "notebook_times.json"
FOLDERS = ("notebooks", "exercises", "solutions")
KERNEL = "qwen-labs"  # registered by run.sh for .venv; else the python3 kernel of this interpreter
CELL_TIMEOUT_S = 180  # per cell, for every runner (also tools/browser_check.py): no course cell needs minutes
SLOW_CELL_S = 30      # cells slower than this are flagged in the timings table
ENGINE = "qwen-labs"  # the papermill engine registered by _register_engine()
# A cell that builds ipywidgets (labkit's widget makers or ipywidgets itself).
WIDGET_CODE = re.compile(r"\b(chat_widget|sampling_explorer|selection_form|interact(ive)?)\(|\bipywidgets\b")


def kernel_name() -> str:
    """``qwen-labs`` when that kernel runs this very interpreter, else ``python3``.

    Either way papermill starts the kernel with ``sys.executable``: the
    ``python3`` kernel spec of ipykernel says ``python``, which jupyter_client
    replaces by the running interpreter.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        return "python3"
    same = Path(spec.argv[0]).absolute() == Path(sys.executable).absolute()
    return KERNEL if same else "python3"


def notebooks(include_all: bool = False) -> list[Path]:
    """The notebooks to run, in sorted order: notebooks/ (and exercises/, solutions/ with ``include_all``)."""
    folders = FOLDERS if include_all else FOLDERS[:1]
    return [p for folder in folders for p in sorted((ROOT / folder).glob("*.ipynb"))]


def widget_cells(path: str | Path) -> list[int]:
    """Indices of the code cells of notebook ``path`` that build ipywidgets (:data:`WIDGET_CODE`)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and WIDGET_CODE.search(c.source)]


def _first_line(source: str) -> str:
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= 80 else line[:77] + "..."


@functools.cache
def _register_engine() -> None:
    """Register :data:`ENGINE` with papermill: its nbclient engine with :class:`_CourseClient`.

    Done once, on first use (papermill and nbclient are imported here, not when this module is).
    """
    import papermill.engines as pe
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    from nbclient.jsonutil import json_clean
    from nbclient.output_widget import OutputWidget
    from nbclient.util import run_sync
    from nbformat.v4 import new_output
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.log import logger

    class _OutputWidget(OutputWidget):
        """nbclient's stand-in for an ``ipywidgets.Output``, without its random stall (4-5 % of such cells).

        While a cell runs, nbclient waits for the kernel's reply on the shell socket (an asyncio
        ``zmq`` socket).  Each output the cell writes into an Output widget (``with out:``) makes
        this stand-in send the widget's new state to the kernel on that same socket.  nbclient sends
        it with ``Session.send``, which uses a plain blocking shadow of the socket: libzmq then takes
        the socket's pending notification (its file descriptor is edge-triggered) without telling
        pyzmq's asyncio layer, so when the reply has just arrived nothing wakes the waiting reader.
        The cell then "hangs" until the per-cell timeout, after which pyzmq's last poll finds the
        reply and the cell passes (1,800 s, then "ok").  Sending through the asyncio socket itself
        lets pyzmq re-check the socket for a waiting reader after the send.
        """

        def _publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            content = json_clean(dict(data=data or {}, comm_id=self.comm_id, **keys))
            session = self.kernel_client.session
            msg = session.msg(msg_type, content=content, parent=self.parent_header, metadata=metadata or {})
            self.kernel_client.shell_channel.socket.send_multipart(session.serialize(msg))

    class _CourseClient(PapermillNotebookClient):
        """papermill's client with the fixed Output widget and a cell timeout that names the cell."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.widget_registry = {"@jupyter-widgets/output": {"OutputModel": _OutputWidget}}

        async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
            try:
                return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
            except CellTimeoutError as exc:
                await self._async_interrupt()  # frees the kernel for papermill's last request
                message = (f"ran past the {self.timeout} s limit for one cell (CELL_TIMEOUT_S in "
                           f"tools/run_notebooks.py; nbclient: {str(exc).splitlines()[0]})")
                cell.outputs.append(new_output("error", ename="CellTimeoutError", evalue=message,
                                               traceback=[f"CellTimeoutError: {message}"]))
                raise CellExecutionError(message, "CellTimeoutError", message) from exc

        execute_cell = run_sync(async_execute_cell)  # papermill calls the sync one

        async def _async_interrupt(self):
            try:
                await self.km.interrupt_kernel()
            except Exception:  # noqa: BLE001 (a dead kernel is reported by what follows)
                pass

    class _CourseEngine(pe.NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
            kwargs = {k: v for k, v in kwargs.items() if k not in ("input_path", "timeout", "startup_timeout")}
            return _CourseClient(nb_man, timeout=execution_timeout, startup_timeout=start_timeout,
                                 kernel_name=kernel_name, log=logger, log_output=log_output,
                                 stdout_file=stdout_file, stderr_file=stderr_file, **kwargs).execute()

    pe.papermill_engines.register(ENGINE, _CourseEngine)


def _running_cell(executed: Path) -> str:
    """``cell N (In [k]): first line`` of the cell papermill marked running or failed ('' if none)."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # noqa: BLE001
        return ""
    for i, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("papermill", {}).get("status") in ("running", "failed"):
            return _cell_name(nb, i)
    return ""


_ADDED_BY_PAPERMILL = ("injected-parameters", "papermill-error-cell-tag")


def _source_index(nb, index: int) -> int:
    """The index in the source notebook of cell ``index`` of an executed copy (without the cells
    papermill adds: injected parameters, error banners)."""
    return index - sum(any(t in _ADDED_BY_PAPERMILL for t in c.get("metadata", {}).get("tags", []))
                       for c in nb.cells[:index])


def _cell_name(nb, index: int) -> str:
    """``cell 4 (In [3]): first line``, with the cell's index in the source notebook."""
    cell = nb.cells[index]
    count = cell.get("execution_count")
    return f"cell {_source_index(nb, index)}{f' (In [{count}])' if count else ''}: {_first_line(cell.source)}"


def _error_text(exc: BaseException, executed: Path) -> str:
    """One line: the failing cell and its error (a LabError's own message)."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:  # papermill.exceptions.PapermillExecutionError
        where = _running_cell(executed) or f"cell In [{exc.exec_count}]"
        text = f"{where} -> {ename}: {evalue}" if evalue else f"{where} -> {ename}"
    else:
        where = _running_cell(executed)
        text = f"{where + ' -> ' if where else ''}{type(exc).__name__}: {exc}"
    text = " ".join(str(text).split())
    return text if len(text) <= 500 else text[:497] + "..."


def slow_cells(executed: str | Path, threshold: float = SLOW_CELL_S) -> list[dict]:
    """The cells of an executed copy that ran longer than ``threshold`` seconds, slowest first.

    Each is ``{"cell", "execution_count", "seconds", "source"}`` (papermill's ``duration``).
    """
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # noqa: BLE001 (no copy: nothing to flag)
        return []
    found = []
    for i, cell in enumerate(nb.cells):
        seconds = cell.get("metadata", {}).get("papermill", {}).get("duration")
        if cell.cell_type == "code" and seconds is not None and seconds > threshold:
            found.append({"cell": _source_index(nb, i), "execution_count": cell.get("execution_count"),
                          "seconds": round(seconds, 1), "source": _first_line(cell.source)})
    return sorted(found, key=lambda c: -c["seconds"])


def describe_slow(cells: list[dict]) -> str:
    """``cell 40 (In [23]) 41.0 s: trainer.train()``, one per cell, '; '-separated."""
    return "; ".join(f"cell {c['cell']}" + (f" (In [{c['execution_count']}])" if c.get("execution_count") else "")
                     + f" {c['seconds']:.1f} s: {c['source']}" for c in cells)


def run_notebook(path: str | Path, out_dir: str | Path = EXECUTED, profile: str = "offline",
                 timeout: int = CELL_TIMEOUT_S) -> tuple[str, float, str | None]:
    """Execute one notebook with ``profile``; return ``(status, seconds, error)``.

    ``status`` is ``"ok"`` or ``"failed"``; ``error`` is a one-line message naming the failing
    cell (None when ok).  ``timeout`` applies to each cell.  The executed copy is written to
    ``out_dir/<folder>/<name>.ipynb`` (its cells' times: :func:`slow_cells`), and the notebook runs
    in its own folder, as in Jupyter.
    """
    import papermill as pm

    _register_engine()
    path = Path(path).resolve()
    out = Path(out_dir) / path.parent.name / path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    env_profile = os.environ.get("QWEN_LABS_PROFILE")
    os.environ["QWEN_LABS_PROFILE"] = profile  # the kernel inherits it, as well as the parameter
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(path), str(out), parameters={"profile": profile}, kernel_name=kernel_name(),
                            cwd=str(path.parent), progress_bar=False, log_output=False,
                            execution_timeout=timeout, engine_name=ENGINE,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])  # no TCP-encryption warning
        status, error = "ok", None
    except Exception as exc:  # noqa: BLE001 (any failure is reported, not raised)
        status, error = "failed", _error_text(exc, out)
    finally:
        if env_profile is None:
            os.environ.pop("QWEN_LABS_PROFILE", None)
        else:
            os.environ["QWEN_LABS_PROFILE"] = env_profile
    return status, round(time.perf_counter() - start, 1), error


def _machine() -> str:
    threads = os.environ.get("OMP_NUM_THREADS")   # bash run.sh test: 1 (two test processes share the cores)
    per_process = f", {threads} thread{'' if threads == '1' else 's'} per process" if threads else ""
    try:
        from labkit.notebook import device_summary

        return f"{device_summary()}{per_process}, {platform.system()} {platform.machine()}"
    except Exception:  # noqa: BLE001
        return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs{per_process}"


def record_times(rows: list[dict], path: Path = TIMES) -> None:
    """Merge ``rows`` ({notebook, status, seconds, profile}, optional slow_cells) into
    ``build/notebook_times.json``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    data.setdefault("notebooks", {})
    machine = _machine()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    for row in rows:
        data["notebooks"][row["notebook"]] = {"status": row["status"], "seconds": row["seconds"],
                                              "profile": row["profile"], "machine": machine, "when": stamp,
                                              "slow_cells": row.get("slow_cells") or []}
    data["notebooks"] = dict(sorted(data["notebooks"].items()))
    path.write_text(json.dumps(data, indent=2) + "\n")


SLOW_HEADER = f"cells over {SLOW_CELL_S} s"


def table(rows: list[dict]) -> str:
    """The ``notebook | status | seconds | cells over 30 s`` table (a row's ``slow_cells``, from
    :func:`slow_cells`: ``cell 40 (41.0 s)``, or nothing)."""
    width = max([len("notebook")] + [len(r["notebook"]) for r in rows])
    lines = [f"{'notebook':<{width}} | status | seconds | {SLOW_HEADER}",
             f"{'-' * width}-|--------|---------|-{'-' * len(SLOW_HEADER)}"]
    for r in rows:
        slow = ", ".join(f"cell {c['cell']} ({c['seconds']:.1f} s)" for c in r.get("slow_cells") or [])
        lines.append(f"{r['notebook']:<{width}} | {r['status']:<6} | {r['seconds']:>7.1f} | {slow}".rstrip())
    return "\n".join(lines)


def summary_markdown(rows: list[dict], title: str) -> str:
    """A job-summary section: ``title``, the :func:`table` (a GitHub markdown table as it is), the total
    and the failures."""
    lines = [f"### {title}", "", table(rows), "", f"total {sum(r['seconds'] for r in rows):.1f} s"]
    lines += [f"- FAILED `{r['notebook']}`: {r.get('error') or 'see the log'}" for r in rows if r["status"] != "ok"]
    lines += [f"- SLOW `{r['notebook']}`: {describe_slow(r['slow_cells'])}" for r in rows if r.get("slow_cells")]
    return "\n".join(lines) + "\n\n"


def append_summary(path: str | None, rows: list[dict], title: str) -> None:
    """Append :func:`summary_markdown` to ``path`` (``$GITHUB_STEP_SUMMARY``); nothing when it is empty."""
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(summary_markdown(rows, title))


def rows_from_times(path: Path) -> list[dict]:
    """The rows recorded in ``path`` (the format of :func:`record_times`)."""
    data = json.loads(Path(path).read_text()).get("notebooks", {})
    return [{"notebook": name, "status": r["status"], "seconds": r["seconds"], "profile": r.get("profile"),
             "error": None, "slow_cells": r.get("slow_cells") or []} for name, r in data.items()]


def _show_times(path: Path, summary: str | None) -> int:
    try:
        rows = rows_from_times(path)
    except (OSError, ValueError) as exc:
        print(f"no notebook times in {path}: {exc}")
        if summary:
            with open(summary, "a", encoding="utf-8") as f:
                f.write(f"### notebook times\n\nno notebook times in `{path}` (did the notebook tests run?)\n\n")
        return 1
    profiles = ", ".join(sorted({str(r["profile"]) for r in rows}))
    print(table(rows))
    append_summary(summary, rows, f"notebook times ({profiles} profile, from {path})")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=Path, help="notebooks to run (default: notebooks/*.ipynb)")
    ap.add_argument("--all", action="store_true", help="also run exercises/ and solutions/")
    ap.add_argument("--profile", default=os.environ.get("QWEN_LABS_PROFILE") or "offline",
                    choices=["offline", "hub", "class", "auto"], help="the profile parameter (default: offline)")
    ap.add_argument("--summary-md", metavar="PATH",
                    help='also append the table in markdown to PATH, e.g. "$GITHUB_STEP_SUMMARY" (empty: none)')
    ap.add_argument("--from-times", metavar="JSON", type=Path,
                    help="run nothing; show the times recorded in JSON (e.g. build/notebook_times.json)")
    args = ap.parse_args(argv)
    if args.from_times:
        return _show_times(args.from_times, args.summary_md)

    from tqdm import tqdm

    paths = [p.resolve() for p in args.paths] or notebooks(args.all)
    if not paths:
        print("no notebooks found")
        return 1
    rows = []
    bar = tqdm(paths, unit="notebook", file=sys.stdout)
    for path in bar:
        name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        bar.set_description(name)
        status, seconds, error = run_notebook(path, EXECUTED, args.profile)
        rows.append({"notebook": name, "status": status, "seconds": seconds, "profile": args.profile,
                     "error": error, "slow_cells": slow_cells(EXECUTED / path.parent.name / path.name)})
    bar.close()
    record_times(rows)
    print(table(rows))
    append_summary(args.summary_md, rows, f"notebook times ({args.profile} profile, {_machine()})")
    print(f"total {sum(r['seconds'] for r in rows):.1f} s, profile {args.profile}; "
          f"executed copies in {EXECUTED.relative_to(ROOT)}/, times in {TIMES.relative_to(ROOT)}")
    failed = [r for r in rows if r["status"] != "ok"]
    for r in rows:
        if r["slow_cells"]:
            print(f"SLOW {r['notebook']} (cells over {SLOW_CELL_S} s): {describe_slow(r['slow_cells'])}")
    for r in failed:
        print(f"FAILED {r['notebook']}: {r['error']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
