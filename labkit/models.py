"""Load the course's model for the active profile.

``load_model()`` returns ``(model, tokenizer)``:

* offline profile: the nano Qwen3 shipped in ``labkit/nano_model`` (a real
  ``Qwen3ForCausalLM`` in Hugging Face layout; see its ``MODEL_CARD.md``);
* hub profile: ``Qwen/Qwen3-0.6B``, or the model id you pass, from a local folder
  (``$QWEN_LABS_MODELS_DIR``), the Hugging Face cache (``HF_HUB_OFFLINE=1`` works) or the Hub;
  a model found nowhere, or a broken copy, is a one-line :class:`LabError` (see :mod:`labkit.hub`).

Both load through ``AutoModelForCausalLM`` / ``AutoTokenizer`` exactly as the
official Qwen quick start does.

Importing this module (``import labkit`` does) also calls :func:`quiet_progress_bars`:
in a notebook that nobody watches (papermill), transformers' "Loading weights" bar is
turned off, since it could only show as stuck at 0%.
"""
from __future__ import annotations

import sys
from pathlib import Path

from . import hub, profile
from .errors import LabError
from .profile import ENV_VAR, choose_profile

NANO_DIR = Path(__file__).parent / "nano_model"
DEFAULT_HUB_MODEL = hub.DEFAULT_MODEL
NANO_ID = "labkit/nano-qwen3"


def nano_path() -> Path:
    """The directory of the shipped nano model (loadable with ``from_pretrained``)."""
    if not (NANO_DIR / "model.safetensors").exists():
        raise LabError(f"the nano model is missing from {NANO_DIR}.",
                       "reinstall the course (pip install -e .) or rebuild it: python -m labkit.train_nano")
    return NANO_DIR


def resolve_model_id(model_id: str | None = None) -> str:
    """The model id or path the active profile will load.

    Under the hub profile: the model's local folder (``$QWEN_LABS_MODELS_DIR``), else its Hub id
    when the Hugging Face cache holds a complete copy or the Hub answers, else a :class:`LabError`
    naming the model, its size and the command that fetches it (or, for a broken copy, the fix).
    """
    choice = choose_profile()
    if model_id is None:
        return str(nano_path()) if choice.name == "offline" else _available(DEFAULT_HUB_MODEL)
    if model_id == NANO_ID:
        return str(nano_path())
    if Path(model_id).is_dir():
        return model_id
    if choice.name == "offline":
        raise LabError(
            f"{model_id!r} is a Hub model, but the active profile is offline ({choice.reason}).",
            f"run with {ENV_VAR}=hub (or the notebook parameter profile='hub') on a machine with internet, "
            "or call load_model() with no id to get the nano model.")
    if "/" not in model_id:
        raise LabError(f"{model_id!r} is not a Hub model id.", "use the form 'Qwen/Qwen3-0.6B'.")
    return _available(model_id)


def _available(repo_id: str) -> str:
    """``repo_id`` (or its local folder) when it can be loaded here, else the one-line LabError."""
    loc = hub.locate(repo_id)
    if loc.state == "local":
        return str(loc.path)
    if profile.hub_reachable():
        return repo_id
    if loc.state == "cached":
        hub.go_offline()   # the Hub is out of reach: read the cache only, no retries against the network
        return repo_id
    raise hub.unavailable_error(loc, profile.hub_host(), hub.offline_env())


def _hub_kwargs(target: str) -> dict:
    """``cache_dir`` (read from the environment now) and ``local_files_only`` when the Hub is out of reach."""
    if Path(target).is_dir():
        return {}
    return {"cache_dir": str(hub.cache_dir()), "local_files_only": hub.offline_env() or not profile.hub_reachable()}


def load_model(model_id: str | None = None, *, dtype=None, device_map=None, **kwargs):
    """Return ``(model, tokenizer)`` for the active profile.

    ``dtype`` defaults to float32 for the nano model on CPU (faster than bfloat16
    there) and to ``"auto"`` (the checkpoint's own dtype) otherwise.  Extra
    keyword arguments go to ``from_pretrained`` (e.g. ``quantization_config``).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = resolve_model_id(model_id)
    is_nano = Path(target).resolve() == NANO_DIR.resolve()
    if dtype is None:
        dtype = torch.float32 if is_nano and not torch.cuda.is_available() else "auto"
    if device_map is None and torch.cuda.is_available():
        device_map = "auto"
    where = _hub_kwargs(target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(target, **where)
        model = AutoModelForCausalLM.from_pretrained(target, dtype=dtype, device_map=device_map, **{**where, **kwargs})
    except OSError as exc:
        loc = hub.locate(target) if where else None
        if loc is not None and loc.state == "broken":
            raise hub.unavailable_error(loc, profile.hub_host(), hub.offline_env()) from None
        raise LabError(f"could not load {target!r}: {str(exc).splitlines()[0]}",
                       "check the model id (e.g. 'Qwen/Qwen3-0.6B') and your connection, "
                       "or use the offline profile.") from None
    model.eval()
    return model, tokenizer


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


quiet_progress_bars()
