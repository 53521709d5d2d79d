"""Load the course's model for the active profile.

``load_model()`` returns ``(model, tokenizer)``:

* offline profile: the nano Qwen3 shipped in ``labkit/nano/nano_qwen3`` (a real
  ``Qwen3ForCausalLM`` in Hugging Face layout; see its ``MODEL_CARD.md``);
* hub profile: ``Qwen/Qwen3-0.6B``, or the model id you pass, from a local folder
  (``$QWEN_LABS_MODELS_DIR``), the Hugging Face cache (``HF_HUB_OFFLINE=1`` works) or the Hub;
  a model found nowhere, or a broken copy, is a one-line :class:`LabError` (see :mod:`labkit.hub`).

Both load through ``AutoModelForCausalLM`` / ``AutoTokenizer`` exactly as the
official Qwen quick start does.

Used in notebooks 00, 01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 11, 12.
"""
from __future__ import annotations

from pathlib import Path

from labkit.env import cuda_bf16, gpu_dtype
from labkit.errors import LabError
from labkit.hub import checkpoints, lookup
from labkit.profile import ENV_VAR, choose_profile

NANO_DIR = Path(__file__).parent / "nano" / "nano_qwen3"
DEFAULT_HUB_MODEL = checkpoints.DEFAULT_MODEL
NANO_ID = "labkit/nano-qwen3"


NANO_DIRS = {"qwen3": NANO_DIR, "qwen3.5": Path(__file__).parent / "nano" / "nano_qwen3_5"}
_REBUILD = {"qwen3": "python -m labkit.nano.train --all", "qwen3.5": "python -m labkit.nano.qwen35.train"}


def nano_path(family: str = "qwen3") -> Path:
    """The directory of a shipped nano model (loadable with ``from_pretrained``): the nano Qwen3 (the course's
    offline model), or ``"qwen3.5"``: the nano Qwen3.5 (``Qwen3_5ForConditionalGeneration``, text and images)."""
    if family not in NANO_DIRS:
        raise LabError(f"there is no nano model for {family!r}.", f"use one of: {', '.join(NANO_DIRS)}.")
    folder = NANO_DIRS[family]
    if not (folder / "model.safetensors").exists():
        raise LabError(f"the nano model is missing from {folder}.",
                       f"reinstall the course (pip install -e .) or rebuild it: {_REBUILD[family]}")
    return folder


def resolve_model_id(model_id: str | None = None) -> str:
    """The model id or path the active profile will load.

    Under the hub profile: the model's local folder (``$QWEN_LABS_MODELS_DIR``), else its Hub id
    when the Hugging Face cache holds a complete copy or the Hub answers, else a :class:`LabError`
    naming the model, its size and the command that fetches it (or, for a broken copy, the fix).
    """
    choice = choose_profile()
    if model_id is None:
        return str(nano_path()) if choice.local == "offline" else _available(DEFAULT_HUB_MODEL)
    if model_id == NANO_ID:
        return str(nano_path())
    if Path(model_id).is_dir():
        return model_id
    if choice.local == "offline":
        raise LabError(
            f"{model_id!r} is a Hub model, but the active profile is offline ({choice.reason}).",
            f"run with {ENV_VAR}=hub (or the notebook parameter profile='hub') on a machine with internet, "
            "or call load_model() with no id to get the nano model.")
    if "/" not in model_id:
        raise LabError(f"{model_id!r} is not a Hub model id.", "use the form 'Qwen/Qwen3-0.6B'.")
    return _available(model_id)


def _available(repo_id: str) -> str:
    """``repo_id`` (or its local folder) when it can be loaded here, else the one-line LabError."""
    loc = lookup.locate(repo_id)
    if loc.state == "local":
        return str(loc.path)
    if lookup.hub_reachable():
        return repo_id
    if loc.state == "cached":
        lookup.go_offline()   # the Hub is out of reach: read the cache only, no retries against the network
        return repo_id
    raise lookup.unavailable_error(loc, lookup.hub_host(), lookup.offline_env())


def _hub_kwargs(target: str) -> dict:
    """``cache_dir`` (read from the environment now) and ``local_files_only`` when the Hub is out of reach."""
    if Path(target).is_dir():
        return {}
    return {"cache_dir": str(lookup.cache_dir()), "local_files_only": lookup.offline_env() or not lookup.hub_reachable()}


def default_dtype(is_nano: bool):
    """The dtype :func:`load_model` uses when none is given.

    On a CUDA GPU: the checkpoint's own (``"auto"``: bfloat16) where bfloat16 is native, float16 on a GPU
    without it (:func:`labkit.env.gpu_dtype`: the T4).  On a CPU: float32 for the nano model (faster than
    bfloat16 there), the checkpoint's own dtype for a real one (half the memory of float32).
    """
    import torch

    if torch.cuda.is_available():
        return "auto" if cuda_bf16() else gpu_dtype()
    return torch.float32 if is_nano else "auto"


def load_model(model_id: str | None = None, *, dtype=None, device_map=None, **kwargs):
    """Return ``(model, tokenizer)`` for the active profile.

    ``dtype`` defaults to float32 for the nano model on CPU (faster than bfloat16
    there), to float16 on a GPU without native bfloat16 (:func:`labkit.env.gpu_dtype`: the T4),
    and to ``"auto"`` (the checkpoint's own dtype, bfloat16) otherwise.  Extra
    keyword arguments go to ``from_pretrained`` (e.g. ``quantization_config``).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = resolve_model_id(model_id)
    is_nano = Path(target).resolve() == NANO_DIR.resolve()
    if dtype is None:
        dtype = default_dtype(is_nano)
    if device_map is None and torch.cuda.is_available():
        device_map = "auto"
    where = _hub_kwargs(target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(target, **where)
        model = AutoModelForCausalLM.from_pretrained(target, dtype=dtype, device_map=device_map, **{**where, **kwargs})
    except OSError as exc:
        loc = lookup.locate(target) if where else None
        if loc is not None and loc.state == "broken":
            raise lookup.unavailable_error(loc, lookup.hub_host(), lookup.offline_env()) from None
        raise LabError(f"could not load {target!r}: {str(exc).splitlines()[0]}",
                       "check the model id (e.g. 'Qwen/Qwen3-0.6B') and your connection, "
                       "or use the offline profile.") from None
    model.eval()
    return model, tokenizer
