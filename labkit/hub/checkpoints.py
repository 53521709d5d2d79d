"""The checkpoints the course loads under the hub profile: the one list, with their sizes.

:data:`COURSE_MODELS` is the one list of the ``Qwen/...`` repositories the notebooks load under the
hub profile.  ``python -m labkit.hub.download`` fetches exactly these, ``tools/course_map.py`` sizes
their GPU memory from them, and :mod:`labkit.hub.standins` builds a tiny random checkpoint of each for
the tests.  Where a checkpoint is on this machine: :mod:`labkit.hub.lookup`.

Used by notebooks 00 and 02-12 (most through :func:`labkit.load_model`), the download command and the course map.

Used in notebook 12.
"""
from __future__ import annotations

from dataclasses import dataclass

from labkit.errors import LabError

DEFAULT_MODEL = "Qwen/Qwen3-0.6B"          # what labkit.load_model() loads under the hub profile
# The files a course checkpoint needs (weights, configs, tokenizer, processor, template, licence).
ALLOW_PATTERNS = ("*.json", "*.safetensors", "*.jinja", "merges.txt", "LICENSE", "README.md")
SIZE_SOURCE = ("computed: parameters counted by labkit.family.architectures.count_params (the vision tower by "
               "labkit.family.selection, Qwen3.5's by labkit.family.architectures.VISION) x 2 bytes (bf16, the "
               "checkpoints' dtype); tokenizer files and Qwen3.5's multi-token-prediction layer not counted")
DOWNLOAD_COMMAND = "python -m labkit.hub.download"


@dataclass(frozen=True)
class HubModel:
    """One checkpoint the course loads under the hub profile."""

    repo_id: str
    notebooks: tuple[str, ...]   # the course notebooks that load it ("02"), solutions included
    loaded_by: str               # how those notebooks load it
    architecture: str            # the transformers class config.json names
    arch: str                    # key of labkit.family.architectures.CONFIGS with its language model's shapes
    tokenizer: str               # labkit.tokenizer family of its tokenizer
    params: int                  # all parameters, vision tower included (SIZE_SOURCE)
    vision_params: int = 0       # of which in the vision tower (labkit.family.selection)
    processor: bool = False      # ships an image processor (preprocessor_config.json)
    note: str = ""

    @property
    def name(self) -> str:
        """The repository name without ``Qwen/``."""
        return self.repo_id.split("/", 1)[-1]

    @property
    def download_bytes(self) -> int:
        """Bytes of its bf16 weights (SIZE_SOURCE): what a download moves, give or take the tokenizer."""
        return 2 * self.params

    @property
    def download_gb(self) -> float:
        return self.download_bytes / 1e9


def _qwen35(size: str, language_model: int, vision: int, loaded_by: str, mtp: int | None = None) -> HubModel:
    """A Qwen3.5 checkpoint: one image-text class, its language model's shapes in labkit.family.architectures.CONFIGS
    and its vision tower's in VISION, both under the name ``Qwen3.5-<size>``."""
    layer = f" ({mtp:,} parameters)" if mtp else ""
    return HubModel(f"Qwen/Qwen3.5-{size}", ("12",), loaded_by, "Qwen3_5ForConditionalGeneration", f"Qwen3.5-{size}",
                    "qwen3.5", language_model + vision, vision_params=vision, processor=True,
                    note=f"language model + vision tower (labkit.family.architectures.VISION); the shards also hold a "
                         f"multi-token-prediction layer{layer} that transformers does not load, not counted")


COURSE_MODELS: tuple[HubModel, ...] = (
    HubModel(DEFAULT_MODEL, ("00", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11"),
             "labkit.load_model() and labkit.resolve_model_id() with no id; 00 loads its tokenizer only; 07 also "
             "serves it (transformers serve, llama.cpp, vLLM); 08 serves and exports it with every engine",
             "Qwen3ForCausalLM", "Qwen3-0.6B", "qwen3", 596_049_920),
    HubModel("Qwen/Qwen2.5-Coder-1.5B-Instruct", ("03",), "AutoModelForCausalLM in 03's hub_chat",
             "Qwen2ForCausalLM", "Qwen2.5-1.5B", "qwen2.5", 1_543_714_304,
             note="sized as Qwen2.5-1.5B (its card: same parameters, layers and heads)"),
    HubModel("Qwen/Qwen2.5-Math-1.5B-Instruct", ("03",), "AutoModelForCausalLM in 03's hub_chat",
             "Qwen2ForCausalLM", "Qwen2.5-1.5B", "qwen2.5", 1_543_714_304,
             note="sized as Qwen2.5-1.5B (its card: 'deployed in the same way as Qwen2.5'); its own chat "
                  "template's default system prompt is not reproduced by the stand-in"),
    HubModel("Qwen/Qwen2.5-VL-3B-Instruct", ("03",), "AutoModelForImageTextToText and AutoProcessor in 03 §5",
             "Qwen2_5_VLForConditionalGeneration", "Qwen2.5-3B", "qwen2.5", 3_085_938_688 + 668_684_288,
             vision_params=668_684_288, processor=True,
             note="sized as Qwen2.5-3B + its vision tower (labkit.family.selection)"),
    _qwen35("0.8B", 752_393_024, 100_592_896, "AutoModelForImageTextToText, AutoModelForCausalLM and "
            "labkit.load_processor in 12 (its parameter HUB_MODEL)", mtp=20_452_864),
    _qwen35("2B", 1_881_825_088, 331_416_576, "the same as Qwen3.5-0.8B in 12, with HUB_MODEL = \"Qwen/Qwen3.5-2B\""),
)


def get(repo_id: str) -> HubModel:
    """The :class:`HubModel` of ``repo_id``, or a :class:`LabError` listing the course's models."""
    for model in COURSE_MODELS:
        if model.repo_id == repo_id:
            return model
    raise LabError(f"{repo_id!r} is not one of the course's hub models.",
                   f"use one of: {', '.join(m.repo_id for m in COURSE_MODELS)}.")


def find(repo_id: str) -> HubModel | None:
    """The :class:`HubModel` of ``repo_id``, or None for a model the course does not list."""
    return next((m for m in COURSE_MODELS if m.repo_id == repo_id), None)


def size_text(repo_id: str) -> str:
    """``"1.19 GB"`` for a course model (computed, SIZE_SOURCE), ``"size unknown"`` for another."""
    model = find(repo_id)
    return f"{model.download_gb:.2f} GB" if model else "size unknown"


