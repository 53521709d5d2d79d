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
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = ROOT / "build" / "executed"
TIMES = ROOT / "build" / "notebook_times.json"
FOLDERS = ("notebooks", "exercises", "solutions")
KERNEL = "qwen-labs"  # registered by run.sh for .venv; else the python3 kernel of this interpreter


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


def _printed_by_failed_cell(executed: Path) -> str:
    """What the failed cell printed (a LabError shown by short_tracebacks is printed, not raised)."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # noqa: BLE001
        return ""
    for cell in nb.cells:
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "failed":
            return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")
    return ""


def _error_text(exc: BaseException, executed: Path) -> str:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:  # papermill.exceptions.PapermillExecutionError
        where = f"cell {exc.exec_count}: " if getattr(exc, "exec_count", None) else ""
        text = f"{where}{ename}: {evalue}" if evalue else where + (_printed_by_failed_cell(executed) or ename)
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:397] + "..."


def run_notebook(path: str | Path, out_dir: str | Path = EXECUTED, profile: str = "offline",
                 timeout: int = 1800) -> tuple[str, float, str | None]:
    """Execute one notebook with ``profile``; return ``(status, seconds, error)``.

    ``status`` is ``"ok"`` or ``"failed"``; ``error`` is a one-line message (None
    when ok).  The executed copy is written to ``out_dir/<folder>/<name>.ipynb``,
    and the notebook runs in its own folder, as in Jupyter.
    """
    import papermill as pm

    path = Path(path).resolve()
    out = Path(out_dir) / path.parent.name / path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    env_profile = os.environ.get("QWEN_LABS_PROFILE")
    os.environ["QWEN_LABS_PROFILE"] = profile  # the kernel inherits it, as well as the parameter
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(path), str(out), parameters={"profile": profile}, kernel_name=kernel_name(),
                            cwd=str(path.parent), progress_bar=False, log_output=False,
                            execution_timeout=timeout,
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
    try:
        from labkit.notebook import device_summary

        return f"{device_summary()}, {platform.system()} {platform.machine()}"
    except Exception:  # noqa: BLE001
        return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"


def record_times(rows: list[dict], path: Path = TIMES) -> None:
    """Merge ``rows`` ({notebook, status, seconds, profile}) into ``build/notebook_times.json``."""
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
                                              "profile": row["profile"], "machine": machine, "when": stamp}
    data["notebooks"] = dict(sorted(data["notebooks"].items()))
    path.write_text(json.dumps(data, indent=2) + "\n")


def table(rows: list[dict]) -> str:
    """The ``notebook | status | seconds`` table."""
    width = max([len("notebook")] + [len(r["notebook"]) for r in rows])
    lines = [f"{'notebook':<{width}} | status | seconds", f"{'-' * width}-|--------|--------"]
    lines += [f"{r['notebook']:<{width}} | {r['status']:<6} | {r['seconds']:>7.1f}" for r in rows]
    return "\n".join(lines)


def summary_markdown(rows: list[dict], title: str) -> str:
    """A job-summary section: ``title``, the :func:`table` (a GitHub markdown table as it is), the total
    and the failures."""
    lines = [f"### {title}", "", table(rows), "", f"total {sum(r['seconds'] for r in rows):.1f} s"]
    lines += [f"- FAILED `{r['notebook']}`: {r.get('error') or 'see the log'}" for r in rows if r["status"] != "ok"]
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
             "error": None} for name, r in data.items()]


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
                    choices=["offline", "hub", "auto"], help="the profile parameter (default: offline)")
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
                     "error": error})
    bar.close()
    record_times(rows)
    print(table(rows))
    append_summary(args.summary_md, rows, f"notebook times ({args.profile} profile, {_machine()})")
    print(f"total {sum(r['seconds'] for r in rows):.1f} s, profile {args.profile}; "
          f"executed copies in {EXECUTED.relative_to(ROOT)}/, times in {TIMES.relative_to(ROOT)}")
    failed = [r for r in rows if r["status"] != "ok"]
    for r in failed:
        print(f"FAILED {r['notebook']}: {r['error']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
