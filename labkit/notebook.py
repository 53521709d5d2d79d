"""The first cell of every notebook, and guards for cells that need a GPU or the Hub.

``labkit.banner(profile)`` applies the notebook's ``profile`` parameter, prints
one box (profile and why, device, library versions) and makes
:class:`labkit.LabError` print as one line.  ``labkit.skip_unless(...)`` guards
a cell and says visibly when it is skipped.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .env import NOT_INSTALLED, _version, cpu_cores
from . import hub
from .errors import short_tracebacks
from .profile import set_profile


def has_gpu() -> bool:
    """True when a CUDA GPU is usable (Apple's MPS does not count: bitsandbytes needs CUDA)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def device_summary() -> str:
    """One line about the device, e.g. ``CPU (2 cores)`` or ``CUDA: NVIDIA L4 (22.0 GiB)``."""
    try:
        import torch
    except ImportError:
        return f"CPU ({cpu_cores()} cores, torch not installed)"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return f"CUDA: {props.name} ({props.total_memory / 2**30:.1f} GiB)"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "MPS (Apple GPU)"
    return f"CPU ({cpu_cores()} cores)"


def _box(lines: list[str]) -> str:
    width = max(len(line) for line in lines)
    top = "╭" + "─" * (width + 2) + "╮"
    body = [f"│ {line:<{width}} │" for line in lines]
    return "\n".join([top, *body, "╰" + "─" * (width + 2) + "╯"])


def banner(profile: str | None = None) -> None:
    """Apply the notebook's ``profile`` parameter and print the course banner.

    ``profile`` is ``"offline"``, ``"hub"``, ``"auto"`` or None (keep
    ``$QWEN_LABS_PROFILE``).  Also installs :func:`labkit.errors.short_tracebacks`.
    """
    short_tracebacks()
    choice = set_profile(profile)
    versions = " · ".join(f"{d} {_version(d) or NOT_INSTALLED}" for d in ("torch", "transformers"))
    lines = [f"qwen-labs · profile: {choice.name} ({choice.reason})", f"models from: {choice.models}",
             f"device: {device_summary()} · {versions}"]
    record_gpu_peak()
    if choice.name == "hub" and hub.is_standin(hub.DEFAULT_MODEL):
        hub.cap_standin_generation()
        lines += [f"models are random-weight stand-ins (labkit.standins): outputs are noise,",
                  f"generate() writes at most {hub.STANDIN_MAX_NEW_TOKENS} new tokens (labkit.hub.STANDIN_MAX_NEW_TOKENS)"]
    print(_box(lines))


PEAK_FILE_VAR = "QWEN_LABS_GPU_PEAK_FILE"   # set by the hub pass (tests/nbval_record.py)


def record_gpu_peak() -> bool:
    """When ``$QWEN_LABS_GPU_PEAK_FILE`` is set, write this kernel's peak GPU memory to it after every cell.

    ``torch.cuda.max_memory_allocated()`` in bytes (null without CUDA), as JSON.  The hub pass
    (``tests/test_hub_notebooks.py``, the GPU workflow) reads it after each notebook: one kernel per
    notebook, so the peak is the notebook's.  Installed by :func:`banner`; True when it installed it.
    """
    path = os.environ.get(PEAK_FILE_VAR, "").strip()
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if not path or shell is None or getattr(shell, "_qwen_labs_peak", False):
        return False

    def write(*_):
        torch = sys.modules.get("torch")
        peak = int(torch.cuda.max_memory_allocated()) if torch is not None and torch.cuda.is_available() else None
        Path(path).write_text(json.dumps({"peak_gpu_bytes": peak}), encoding="utf-8")

    shell.events.register("post_run_cell", write)
    shell._qwen_labs_peak = True
    write()
    return True


def skip_unless(condition: bool, reason: str) -> bool:
    """Return ``condition``; when it is False, print ``SKIPPED: <reason>`` so the skip is visible.

    Use it to guard a cell: ``if labkit.skip_unless(labkit.has_gpu(), "needs a CUDA GPU"): ...``
    """
    if not condition:
        print(f"SKIPPED: {reason}")
    return bool(condition)
