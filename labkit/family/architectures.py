"""Real Qwen2.5 / Qwen3 / Qwen3.5 configs as cited data, and what they cost in memory.

``CONFIGS`` holds the ``config.json`` fields that fix each model's shape, as keyword
arguments for ``Qwen2Config`` / ``Qwen3Config`` / ``Qwen3MoeConfig`` / ``Qwen3_5TextConfig`` (the language
model of a Qwen3.5 checkpoint; its vision tower's fields are in ``VISION``).  From them
:func:`build_on_meta` builds the real transformers model on the ``meta`` device (no
weights, no memory), and :func:`count_params` *counts* its parameters: nothing here
is a quoted parameter count.  ``OFFICIAL_PARAMS`` holds the headline figures of the
model cards separately, so a test (or a learner) can compare the two.

Where the numbers come from (each spec's ``source`` says which):

* layers, attention heads (Q / KV), tied embeddings, experts: the Qwen3 technical report
  (Tables 1-2) and blog; the Qwen2.5 model cards.
* widths (hidden, intermediate, MoE expert size, head_dim, vocab, rope base): the
  Megatron model scripts of ``slime`` (a training framework that converts the real Hugging
  Face checkpoints, so its shapes must match them) and verbatim copies of the official
  ``config.json`` files quoted in other repositories.  The ``Qwen/...`` repositories
  themselves could not be read from this machine.  Fields no source confirmed are listed
  in ``unverified`` and left ``None`` (they are then not passed to the config, and the
  transformers default is used; none of them changes a parameter count).

Memory units: GB means 10**9 bytes throughout.  GPU sizes are the vendors' nominal
figures, read as 10**9 bytes; the memory a driver leaves usable is a little different,
so treat results within a few percent of a boundary as "tight", not as a guarantee.

Used in notebooks 01, 05, 06, 07, 12.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from labkit.errors import LabError

GB = 1e9

# -- sources -----------------------------------------------------------------------------
_SLIME = "zyzshishui/slime@{commit} scripts/models/{file}"
_Q3_TABLE = ("Qwen3 Technical Report arXiv:2505.09388 Table 1/2 and https://qwenlm.github.io/blog/qwen3/ "
             "(layers, Q/KV heads, tie embedding, experts)")
_Q3_MAXPOS = ("config.json copies quoting Qwen/Qwen3-* (max_position_embeddings 40960, rope_theta "
              "1000000; QwenLM/Qwen3 docs/source/deployment/vllm.md: 'The default "
              "max_position_embeddings in config.json is set to 40,960')")


def _slime(commit: str, file: str) -> str:
    return _SLIME.format(commit=commit, file=file)


def _card(model: str) -> str:
    return f"https://huggingface.co/Qwen/{model} (model card; via copy)"


@dataclass(frozen=True)
class ArchSpec:
    """The shape-defining ``config.json`` fields of one model, with their source."""

    model_type: str                      # "qwen2", "qwen3" or "qwen3_moe"
    config: dict[str, Any]               # kwargs for the transformers config class
    source: str
    unverified: tuple[str, ...] = ()     # fields no source confirmed (value None)
    note: str = ""

    def kwargs(self) -> dict[str, Any]:
        """Config kwargs for transformers 5.x (rope base as ``rope_parameters``, Nones dropped)."""
        kw = {k: v for k, v in self.config.items() if v is not None and k != "rope_theta"}
        if self.config.get("rope_theta") is not None:
            kw["rope_parameters"] = {"rope_type": "default", "rope_theta": float(self.config["rope_theta"])}
            if self.model_type == "qwen3_5_text":   # M-RoPE on a quarter of each head, sections interleaved
                kw["rope_parameters"].update(QWEN35_ROPE)
        return kw

    @property
    def hybrid(self) -> bool:
        """Whether some layers are linear attention (Gated DeltaNet), with a fixed-size state instead of a KV cache."""
        return self.model_type == "qwen3_5_text"


def _q25(hidden: int, inter: int, layers: int, heads: int, kv: int, vocab: int, tie: bool,
         max_pos: int | None, rope: float | None, source: str, unverified: tuple[str, ...] = (),
         note: str = "") -> ArchSpec:
    cfg = dict(hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
               num_attention_heads=heads, num_key_value_heads=kv, head_dim=hidden // heads,
               vocab_size=vocab, tie_word_embeddings=tie, max_position_embeddings=max_pos,
               rope_theta=rope)
    return ArchSpec("qwen2", cfg, source, unverified,
                    ("head_dim is implicit in Qwen2 configs (hidden_size // num_attention_heads). "
                     "Instruct config.json values. " + note).strip())


def _q3(hidden: int, inter: int, layers: int, heads: int, kv: int, tie: bool, source: str,
        note: str = "") -> ArchSpec:
    cfg = dict(hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
               num_attention_heads=heads, num_key_value_heads=kv, head_dim=128, vocab_size=151936,
               tie_word_embeddings=tie, max_position_embeddings=40960, rope_theta=1_000_000.0)
    return ArchSpec("qwen3", cfg, f"{_Q3_TABLE}; {source}; {_Q3_MAXPOS}", (), note)


def _q3moe(hidden: int, inter: int, moe_inter: int, layers: int, heads: int, kv: int, source: str,
           note: str = "") -> ArchSpec:
    cfg = dict(hidden_size=hidden, intermediate_size=inter, moe_intermediate_size=moe_inter,
               num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv,
               head_dim=128, vocab_size=151936, tie_word_embeddings=False, num_experts=128,
               num_experts_per_tok=8, max_position_embeddings=40960, rope_theta=1_000_000.0)
    return ArchSpec("qwen3_moe", cfg, f"{_Q3_TABLE}; {source}; {_Q3_MAXPOS}", (),
                    ("intermediate_size is the dense-MLP width, unused when every layer is MoE "
                     "(decoder_sparse_step 1, no mlp_only_layers). " + note).strip())


_Q35_SOURCE = ("config.json of Qwen/Qwen3.5-0.8B (revision 2fc06364715b) as mirrored verbatim in "
               "wlejon/brolm@5544049e67a6 tests/test_qwen35_config.cpp and cpehle/tyr@1651c71b9860 "
               "Tyr/Model/Qwen35/Config.lean; THUDM/slime@f8879db2b7a9 scripts/models/qwen3.5-0.8B.sh")
_Q35_2B_SOURCE = ("K1XE/BPM@55093cfff218 scripts/models/qwen3.5-2B.sh (slime layout: 2048 hidden, 6144 FFN, 24 layers, "
                  "8/2 heads, head_dim 256); the module tree of Qwen/Qwen3.5-2B printed in "
                  "Sparten-Ashvinee/QwenForge@7ae69a77800f model.txt (linear-attention and vision shapes)")
# Qwen3.5's rotary embedding: 64 of the 256 dimensions of a head (partial_rotary_factor 0.25), split into
# M-RoPE sections for time, height and width (config.json rope_parameters; the same in 0.8B, 4B, 27B)
QWEN35_ROPE = {"partial_rotary_factor": 0.25, "mrope_section": [11, 11, 10], "mrope_interleaved": True}


def _q35(hidden: int, inter: int, source: str, note: str = "") -> ArchSpec:
    cfg = dict(hidden_size=hidden, intermediate_size=inter, num_hidden_layers=24, num_attention_heads=8,
               num_key_value_heads=2, head_dim=256, linear_conv_kernel_dim=4, linear_key_head_dim=128,
               linear_value_head_dim=128, linear_num_key_heads=16, linear_num_value_heads=16,
               full_attention_interval=4, attn_output_gate=True, vocab_size=248320, tie_word_embeddings=True,
               max_position_embeddings=262144, rope_theta=10_000_000.0)
    return ArchSpec("qwen3_5_text", cfg, source, (),
                    ("Three Gated DeltaNet (linear attention) layers, then one gated full-attention layer, six "
                     "times; only the full-attention layers keep a KV cache. " + note).strip())


CONFIGS: dict[str, ArchSpec] = {
    # -- Qwen2.5 (Qwen2Config; attention has q/k/v bias) --------------------------------
    "Qwen2.5-0.5B": _q25(896, 4864, 24, 14, 2, 151936, True, 32768, 1_000_000.0,
                         f"{_slime('915d532d7460313e768baacd312a476760a2b103', 'qwen2.5-0.5B.sh')}; "
                         f"config.json copies of Qwen/Qwen2.5-0.5B(-Instruct); {_card('Qwen2.5-0.5B-Instruct')}"),
    "Qwen2.5-1.5B": _q25(1536, 8960, 28, 12, 2, 151936, True, 32768, 1_000_000.0,
                         f"{_slime('9d9ab78ba15e7910408508479c72ba37ff83b7ce', 'qwen2.5-1.5B.sh')}; "
                         "transformers log printing Qwen/Qwen2.5-1.5B-Instruct/config.json (via copy)",
                         note="slime's script sets --rotary-base 10000; the config.json copies say "
                              "1000000 (kept)."),
    "Qwen2.5-3B": _q25(2048, 11008, 36, 16, 2, 151936, True, 32768, 1_000_000.0,
                       f"{_slime('95e959c071c5fd2b447c2637ab5f81bb5bde70a7', 'qwen2.5-3B.sh')}; "
                       "config.json copies of Qwen/Qwen2.5-3B-Instruct",
                       note="slime's script sets --rotary-base 10000; the config.json copies say "
                            "1000000 (kept)."),
    "Qwen2.5-7B": _q25(3584, 18944, 28, 28, 4, 152064, False, 32768, 1_000_000.0,
                       f"{_slime('e0be9a075ca3b1230fae78ce39e468e28b63c36e', 'qwen2.5-7B.sh')}; "
                       "config.json copy of Qwen/Qwen2.5-7B-Instruct (transformers 4.43.3)",
                       note="The base Qwen2.5-7B config ships max_position_embeddings 131072."),
    "Qwen2.5-14B": _q25(5120, 13824, 48, 40, 8, 152064, False, None, None,
                        "config fields copied from Qwen/Qwen2.5-14B-Instruct config.json in two "
                        f"repositories; {_card('Qwen2.5-14B-Instruct')} (48 layers, 40/8 heads)",
                        unverified=("max_position_embeddings", "rope_theta")),
    "Qwen2.5-32B": _q25(5120, 27648, 64, 40, 8, 152064, False, 32768, 1_000_000.0,
                        f"{_slime('e0be9a075ca3b1230fae78ce39e468e28b63c36e', 'qwen2.5-32B.sh')}; "
                        "config.json copies of Qwen/Qwen2.5-32B-Instruct(-GPTQ-Int4)"),
    "Qwen2.5-72B": _q25(8192, 29568, 80, 64, 8, 152064, False, 32768, 1_000_000.0,
                        "config.json copies of Qwen/Qwen2.5-72B-Instruct; "
                        f"{_card('Qwen2.5-72B')} (80 layers, 64/8 heads)"),
    # -- Qwen3 dense (Qwen3Config; QK-norm, no qkv bias, explicit head_dim 128) -------------
    "Qwen3-0.6B": _q3(1024, 3072, 28, 16, 8, True,
                      _slime("3b674111c0a55267cbe9650f7f6410b81295c9b8", "qwen3-0.6B.sh"),
                      "q_proj maps 1024 -> 16*128 = 2048: head_dim is not hidden/heads."),
    "Qwen3-1.7B": _q3(2048, 6144, 28, 16, 8, True,
                      _slime("ead2de86804127e0ea64a4cde1c3c5dacb4fe53c", "qwen3-1.7B.sh")),
    "Qwen3-4B": _q3(2560, 9728, 36, 32, 8, True,
                    _slime("9aa8d246c072f14242b670a8626a5c632ef6d92e", "qwen3-4B.sh")),
    "Qwen3-8B": _q3(4096, 12288, 36, 32, 8, False,
                    _slime("f80d8133bb059096920cb7e95b4f5fa134b77911", "qwen3-8B.sh")),
    "Qwen3-14B": _q3(5120, 17408, 40, 40, 8, False,
                     _slime("aa3375040b9b7fd90832fb03099776d0a34ce41c", "qwen3-14B.sh")),
    "Qwen3-32B": _q3(5120, 25600, 64, 64, 8, False,
                     _slime("1fc0fae8a89f10942c12146f87c467d88e445cd8", "qwen3-32B.sh"),
                     "Untied per the report/blog ('Tie Embedding: No'); the slime script omits "
                     "its untie flag. The card's 32.8B total / 31.2B non-embedding only add up "
                     "with an untied head."),
    # -- Qwen3 MoE (Qwen3MoeConfig; 128 experts, 8 routed per token, no shared expert) ----
    "Qwen3-30B-A3B": _q3moe(2048, 6144, 768, 48, 32, 4,
                            _slime("e0be9a075ca3b1230fae78ce39e468e28b63c36e", "qwen3-30B-A3B.sh")),
    "Qwen3-235B-A22B": _q3moe(4096, 12288, 1536, 94, 64, 4,
                              _slime("a29386384f6fa74b4e926a675b40038a91289659", "qwen3-235B-A22B.sh"),
                              "The 2507 updates change rope_theta (5e6) and context, not the shapes."),
    # -- Qwen3.5 small dense (Qwen3_5TextConfig: the language model of Qwen3_5ForConditionalGeneration) ------
    "Qwen3.5-0.8B": _q35(1024, 3584, _Q35_SOURCE),
    "Qwen3.5-2B": _q35(2048, 6144, _Q35_2B_SOURCE,
                       "No verbatim config.json of the 2B was read; its shapes come from two independent "
                       "sources that agree."),
}

# The vision towers of the Qwen3.5 checkpoints (Qwen3_5VisionConfig fields), with the same sources as CONFIGS.
VISION: dict[str, dict[str, Any]] = {
    "Qwen3.5-0.8B": dict(depth=12, hidden_size=768, intermediate_size=3072, num_heads=12, patch_size=16,
                         spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=1024,
                         num_position_embeddings=2304),
    "Qwen3.5-2B": dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, patch_size=16,
                       spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=2048,
                       num_position_embeddings=2304),
}


@dataclass(frozen=True)
class OfficialParams:
    """Headline parameter figures as the official model card states them (billions)."""

    total_b: float
    non_embedding_b: float | None
    active_b: float | None
    source: str
    verified: bool = True
    note: str = ""
    tolerance: float = 0.02      # how far a count may be from the headline (a rounded headline needs more)


OFFICIAL_PARAMS: dict[str, OfficialParams] = {
    "Qwen2.5-0.5B": OfficialParams(0.49, 0.36, None, _card("Qwen2.5-0.5B-Instruct")),
    "Qwen2.5-1.5B": OfficialParams(1.54, 1.31, None, _card("Qwen2.5-1.5B-Instruct")),
    "Qwen2.5-3B": OfficialParams(3.09, 2.77, None, _card("Qwen2.5-3B")),
    "Qwen2.5-7B": OfficialParams(7.61, 6.53, None, _card("Qwen2.5-7B-Instruct")),
    "Qwen2.5-14B": OfficialParams(14.7, 13.1, None, _card("Qwen2.5-14B-Instruct")),
    "Qwen2.5-32B": OfficialParams(32.5, 31.0, None, _card("Qwen2.5-32B")),
    "Qwen2.5-72B": OfficialParams(72.7, 70.0, None, _card("Qwen2.5-72B")),
    "Qwen3-0.6B": OfficialParams(0.6, 0.44, None, _card("Qwen3-0.6B")),
    "Qwen3-1.7B": OfficialParams(1.7, 1.4, None, _card("Qwen3-1.7B")),
    "Qwen3-4B": OfficialParams(4.0, 3.6, None, _card("Qwen3-4B")),
    "Qwen3-8B": OfficialParams(8.2, 6.95, None, _card("Qwen3-8B"), verified=False,
                               note="8.2B is quoted from the card in several copies; 6.95B "
                                    "non-embedding was seen in one third-party file only."),
    "Qwen3-14B": OfficialParams(14.8, 13.2, None, _card("Qwen3-14B")),
    "Qwen3-32B": OfficialParams(32.8, 31.2, None, _card("Qwen3-32B")),
    "Qwen3-30B-A3B": OfficialParams(30.5, 29.9, 3.3, _card("Qwen3-30B-A3B-Instruct-2507")
                                    + " (same shapes as Qwen3-30B-A3B)"),
    "Qwen3-235B-A22B": OfficialParams(235.0, 234.0, 22.0, _card("Qwen3-235B-A22B-FP8")
                                      + " (same shapes as Qwen3-235B-A22B)"),
    # The Qwen3.5 cards give one rounded figure ("Number of Parameters: 0.8B"); the language model counts 0.75B,
    # 0.85B with the vision tower (0.87B with the multi-token-prediction layer, which transformers does not load).
    "Qwen3.5-0.8B": OfficialParams(0.8, None, None, _card("Qwen3.5-0.8B"), tolerance=0.07,
                                   note="A headline rounded to one decimal: 0.75B (language model) and 0.85B "
                                        "(with the vision tower) both round to it."),
    "Qwen3.5-2B": OfficialParams(2.0, None, None, _card("Qwen3.5-2B"), tolerance=0.07,
                                 note="Rounded headline: 1.88B (language model), 2.21B with the vision tower."),
}


@dataclass(frozen=True)
class GPU:
    """A GPU (or laptop) memory budget with the source of its size."""

    memory_gb: float
    source: str
    verified: bool = True
    note: str = ""


GPUS: dict[str, GPU] = {
    "T4": GPU(16, "https://www.nvidia.com/en-us/data-center/tesla-t4/ (16 GB GDDR6)", False,
              "Vendor page not read here; 16 GB GDDR6 corroborated by tomshardware.co.uk and "
              "aiminingco.com/gpu/t4/specs. Colab's free GPU."),
    "L4": GPU(24, "https://www.nvidia.com/en-us/data-center/l4/ (24 GB GDDR6)", False,
              "Vendor page not read here; 24 GB corroborated by pcpartdb.com and aiwiki.ai."),
    "A100": GPU(80, "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
                    "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf (A100 80GB HBM2e)", False,
                "Datasheet as cited by glennklockwood.com/garden/processors/A100; a 40 GB A100 also exists."),
    "H100": GPU(80, "https://www.nvidia.com/en-us/data-center/h100/ (H100 SXM / PCIe: 80 GB)", False,
                "Vendor page not read here; 80 GB for SXM (HBM3) and PCIe (HBM2e) corroborated by "
                "archive-lib.hpctech.co.jp and glennklockwood.com. The NVL variant has 94 GB."),
    "laptop": GPU(16, "course assumption: a laptop with 16 GB of RAM or unified memory", True,
                  "Not a product specification; the OS and other programs need part of it."),
}

DTYPES = ("bf16", "fp16", "int8", "nf4")
NF4_BLOCKSIZE = 64            # bitsandbytes quantize_4bit default blocksize
NF4_DQ_BLOCKSIZE = 256        # double quant: absmax re-quantized blockwise with blocksize 256


# -- lookups -------------------------------------------------------------------------------
def spec(name: str) -> ArchSpec:
    """The :class:`ArchSpec` of a model name, or a :class:`LabError` listing the known ones."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise LabError(f"no architecture data for {name!r}",
                       f"use one of: {', '.join(CONFIGS)}") from None


