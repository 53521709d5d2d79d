"""pytest plugin of the hub pass: each notebook's wall time, status, failing cell and peak GPU memory.

Loaded into the nbval run that ``tests/notebooks/test_hub_notebooks.py`` (and the GPU workflow) starts::

    pytest --nbval-lax -p nbval_record notebooks exercises solutions     # tests/ on PYTHONPATH

nbval runs one kernel per notebook, one test item per cell.  ``labkit.banner`` (the first cell of every
notebook) makes the kernel write its ``torch.cuda.max_memory_allocated()`` to ``$QWEN_LABS_GPU_PEAK_FILE``
after every cell (:func:`labkit.notebook.record_gpu_peak`); this plugin reads it after each cell and writes
``$QWEN_LABS_HUB_RECORD`` (JSON: device, GPU name, library versions, and per notebook its seconds, peak GPU
bytes, status and the first failing cell).
"""
from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

from labkit.notebook import PEAK_FILE_VAR

RECORD_VAR = "QWEN_LABS_HUB_RECORD"
VERSIONS = ("torch", "transformers", "accelerate", "peft", "trl", "bitsandbytes", "vllm", "nbval", "labkit")
SLOW_CELL_S = 20   # cells slower than this are listed under the notebook ("slow_cells")
_runs: dict[str, dict] = {}
_sources: dict[str, str] = {}


def _versions() -> dict[str, str | None]:
    from labkit.env import _version

    found = {d: _version(d) for d in VERSIONS if d != "labkit"}
    from labkit import __version__

    return {**found, "labkit": __version__, "python": platform.python_version()}


def _gpu() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= 80 else line[:77] + "..."


def pytest_configure(config) -> None:
    if not os.environ.get(PEAK_FILE_VAR):
        os.environ[PEAK_FILE_VAR] = str(Path(tempfile.mkdtemp(prefix="qwen-labs-peak-")) / "peak.json")


def pytest_runtest_setup(item) -> None:
    cell = getattr(item, "cell", None)
    _sources[item.nodeid] = _first_line(cell.source if cell is not None else "")


def pytest_runtest_logstart(nodeid, location) -> None:
    notebook = nodeid.split("::")[0]
    if notebook not in _runs:
        Path(os.environ[PEAK_FILE_VAR]).unlink(missing_ok=True)   # a fresh kernel: its own peak only
        _runs[notebook] = {"status": "ok", "seconds": 0.0, "peak_gpu_bytes": None, "cells": 0,
                           "failed": None, "slow_cells": [], "_start": time.perf_counter()}


def pytest_runtest_logreport(report) -> None:
    run = _runs.get(report.nodeid.split("::")[0])
    if run is None:
        return
    if report.when == "call" and report.duration >= SLOW_CELL_S:
        run["slow_cells"].append({"cell": report.nodeid.split("::", 1)[-1], "seconds": round(report.duration, 1),
                                  "source": _sources.get(report.nodeid, "")})
    if not report.failed or run["failed"]:
        return
    lines = [line for line in report.longreprtext.splitlines() if line.strip()]
    run["status"] = "failed"
    run["failed"] = {"cell": report.nodeid.split("::", 1)[-1], "source": _sources.get(report.nodeid, ""),
                     "error": (lines[-1].strip()[:300] if lines else report.when)}


def pytest_runtest_logfinish(nodeid, location) -> None:
    run = _runs[nodeid.split("::")[0]]
    run["cells"] += 1
    run["seconds"] = round(time.perf_counter() - run["_start"], 2)
    try:
        peak = json.loads(Path(os.environ[PEAK_FILE_VAR]).read_text(encoding="utf-8"))["peak_gpu_bytes"]
    except (OSError, ValueError, KeyError):
        return
    if peak is not None:
        run["peak_gpu_bytes"] = max(peak, run["peak_gpu_bytes"] or 0)


def pytest_sessionfinish(session, exitstatus) -> None:
    out = os.environ.get(RECORD_VAR)
    if not out:
        return
    from labkit.notebook import device_summary

    record = {"profile": os.environ.get("QWEN_LABS_PROFILE"), "models": os.environ.get("HF_HUB_CACHE"),
              "device": device_summary(), "gpu": _gpu(), "versions": _versions(),
              "recorded": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              "notebooks": {name: {k: v for k, v in run.items() if not k.startswith("_")}
                            for name, run in _runs.items()}}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
