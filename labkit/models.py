"""Load the course's model for the active profile.

``load_model()`` returns ``(model, tokenizer)``:

* offline profile: the nano Qwen3 shipped in ``labkit/nano_model`` (a real
  ``Qwen3ForCausalLM`` in Hugging Face layout; see its ``MODEL_CARD.md``);
* hub profile: ``Qwen/Qwen3-0.6B``, or the model id you pass, from the Hub.

Both load through ``AutoModelForCausalLM`` / ``AutoTokenizer`` exactly as the
official Qwen quick start does.
"""
from __future__ import annotations

from pathlib import Path

from .errors import LabError
from .profile import ENV_VAR, choose_profile

NANO_DIR = Path(__file__).parent / "nano_model"
DEFAULT_HUB_MODEL = "Qwen/Qwen3-0.6B"
NANO_ID = "labkit/nano-qwen3"


def nano_path() -> Path:
    """The directory of the shipped nano model (loadable with ``from_pretrained``)."""
    if not (NANO_DIR / "model.safetensors").exists():
        raise LabError(f"the nano model is missing from {NANO_DIR}.",
                       "reinstall the course (pip install -e .) or rebuild it: python -m labkit.train_nano")
    return NANO_DIR


def resolve_model_id(model_id: str | None = None) -> str:
    """The model id or path the active profile will load."""
    choice = choose_profile()
    if model_id is None:
        return str(nano_path()) if choice.name == "offline" else DEFAULT_HUB_MODEL
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
    return model_id


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
    try:
        tokenizer = AutoTokenizer.from_pretrained(target)
        model = AutoModelForCausalLM.from_pretrained(target, dtype=dtype, device_map=device_map, **kwargs)
    except OSError as exc:
        raise LabError(f"could not load {target!r}: {str(exc).splitlines()[0]}",
                       "check the model id (e.g. 'Qwen/Qwen3-0.6B') and your connection, "
                       "or use the offline profile.") from None
    model.eval()
    return model, tokenizer