def _gpu(gpu: str) -> GPU:
    try:
        return GPUS[gpu]
    except KeyError:
        raise LabError(f"unknown GPU {gpu!r}", f"use one of: {', '.join(GPUS)}") from None


def make_config(name: str) -> Any:
    """The transformers config object for ``name`` (Qwen2Config / Qwen3Config / Qwen3MoeConfig / Qwen3_5TextConfig)."""
    from transformers import Qwen2Config, Qwen3_5TextConfig, Qwen3Config, Qwen3MoeConfig

    s = spec(name)
    cls = {"qwen2": Qwen2Config, "qwen3": Qwen3Config, "qwen3_moe": Qwen3MoeConfig,
           "qwen3_5_text": Qwen3_5TextConfig}[s.model_type]
    return cls(**s.kwargs())


def build_on_meta(name: str) -> Any:
    """Build the real ``AutoModelForCausalLM`` for ``name`` on the meta device (no memory used)."""
    import torch
    from transformers import AutoModelForCausalLM

    config = make_config(name)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


# -- counting --------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _counts(name: str) -> tuple[tuple[str, Any], ...]:
    model = build_on_meta(name)
    params = dict(model.named_parameters())          # tied weights appear once
    total = sum(p.numel() for p in params.values())
    inp = model.get_input_embeddings().weight
    out = model.get_output_embeddings().weight
    tied = out is inp
    embedding = inp.numel() + (0 if tied else out.numel())
    routed = sum(p.numel() for n, p in params.items() if ".mlp.experts." in n)
    cfg = model.config
    if routed:
        active = total - routed + routed * cfg.num_experts_per_tok // cfg.num_experts
    else:
        active = total
    return (("total", total), ("embedding", embedding), ("non_embedding", total - embedding),
            ("active", active), ("routed_experts", routed), ("tied", tied))


