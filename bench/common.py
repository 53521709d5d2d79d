"""What the GPU benchmarks share: the driver stamp, device sync, and random weights that never stop."""
from __future__ import annotations

import subprocess
from typing import Any


def driver_version() -> str | None:
    """The NVIDIA driver version (``nvidia-smi``), or None without one."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def sync(device: str) -> None:
    """Wait for the GPU's queued work, so a clock read after it is honest (a no-op on a CPU)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def never_stop(model: Any) -> Any:
    """Random weights may emit end-of-sequence at any step: generate always the asked number of tokens."""
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model
