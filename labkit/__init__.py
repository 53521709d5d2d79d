"""labkit: the helper package of the qwen-labs course.

The front door (what a notebook calls on ``labkit`` itself) is imported here; the wings are imported
by name where a notebook needs them (``from labkit.lessons import thinking``).  ``labkit/README.md``
maps every wing and module to the notebooks that use it.

* front door: :mod:`~labkit.profile`, :mod:`~labkit.models`, :mod:`~labkit.tokenizer`,
  :mod:`~labkit.generation`, :mod:`~labkit.notebook` (the banner), :mod:`~labkit.env`, :mod:`~labkit.errors`
* ``labkit.lessons``: the helpers of the lessons (sampling, thinking, quantization, fine-tuning, monitoring,
  tools and structured output, the chat box)
* ``labkit.family``: the Qwen family as cited data (architectures, facts, selection, tokens, chat templates)
* ``labkit.hub``: the checkpoints the hub profile loads and where they come from (lookup, download, stand-ins)
* ``labkit.serving``: model servers and engines (llama.cpp, ONNX Runtime, vLLM), load tests, guardrails
* ``labkit.nano``: the nano Qwen3 (its weights, curriculum, evaluation and training)
* ``labkit.checks``: the exercise checks (the grader and one answer key per notebook)
"""
from labkit import checks
from labkit.env import cuda_bf16, env_report
from labkit.errors import LabError
from labkit.generation import Reply, chat, generate_batch, split_thinking, validate_messages
from labkit.models import load_model, nano_path, resolve_model_id
from labkit.notebook import banner, has_gpu, skip_unless
from labkit.profile import active_profile, choose_profile, set_profile
from labkit.tokenizer import load_processor, load_tokenizer

__all__ = ["LabError", "active_profile", "choose_profile", "set_profile", "load_tokenizer",
           "env_report", "cuda_bf16", "banner", "has_gpu", "skip_unless", "checks", "chat", "generate_batch", "Reply",
           "split_thinking", "validate_messages", "load_model", "load_processor", "nano_path", "resolve_model_id"]
__version__ = "0.1.0"