def count_params(name: str) -> dict[str, Any]:
    """Count the parameters of the meta-built model.

    Returns ``total`` (tied weights once), ``embedding`` (input embedding plus the output
    head when it is not tied), ``non_embedding`` (= total - embedding, the definition the
    Qwen cards use), ``active`` (per token: MoE routed experts scaled by top-k / experts,
    everything else counted; equals total for dense), ``routed_experts`` and ``tied``.
    """
    return dict(_counts(name))


# -- memory ----------------------------------------------------------------------------------
def _linear_bytes(numel: int, rows: int, dtype: str, double_quant: bool) -> float:
    """Bytes of one weight tensor quantized by bitsandbytes (``rows`` = output features)."""
    if dtype == "int8":                        # int8 weight + one fp32 scale (SCB) per row
        return numel + 4 * rows
    blocks = math.ceil(numel / NF4_BLOCKSIZE)  # nf4: two weights per byte + per-block absmax
    packed = math.ceil(numel / 2) + 16 * 4     # + the 16-entry fp32 NF4 code
    if not double_quant:
        return packed + 4 * blocks             # fp32 absmax per block
    return packed + blocks + 4 * math.ceil(blocks / NF4_DQ_BLOCKSIZE) + 256 * 4 + 4


@lru_cache(maxsize=None)
def _weight_bytes(name: str, dtype: str, double_quant: bool, experts_quantized: bool) -> float:
    import torch.nn as nn

    model = build_on_meta(name)
    total = count_params(name)["total"]
    if dtype in ("bf16", "fp16"):
        return 2.0 * total
    out_module = model.get_output_embeddings()
    quantized_numel = 0
    quantized_bytes = 0.0
    for mod_name, module in model.named_modules():
        if type(module) is nn.Linear and module is not out_module:   # what replace_with_bnb_linear converts
            w = module.weight
            quantized_numel += w.numel()
            quantized_bytes += _linear_bytes(w.numel(), w.shape[0], dtype, double_quant)
        elif experts_quantized and mod_name.endswith("mlp.experts"):
            for p in module.parameters(recurse=False):              # (experts, out, in) tensors
                rows = p.numel() // p.shape[-1]
                quantized_numel += p.numel()
                quantized_bytes += _linear_bytes(p.numel(), rows, dtype, double_quant)
    return quantized_bytes + 2.0 * (total - quantized_numel)


