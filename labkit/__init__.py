"""labkit: the helper package of the qwen-labs course."""
from .errors import LabError
from .profile import active_profile, choose_profile, set_profile
from .tokenizer import load_tokenizer

__all__ = ["LabError", "active_profile", "choose_profile", "set_profile", "load_tokenizer"]
__version__ = "0.1.0"
