"""labkit: the helper package of the qwen-labs course."""
from .errors import LabError
from .profile import active_profile, choose_profile, set_profile
from .tokenizer import load_tokenizer
from .env import cuda_bf16, env_report
from .notebook import banner, has_gpu, skip_unless
from . import checks, nano, quant  # quant: light; installs bitsandbytes' log filters before anything imports it
from .chat import Reply, chat, generate_batch, split_thinking, validate_messages
from .models import load_model, nano_path

__all__ = ["LabError", "active_profile", "choose_profile", "set_profile", "load_tokenizer",
           "env_report", "cuda_bf16", "banner", "has_gpu", "skip_unless", "checks", "nano", "chat", "generate_batch", "Reply",
           "split_thinking", "validate_messages", "load_model", "nano_path"]
__version__ = "0.1.0"