def weight_memory_gb(name: str, dtype: str = "bf16", *, double_quant: bool = False,
                     experts_quantized: bool = False) -> float:
    """Memory of the weights alone, in GB (10**9 bytes).

    Assumptions, following bitsandbytes 0.50 as wired into transformers 5.23:

    * ``bf16`` / ``fp16``: 2 bytes per parameter.
    * ``int8`` (LLM.int8): every ``nn.Linear`` except the output head becomes int8 (1 byte
      per weight) plus one fp32 scale per output row; biases stay 16-bit.
    * ``nf4``: those linears store two 4-bit weights per byte (0.5 byte/param) plus one
      absmax per block of 64 weights: fp32 (4 bytes) without double quantization, or 1 byte
      plus one fp32 per 256 blocks with ``double_quant=True``; plus a few KB of codebooks.
    * Embeddings, the output head (``lm_head``, kept for stability), norms and biases stay
      in bf16.  For small models the embedding is a large share, so 4-bit saves less than 4x.
    * MoE experts: in transformers 5.x Qwen3-MoE stores experts as fused 3-D parameters,
      not ``nn.Linear`` modules, and ``replace_with_bnb_linear`` leaves them in bf16 (checked
      on a meta model; bitsandbytes issue #1849, still open, and PR #1965 add a fused-experts
      4-bit module that 0.50.2 does not have).  ``experts_quantized=True`` gives the figure
      if they were quantized too (as GGUF or AWQ checkpoints do).
    """
    spec(name)
    if dtype not in DTYPES:
        raise LabError(f"unknown dtype {dtype!r}", f"use one of: {', '.join(DTYPES)}")
    return _weight_bytes(name, dtype, double_quant, experts_quantized) / GB


