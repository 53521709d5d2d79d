"""The hub pass: every notebook and solution under the hub profile, through nbval (exercises: see NOTEBOOKS).

The stand-ins of :mod:`labkit.hub.standins` (tiny random checkpoints of the real classes, real tokenizers and
templates) go into a Hugging Face cache, and ``pytest --nbval-lax`` executes every notebook with
``HF_HUB_OFFLINE=1 HF_HUB_CACHE=<that cache> QWEN_LABS_PROFILE=hub`` in a subprocess (this process runs
under the offline profile, tests/conftest.py).  ``tests/nbval_record.py`` records each notebook's wall
time, status, failing cell and peak GPU memory in ``build/hub_times.json``; a markdown table goes to
``build/hub_summary.md``.

The GPU workflow runs this same test on the real checkpoints: ``QWEN_LABS_HUB_CACHE=<cache filled by
python -m labkit.hub.download --cache DIR>`` replaces the stand-ins, ``QWEN_LABS_HUB_TIMES`` names the JSON.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import run_notebooks

pytestmark = pytest.mark.hub

ROOT = Path(__file__).resolve().parents[2]
CACHE_VAR = "QWEN_LABS_HUB_CACHE"   # a Hugging Face cache with the real checkpoints; unset: the stand-ins
TIMES_VAR = "QWEN_LABS_HUB_TIMES"   # where the record goes (default build/hub_times.json)
# Exercises are left out: each is its solution with the answers cut (tools/make_exercises.py), so the solution's
# run covers every line of it under this profile, and the offline pass runs every exercise (about a minute saved).
NOTEBOOKS = [str(p.relative_to(ROOT)) for p in run_notebooks.notebooks(include_all=True)
             if p.parent.name != "exercises"]


def hub_cache() -> Path:
    """``$QWEN_LABS_HUB_CACHE``, else the shared build of the tiny stand-ins (reused while unchanged)."""
    if os.environ.get(CACHE_VAR):
        return Path(os.environ[CACHE_VAR])
    from labkit.hub import standins

    return standins.build()


def hub_env(cache: Path, record: Path) -> dict[str, str]:
    """This process's environment with the hub profile on ``cache`` and nothing from the network."""
    env = {k: v for k, v in os.environ.items() if k not in ("HUGGINGFACE_HUB_CACHE", "QWEN_LABS_MODELS_DIR")}
    env.update(HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(cache), QWEN_LABS_PROFILE="hub",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "tests"), env.get("PYTHONPATH")])),
               QWEN_LABS_HUB_RECORD=str(record))
    return env


def nbval_command(paths: list[str]) -> list[str]:
    """``pytest --nbval-lax`` over ``paths`` with the course's per-cell limit and the recording plugin."""
    return [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
            f"--nbval-cell-timeout={run_notebooks.CELL_TIMEOUT_S}", "-p", "no:cacheprovider",
            "-p", "nbval_record", "-o", "addopts=", "-q", "--rootdir", str(ROOT), *paths]


def summary(record: dict) -> str:
    """A markdown table of the record: notebook, status, seconds, peak GPU memory, first failure."""
    rows = [f"Hub pass on {record['models']} · {record['device']} · GPU: {record['gpu'] or 'none'}", "",
            "| notebook | status | seconds | peak GPU | failed cell |", "|---|---|---:|---:|---|"]
    for name, run in sorted(record["notebooks"].items()):
        peak = f"{run['peak_gpu_bytes'] / 2**30:.2f} GiB" if run["peak_gpu_bytes"] is not None else "-"
        failed = run["failed"] or {}
        where = f"{failed['cell']} `{failed['source']}`: {failed['error']}" if failed else ""
        rows.append(f"| {name} | {run['status']} | {run['seconds']:.1f} | {peak} | {where} |")
    total = sum(run["seconds"] for run in record["notebooks"].values())
    return "\n".join(rows + ["", f"total: {total:.0f} s over {len(record['notebooks'])} notebooks"]) + "\n"


def test_every_notebook_runs_under_the_hub_profile(capsys):
    record_path = ROOT / (os.environ.get(TIMES_VAR) or "build/hub_times.json")
    record_path.unlink(missing_ok=True)
    proc = subprocess.run(nbval_command(NOTEBOOKS), cwd=ROOT, env=hub_env(hub_cache(), record_path),
                          capture_output=True, text=True)
    assert record_path.exists(), f"nbval wrote no record (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}"
    record = json.loads(record_path.read_text(encoding="utf-8"))
    table = summary(record)
    (record_path.parent / "hub_summary.md").write_text(table, encoding="utf-8")
    with capsys.disabled():
        print("\n" + table)
    failed = [f"{name} {run['failed']['cell']} ({run['failed']['source']}): {run['failed']['error']}"
              for name, run in record["notebooks"].items() if run["failed"]]
    assert not failed, "under the hub profile:\n" + "\n".join(failed)
    assert sorted(record["notebooks"]) == sorted(NOTEBOOKS), "nbval did not run every notebook"
    assert proc.returncode == 0, proc.stdout[-3000:]
