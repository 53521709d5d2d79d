"""The first cell of every notebook, and guards for cells that need a GPU or the Hub.

``labkit.banner(profile)`` applies the notebook's ``profile`` parameter, prints
one box (profile and why, device, library versions) and makes
:class:`labkit.LabError` print as one line.  ``labkit.skip_unless(...)`` guards
a cell and says visibly when it is skipped.

Used in notebooks 00, 01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 11, 12.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from labkit.classroom import endpoint
from labkit.env import NOT_INSTALLED, _version, cpu_cores, cuda_bf16
from labkit.errors import short_tracebacks
from labkit.hub import checkpoints, standins
from labkit.lessons.quantization import quiet_bitsandbytes
from labkit.lessons.roofline import measure_cpu_bandwidth
from labkit.profile import accelerator, set_profile


def has_gpu() -> bool:
    """True when a CUDA GPU is usable (Apple's MPS does not count: bitsandbytes needs CUDA)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def device_summary() -> str:
    """One line about the device, e.g. ``CPU (2 cores)`` or ``CUDA: NVIDIA L4 (22.0 GiB) · bfloat16``.

    On a GPU it names the 16-bit dtype the course loads models in (:func:`labkit.env.gpu_dtype`): float16 on
    a GPU without native bfloat16 (the T4 of free Colab).
    """
    try:
        import torch
    except ImportError:
        return f"CPU ({cpu_cores()} cores, torch not installed)"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        dtype = ("bfloat16" if cuda_bf16() else
                 f"no native bfloat16 (compute capability {props.major}.{props.minor}): models load in float16")
        return f"CUDA: {props.name} ({props.total_memory / 2**30:.1f} GiB) · {dtype}"
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

    ``profile`` is ``"offline"``, ``"hub"``, ``"class"``, ``"auto"`` or None (keep
    ``$QWEN_LABS_PROFILE``).  Also installs :func:`labkit.errors.short_tracebacks`.
    """
    short_tracebacks()
    quiet_progress_bars()
    quiet_bitsandbytes()
    choice = set_profile(profile)
    versions = " · ".join(f"{d} {_version(d) or NOT_INSTALLED}" for d in ("torch", "transformers"))
    lines = [f"qwen-labs · profile: {choice.name} ({choice.reason})", f"models from: {choice.models}",
             f"device: {device_summary()} · {versions}"]
    record_gpu_peak()
    standin = choice.name == "hub" and standins.is_standin(checkpoints.DEFAULT_MODEL)
    if choice.name == "hub" and accelerator() is None and not standin:
        lines += cpu_hub_notice()
    if choice.name == "class":
        lines += class_lines()
    if standin:
        standins.cap_standin_generation()
        standins.cap_standin_requests()
        standins.label_standin_outputs()
        lines += ["models are random-weight stand-ins (labkit.hub.standins): outputs are noise,",
                  f"generate() writes at most {standins.STANDIN_MAX_NEW_TOKENS} new tokens "
                  "(labkit.hub.standins.STANDIN_MAX_NEW_TOKENS)"]
    print(_box(lines))


def class_lines() -> list[str]:
    """Banner lines for the class profile: which server the chat-API sections use, and what stays in the kernel."""
    key = "a key" if endpoint.api_key() != endpoint.NO_KEY else f"no key (${endpoint.KEY_VAR} is empty)"
    model = endpoint.named_model() or "the first it lists"
    return [f"class server: {endpoint.base_url()} · model: {model} · {key}",
            f"at most {endpoint.max_parallel()} requests in flight per client (${endpoint.PARALLEL_VAR}); "
            "the class server answers notebook 08's load test",
            "and notebook 10's server sections; what needs weights in this kernel runs the nano model"]


def cpu_hub_notice() -> list[str]:
    """Banner lines for the hub profile on a CPU: how slow the real checkpoints will be, measured, and the ways out.

    Each new token reads every weight once, so decoding is bounded by memory bandwidth: the ceiling is the
    machine's measured bandwidth over the bf16 weights of the default model (the real speed is lower).
    """
    model = checkpoints.get(checkpoints.DEFAULT_MODEL)
    bandwidth_gb_s = measure_cpu_bandwidth(megabytes=128, repeats=3)
    ceiling = bandwidth_gb_s * 1e9 / model.download_bytes
    return [f"hub profile on a CPU: the real checkpoints run here, slowly. Each new token reads all "
            f"{model.download_gb:.2f} GB of {model.name};",
            f"at this machine's {bandwidth_gb_s:.0f} GB/s that is at most {ceiling:.0f} tokens/s (measured ceiling; "
            "the real speed is lower) and a notebook takes many minutes.",
            "Faster: a CUDA GPU (on Colab: Runtime > Change runtime type), or QWEN_LABS_PROFILE=offline (the nano model)."]


PEAK_FILE_VAR = "QWEN_LABS_GPU_PEAK_FILE"   # set by the hub pass (tests/nbval_record.py)


def record_gpu_peak() -> bool:
    """When ``$QWEN_LABS_GPU_PEAK_FILE`` is set, write this kernel's peak GPU memory to it after every cell.

    ``torch.cuda.max_memory_allocated()`` in bytes (null without CUDA), as JSON.  The hub pass
    (``tests/notebooks/test_hub_notebooks.py``, the GPU workflow) reads it after each notebook: one kernel per
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


def quiet_progress_bars() -> bool:
    """Turn transformers' and the Hub's progress bars off in an unattended notebook; True if it did.

    papermill (the course's runner and its tests) executes a notebook through nbclient, which
    sends every cell without stdin.  There a bar is a widget that no front end updates, so the
    executed copy shows ``Loading weights:   0%|`` as if loading had stuck.  JupyterLab, Colab
    and VS Code allow ``input()``: there the bars stay, move and finish.  Outside a Jupyter
    kernel (a script, a terminal) nothing changes.
    """
    ipython = sys.modules.get("IPython")  # a kernel has imported it; a plain script need not pay for it
    shell = ipython.get_ipython() if ipython is not None else None
    kernel = getattr(shell, "kernel", None)
    if kernel is None or getattr(kernel, "_allow_stdin", True):
        return False
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()  # read by transformers when it is imported later
    hf_logging = sys.modules.get("transformers.utils.logging")
    if hf_logging is not None:  # transformers already imported: it keeps its own switch
        hf_logging.disable_progress_bar()
    return True