def head_dim(name: str) -> int:
    """Attention head dimension of ``name`` (explicit in Qwen3, hidden/heads in Qwen2)."""
    c = spec(name).config
    return int(c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"])


def attention_layers(name: str) -> int:
    """The layers that keep a KV cache: all of them, or in a hybrid model only the full-attention ones."""
    c = spec(name).config
    return c["num_hidden_layers"] // c["full_attention_interval"] if spec(name).hybrid else c["num_hidden_layers"]


def kv_cache_gb(name: str, context: int, batch: int = 1, dtype_bytes: int = 2) -> float:
    """KV-cache size in GB: 2 (K and V) x attention layers x kv_heads x head_dim x context x batch x bytes.

    In a hybrid model (Qwen3.5) only the full-attention layers count; the linear-attention layers keep a state
    whose size does not grow with the context (:func:`linear_state_gb`)."""
    c = spec(name).config
    if context < 0 or batch < 0:
        raise LabError("context and batch must be >= 0")
    n = 2 * attention_layers(name) * c["num_key_value_heads"] * head_dim(name) * context * batch
    return n * dtype_bytes / GB


def linear_state_gb(name: str, batch: int = 1, dtype_bytes: int = 2) -> float:
    """The fixed-size state of a hybrid model's linear-attention (Gated DeltaNet) layers, in GB: per layer a
    recurrent state of value heads x key dim x value dim (float32 in transformers) and a convolution state of
    (2 x key heads x key dim + value heads x value dim) x (kernel - 1) (``dtype_bytes``).  0 for other models."""
    if not spec(name).hybrid:
        return 0.0
    c = spec(name).config
    layers = c["num_hidden_layers"] - attention_layers(name)
    recurrent = c["linear_num_value_heads"] * c["linear_key_head_dim"] * c["linear_value_head_dim"] * 4
    conv_dim = 2 * c["linear_num_key_heads"] * c["linear_key_head_dim"] + \
        c["linear_num_value_heads"] * c["linear_value_head_dim"]
    conv = conv_dim * (c["linear_conv_kernel_dim"] - 1) * dtype_bytes
    return layers * (recurrent + conv) * batch / GB


def memory_needed_gb(name: str, dtype: str = "bf16", context: int = 4096, batch: int = 1,
                     overhead_gb: float = 1.0, kv_dtype_bytes: int = 2) -> float:
    """Weights + KV cache (+ a hybrid model's linear-attention state) + a fixed allowance for activations,
    CUDA context and allocator slack."""
    return (weight_memory_gb(name, dtype) + kv_cache_gb(name, context, batch, kv_dtype_bytes)
            + linear_state_gb(name, batch) + overhead_gb)


def fits(name: str, gpu: str, dtype: str = "bf16", context: int = 4096, batch: int = 1,
         overhead_gb: float = 1.0, kv_dtype_bytes: int = 2) -> bool:
    """Whether :func:`memory_needed_gb` is at most the GPU's nominal memory (inclusive).

    ``overhead_gb`` (default 1 GB) stands for activations, the CUDA context and allocator
    slack; it is an allowance, not a measurement.  MoE models in ``int8``/``nf4`` follow the
    bitsandbytes behaviour of :func:`weight_memory_gb` (experts stay bf16).
    """
    return memory_needed_gb(name, dtype, context, batch, overhead_gb, kv_dtype_bytes) <= _gpu(gpu).memory_gb


# -- plot --------------------------------------------------------------------------------------
def memory_plot(names: list[str] | None = None, gpus: list[str] | None = None) -> Any:
    """Bars of weight memory per model at bf16 / int8 / nf4, with horizontal lines for GPUs.

    Log scale.  Returns the matplotlib Figure.  MoE bars follow the bitsandbytes behaviour
    described in :func:`weight_memory_gb` (experts stay bf16).
    """
    import matplotlib.pyplot as plt

    names = list(names or CONFIGS)
    gpus = list(gpus or GPUS)
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(names) + 3), 5))
    width = 0.27
    for i, dtype in enumerate(("bf16", "int8", "nf4")):
        values = [weight_memory_gb(n, dtype) for n in names]
        ax.bar([x + (i - 1) * width for x in range(len(names))], values, width, label=dtype)
    by_size: dict[float, list[str]] = {}
    for g in gpus:
        by_size.setdefault(_gpu(g).memory_gb, []).append(g)
    for size, group in sorted(by_size.items()):          # one line per memory size
        ax.axhline(size, color="grey", linestyle="--", linewidth=1)
        ax.text(-0.6, size, f"{' / '.join(group)}: {size:g} GB", va="bottom", ha="left",
                fontsize="small", color="dimgrey")
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_ylabel("weight memory (GB, log scale)")
    ax.set_title("Weights only: KV cache and activations come on top")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig
