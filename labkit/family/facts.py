"""The Qwen family as data: releases, generations, the seed's benchmark claims, sampling advice.

Every record carries a ``source``.  Sources are written either as a URL or as
``"owner/repo@commit path"`` for a file read in a GitHub repository.  Some official texts
(Hugging Face model cards, the Qwen3 technical report, later README revisions) were read
through verbatim copies stored in third-party repositories; the source names the official
document and says "via copy".  ``verified=False`` marks a record (or the part named in its
``note``) that rests on a secondary source, a third-party copy of uncertain provenance, or
a number that could not be checked.  Unknown numbers are ``None``, never guessed.

Conventions:

* ``params_b`` / ``active_params_b`` are the headline sizes in billions: the figure the
  official model card or blog gives where there is one, else the nominal size in the
  model's name (the ``note`` says which).  :mod:`labkit.family.architectures` computes exact
  counts from real configs.
* ``context_tokens`` is the longest context the official source documents for the model
  (with YaRN where the source says so); ``native_context_tokens`` is the length without
  RoPE scaling, where the source distinguishes the two.  ``32K`` is read as 32,768.
  :attr:`ModelRelease.yarn_factor` is their ratio, the ``factor`` of YaRN's ``rope_scaling``:
  4.0 for Qwen2.5 7B+ and Qwen3 4B+ (131,072 = 4 x 32,768), as Qwen's own deployment docs
  configure it: ``{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}``
  (QwenLM/Qwen3 docs/source/deployment/vllm.md).
* ``released`` is the ISO date of the official announcement (repo news or blog).

Used in notebooks 01, 02, 04, 09, 12.
"""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import asdict, dataclass
from typing import Any

from labkit.errors import LabError

# ---------------------------------------------------------------------------------------
# Sources (read for this module; commits are the stored versions that were read)
# ---------------------------------------------------------------------------------------
QWEN_README = "QwenLM/Qwen@03cd81f5e4da6ab60fc8f97f3b8aa1206fdb08a9 README.md"
QWEN15_BLOG = ("https://qwenlm.github.io/blog/qwen1.5/ "
               "(QwenLM/qwenlm.github.io@03f4f45f25c26306ae1212abb0ac73911f3b9bdc blog/qwen1.5/index.html)")
QWEN15_32B_BLOG = "https://qwenlm.github.io/blog/qwen1.5-32b/ (blog front matter: date 2024-04-02)"
QWEN15_110B_BLOG = "https://qwenlm.github.io/blog/qwen1.5-110b/ (blog front matter: date 2024-04-25)"
QWEN_MOE_BLOG = "https://qwenlm.github.io/blog/qwen-moe/ (Qwen1.5-MoE blog source, cost table)"
QWEN2_BLOG = ("https://qwenlm.github.io/blog/qwen2/ "
              "(QwenLM/qwenlm.github.io@03f4f45f25c26306ae1212abb0ac73911f3b9bdc blog/qwen2/index.html)")
QWEN2_REPORT = "Qwen2 Technical Report, arXiv:2407.10671, section 3.1 (via copy)"
QWEN25_BLOG = "https://qwenlm.github.io/blog/qwen2.5/ (blog source, front matter date 2024-09-19)"
QWEN25_TURBO_BLOG = "https://qwenlm.github.io/blog/qwen2.5-turbo/ (blog source, front matter date 2024-11-15)"
QWEN3_README = "QwenLM/Qwen3@4d9f43e9ffc587202fb2225ca9e250761a2a28e3 README.md"
QWEN3_BLOG = ("https://qwenlm.github.io/blog/qwen3/ "
              "(QwenLM/qwenlm.github.io@0069c1fccd35f7eaf554331ae6b9ee4de02140cf blog/qwen3/index.html)")
QWEN3_REPORT = "Qwen3 Technical Report, arXiv:2505.09388v1 (https://arxiv.org/abs/2505.09388; via copy)"
QWEN35_README = "QwenLM/Qwen3.5@1e925997c7202d8d8a79b196c32652e4a31cb38e README.md"
QWEN35_README_FIRST = "QwenLM/Qwen3.5@6118ea6191cf519c2f4e93d84958ed2c5c310827 README.md"
QWEN35_README_LATER = ("QwenLM/Qwen3.5 README.md, a revision later than 1e92599 that announces Qwen3.5 "
                       "small sizes and Qwen3.6 (via a stored copy; the 2026-03-02 entry was also "
                       "read at QwenLM/Qwen3.5@7e103ae)")
QWEN38_README_COPY = ("README of github.com/QwenLM/Qwen3.8, seen only as a third-party copy "
                      "(not read in the official repository)")


def _card(model: str) -> str:
    return f"https://huggingface.co/Qwen/{model} (model card; via copy)"


# ---------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelRelease:
    """One open-weight Qwen language model release, with where each fact comes from."""

    generation: str                  # key into GENERATIONS, e.g. "2.5"
    name: str                        # official name, e.g. "Qwen2.5-7B"
    params_b: float | None           # headline total size, billions (see module docstring)
    active_params_b: float | None    # MoE: activated per token; None for dense
    kind: str                        # "dense" or "moe"
    released: str                    # ISO date
    context_tokens: int | None       # longest documented context (YaRN included if stated)
    training_tokens_t: float | None  # pre-training tokens, trillions
    languages: int | None            # number of languages/dialects the source states
    license: str
    source: str
    note: str = ""
    native_context_tokens: int | None = None
    verified: bool = True

    @property
    def date(self) -> _dt.date:
        """The release date as a :class:`datetime.date`."""
        return _dt.date.fromisoformat(self.released)

    @property
    def yarn_factor(self) -> float | None:
        """YaRN's ``rope_scaling`` factor that reaches ``context_tokens`` (None without scaling)."""
        if self.context_tokens and self.native_context_tokens and self.context_tokens > self.native_context_tokens:
            return self.context_tokens / self.native_context_tokens
        return None


@dataclass(frozen=True)
class Generation:
    """A generation of the family (1.0, 1.5, 2, ...), its first release date and headline."""

    key: str
    name: str
    released: str                    # ISO date of the first release of the generation
    headline: tuple[str, ...]
    source: str
    verified: bool = True
    note: str = ""

    @property
    def date(self) -> _dt.date:
        return _dt.date.fromisoformat(self.released)


@dataclass(frozen=True)
class BenchmarkClaim:
    """A claim the course's seed chapter makes, checked against the source that makes it."""

    claim: str                       # the seed's claim, in English
    official_wording: str | None     # the primary source's own words, when found
    source: str | None
    status: str                      # "verified", "differs" or "unverified"
    in_seed: bool = True
    note: str = ""


@dataclass(frozen=True)
class SamplingPreset:
    """Recommended sampling for one Qwen3 mode."""

    temperature: float
    top_p: float
    top_k: int
    min_p: float

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``model.generate`` (sampling on)."""
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p,
                "top_k": self.top_k, "min_p": self.min_p}


# ---------------------------------------------------------------------------------------
# Generations
# ---------------------------------------------------------------------------------------
GENERATIONS: dict[str, Generation] = {g.key: g for g in [
    Generation("1.0", "Qwen (1.0)", "2023-08-03",
               ("Qwen-7B first (2023-08-03), then 14B (2023-09-25), 1.8B and 72B (2023-11-30)",
                "base + Chat models, up to 3T pre-training tokens",
                "tiktoken-based BPE tokenizer, trust_remote_code"),
               QWEN_README),
    Generation("1.5", "Qwen1.5", "2024-02-05",
               ("0.5B, 1.8B, 4B, 7B, 14B, 72B; later 32B and 110B, and the first MoE (A2.7B)",
                "all sizes 32K context",
                "code merged into transformers (>=4.37), no trust_remote_code"),
               f"{QWEN3_README} (News: 2024.02.05); {QWEN15_BLOG}",
               note="The blog's published_time is 2024-02-04T13:33+08:00; the README news says 2024.02.05."),
    Generation("2", "Qwen2", "2024-06-06",
               ("0.5B, 1.5B, 7B, 57B-A14B (MoE), 72B; GQA in every size",
                "27 languages beyond English and Chinese",
                "up to 128K context for 7B/72B-Instruct; Apache-2.0 except 72B"),
               f"{QWEN3_README} (News: 2024.06.06); {QWEN2_BLOG}"),
    Generation("2.5", "Qwen2.5", "2024-09-19",
               ("0.5B, 1.5B, 3B, 7B, 14B, 32B, 72B dense",
                "up to 18T pre-training tokens; 128K context, 8K generation; over 29 languages",
                "Coder and Math variants; Qwen2.5-Turbo (API only) with 1M context on 2024-11-15"),
               f"{QWEN3_README} (News: 2024.09.19); {QWEN25_BLOG}; {QWEN25_TURBO_BLOG}"),
    Generation("3", "Qwen3", "2025-04-29",
               ("dense 0.6B-32B and MoE 30B-A3B, 235B-A22B",
                "hybrid thinking / non-thinking modes in one model",
                "36T tokens, 119 languages and dialects, Apache-2.0"),
               f"{QWEN3_README} (News: 2025.04.29); {QWEN3_BLOG}; {QWEN3_REPORT}"),
    Generation("3-2507", "Qwen3-2507", "2025-07-21",
               ("separate Instruct (non-thinking) and Thinking models: 235B-A22B, 30B-A3B, 4B",
                "256K native context, extendable to 1M tokens (2025-08-08)"),
               f"{QWEN3_README} (Introduction and News 2025.07.21-2025.08.08)"),
    Generation("3-Next", "Qwen3-Next", "2025-09-11",
               ("Qwen3-Next-80B-A3B: ultra-sparse MoE with hybrid attention (Gated DeltaNet + gated attention)",),
               f"{QWEN35_README} (News: 2025-09-11)"),
    Generation("3.5", "Qwen3.5", "2026-02-16",
               ("397B-A17B first; 122B-A10B, 35B-A3B, 27B (2026-02-24); 9B, 4B, 2B, 0.8B (2026-03-02)",
                "native vision-language; Gated DeltaNet + sparse MoE; 201 languages; Apache-2.0"),
               f"{QWEN35_README_FIRST} (News: 2026-02-16); {QWEN35_README}"),
    Generation("3.6", "Qwen3.6", "2026-04-16",
               ("Qwen3.6-35B-A3B (2026-04-16) and Qwen3.6-27B (2026-04-22)",
                "agentic coding; thinking preserved across turns"),
               QWEN35_README_LATER, verified=False,
               note="Dates read only in a stored copy of the README revision; otherwise only "
                    "secondary sources (mid-April 2026)."),
    Generation("3.8", "Qwen3.8", "2026-08-12",
               ("Qwen3.8-2.4T-A95B (2026-08-12) and Qwen3.8-27B (2026-08-14)",
                "reasoning_effort and preserve_thinking controls"),
               QWEN38_README_COPY, verified=False,
               note="Only a third-party copy of the README; TRL 1.16 ships a Qwen3.8 chat template "
                    "(trl/chat_templates). Treat as unverified."),
]}

# ---------------------------------------------------------------------------------------
# Releases
# ---------------------------------------------------------------------------------------
_TQ = "Tongyi Qianwen LICENSE AGREEMENT"
_TQR = "Tongyi Qianwen RESEARCH LICENSE AGREEMENT"
_A2 = "Apache-2.0"
_NOMINAL = "params_b is the nominal size in the model name."

_R = ModelRelease
RELEASES: tuple[ModelRelease, ...] = (
    # -- Qwen 1.0: README release table (Release Date, Max Length, # of Pretrained Tokens) --
    _R("1.0", "Qwen-7B", 7.0, None, "dense", "2023-08-03", 32768, 2.4, None, _TQ, QWEN_README,
       _NOMINAL + " README table: 32K max length, 2.4T tokens. The 2023-09-25 update raised "
       "tokens from 2.2T to 2.4T and context from 2048 to 8192 (README news); the table's 32K "
       "is the later figure."),
    _R("1.0", "Qwen-14B", 14.0, None, "dense", "2023-09-25", 8192, 3.0, None, _TQ, QWEN_README,
       _NOMINAL),
    _R("1.0", "Qwen-1.8B", 1.8, None, "dense", "2023-11-30", 32768, 2.2, None, _TQR, QWEN_README,
       _NOMINAL),
    _R("1.0", "Qwen-72B", 72.0, None, "dense", "2023-11-30", 32768, 3.0, None, _TQ, QWEN_README,
       _NOMINAL),
    # -- Qwen1.5 --------------------------------------------------------------------------
    *(_R("1.5", f"Qwen1.5-{s}B", float(s), None, "dense", "2024-02-05", 32768, 3.0, None,
         "Tongyi Qianwen license (per-size; see model card)",
         f"{QWEN15_BLOG}; {QWEN3_README} (News 2024.02.05); tokens: {QWEN2_REPORT}",
         _NOMINAL + " Context: 'All models now uniformly support a context length of up to 32768 "
         "tokens' (blog). 3T tokens: the Qwen2 report says pre-training data grew 'from 3 trillion "
         "tokens in Qwen1.5'. Exact license per size not verified (copies show the RESEARCH "
         "license on small Chat models).", verified=False)
      for s in (0.5, 1.8, 4, 7, 14, 72)),
    _R("1.5", "Qwen1.5-MoE-A2.7B", 14.3, 2.7, "moe", "2024-03-28", 32768, None, None,
       "Tongyi Qianwen license (see model card)",
       f"{QWEN3_README} (News 2024.03.28); {QWEN_MOE_BLOG}",
       "14.3B total / 2.7B activated from the MoE blog's cost table; upcycled from Qwen-1.8B; "
       "64 fine-grained experts (4 shared + 60 routed, 4 active). Date: the README news and the "
       "blog source's front matter agree on 2024-03-28 (QwenLM/qwenlm.github.io@37a4265c "
       "content/blog/qwen-moe/index.md). License name not verified.",
       verified=False),
    _R("1.5", "Qwen1.5-32B", 32.0, None, "dense", "2024-04-02", 32768, None, None,
       "Tongyi Qianwen license (see model card)", QWEN15_32B_BLOG,
       _NOMINAL + " Uses GQA (Qwen2 blog). Tokens and license not verified.", verified=False),
    _R("1.5", "Qwen1.5-110B", 110.0, None, "dense", "2024-04-25", 32768, None, None,
       "Tongyi Qianwen license (see model card)", QWEN15_110B_BLOG,
       _NOMINAL + " Uses GQA (Qwen2 blog). Tokens and license not verified.", verified=False),
    # -- Qwen2: blog 'Model Information' table ---------------------------------------------
    _R("2", "Qwen2-0.5B", 0.49, None, "dense", "2024-06-06", 32768, 12.0, 29, _A2,
       f"{QWEN2_BLOG}; tokens: {QWEN2_REPORT}",
       "Blog table: 0.49B params, 32K context, tied embeddings. 'Qwen2-0.5B were pre-trained "
       "using the 12 trillion token dataset' (report). Languages: 27 beyond English and Chinese."),
    _R("2", "Qwen2-1.5B", 1.54, None, "dense", "2024-06-06", 32768, 7.0, 29, _A2,
       f"{QWEN2_BLOG}; tokens: {QWEN2_REPORT}", "Blog table; 'over 7 trillion tokens' (report)."),
    _R("2", "Qwen2-7B", 7.07, None, "dense", "2024-06-06", 131072, 7.0, 29, _A2,
       f"{QWEN2_BLOG}; tokens: {QWEN2_REPORT}",
       "The blog contradicts itself: its Model Information table says 7.07B params / 5.98B "
       "non-embedding, its appendix table says 7.6B / 6.5B. The Qwen2-7B architecture equals "
       "Qwen2.5-7B (7.61B computed in labkit.family.architectures), so 7.6B is the likely figure.",
       native_context_tokens=32768),
    _R("2", "Qwen2-57B-A14B", 57.41, 14.0, "moe", "2024-06-06", 65536, None, 29, _A2,
       f"{QWEN2_BLOG}; tokens: {QWEN2_REPORT}",
       "Blog: 57.41B params, 64K context ('manages contexts up to 64k'). 14B activated from the "
       "name and the report. Tokens left None: the report says 'The MoE model received an "
       "additional 4.5 trillion tokens of pre-training, in line with the principle of upcycling' "
       "without a total.", native_context_tokens=32768),
    _R("2", "Qwen2-72B", 72.71, None, "dense", "2024-06-06", 131072, 7.0, 29, _TQ,
       f"{QWEN2_BLOG}; tokens: {QWEN2_REPORT}",
       "Blog: 72.71B params; 'Qwen2-72B ... still uses the original Qianwen License'.",
       native_context_tokens=32768),
    # -- Qwen2.5: blog + model cards ------------------------------------------------------
    _R("2.5", "Qwen2.5-0.5B", 0.49, None, "dense", "2024-09-19", 32768, 18.0, 29, _A2,
       f"{QWEN25_BLOG}; {_card('Qwen2.5-0.5B-Instruct')}",
       "Card: 0.49B / 0.36B non-embedding, 'Full 32,768 tokens'. Languages: 'over 29'."),
    _R("2.5", "Qwen2.5-1.5B", 1.54, None, "dense", "2024-09-19", 32768, 18.0, 29, _A2,
       f"{QWEN25_BLOG}; {_card('Qwen2.5-1.5B-Instruct')}", "Card: 1.54B / 1.31B non-embedding."),
    _R("2.5", "Qwen2.5-3B", 3.09, None, "dense", "2024-09-19", 32768, 18.0, 29,
       "Qwen Research License (qwen-research)",
       f"{QWEN25_BLOG}; {_card('Qwen2.5-3B-Instruct')}",
       "Card: 3.09B / 2.77B. Blog: 'All our open-source models, except for the 3B and 72B "
       "variants, are licensed under Apache 2.0.' The name 'qwen-research' comes from model-card "
       "metadata seen in derivative cards (secondary).", verified=False),
    _R("2.5", "Qwen2.5-7B", 7.61, None, "dense", "2024-09-19", 131072, 18.0, 29, _A2,
       f"{QWEN25_BLOG}; {_card('Qwen2.5-7B-Instruct')}",
       "Card: 7.61B / 6.53B, 'Full 131,072 tokens' (YaRN; Instruct config ships 32,768).",
       native_context_tokens=32768),
    _R("2.5", "Qwen2.5-14B", 14.7, None, "dense", "2024-09-19", 131072, 18.0, 29, _A2,
       f"{QWEN25_BLOG}; {_card('Qwen2.5-14B-Instruct')}", "Card: 14.7B / 13.1B.",
       native_context_tokens=32768),
    _R("2.5", "Qwen2.5-32B", 32.5, None, "dense", "2024-09-19", 131072, 18.0, 29, _A2,
       f"{QWEN25_BLOG}; {_card('Qwen2.5-32B-Instruct')}", "Card: 32.5B / 31.0B.",
       native_context_tokens=32768),
    _R("2.5", "Qwen2.5-72B", 72.7, None, "dense", "2024-09-19", 131072, 18.0, 29,
       "Qwen License (qwen)", f"{QWEN25_BLOG}; {_card('Qwen2.5-72B')}",
       "Card: 72.7B / 70.0B. Not Apache-2.0 (blog); the name 'qwen' / 'Qwen LICENSE AGREEMENT' "
       "comes from model-card metadata seen in derivative cards (secondary).",
       native_context_tokens=32768, verified=False),
    # -- Qwen3 (2504) ---------------------------------------------------------------------
    _R("3", "Qwen3-0.6B", 0.6, None, "dense", "2025-04-29", 32768, 36.0, 119, _A2,
       f"{QWEN3_BLOG}; {QWEN3_REPORT}; {_card('Qwen3-0.6B')}",
       "Card: 0.6B / 0.44B non-embedding, context 32,768. Report Table 1: 32K, tied embeddings."),
    _R("3", "Qwen3-1.7B", 1.7, None, "dense", "2025-04-29", 32768, 36.0, 119, _A2,
       f"{QWEN3_BLOG}; {QWEN3_REPORT}; {_card('Qwen3-1.7B')}", "Card: 1.7B / 1.4B; 32K."),
    _R("3", "Qwen3-4B", 4.0, None, "dense", "2025-04-29", 131072, 36.0, 119, _A2,
       f"{QWEN3_BLOG}; {QWEN3_REPORT}; {_card('Qwen3-4B')}",
       "Sources disagree on context: the Qwen3 blog table says 32K, the technical report's "
       "Table 1 says 128K, the model card says '32,768 natively and 131,072 tokens with YaRN'. "
       "Recorded as the card states.", native_context_tokens=32768),
    _R("3", "Qwen3-8B", 8.2, None, "dense", "2025-04-29", 131072, 36.0, 119, _A2,
       f"{QWEN3_BLOG}; {QWEN3_REPORT}; {_card('Qwen3-8B')}",
       "8.2B from the card (quoted in copies); 128K in blog and report; card: 32,768 native.",
       native_context_tokens=32768),
    _R("3", "Qwen3-14B", 14.8, None, "dense", "2025-04-29", 131072, 36.0, 119, _A2,
       f"{QWEN3_BLOG}; {QWEN3_REPORT}; {_card('Qwen3-14B')}", "Card: 14.8B / 13.2B.",
       native_context_tokens=32768),
    _R("3", "Qwen3-32B", 32.8, None, "dense", "2025-04-29", 131072, 36.0, 119, _A2,
       f"{QWEN3_BLOG}; {QWEN3_REPORT}; {_card('Qwen3-32B')}", "Card: 32.8B / 31.2B.",
       native_context_tokens=32768),
    _R("3", "Qwen3-30B-A3B", 30.5, 3.3, "moe", "2025-04-29", 131072, 36.0, 119, _A2,
       f"{QWEN3_BLOG}; {QWEN3_REPORT}; {_card('Qwen3-30B-A3B')}",
       "Card: '30.5B in total and 3.3B activated', 29.9B non-embedding; 128 experts, 8 active.",
       native_context_tokens=32768),
    _R("3", "Qwen3-235B-A22B", 235.0, 22.0, "moe", "2025-04-29", 131072, 36.0, 119, _A2,
       f"{QWEN3_BLOG}; {QWEN3_REPORT}; {_card('Qwen3-235B-A22B')}",
       "Card: '235B in total and 22B activated', 234B non-embedding; 128 experts, 8 active.",
       native_context_tokens=32768),
    # -- Qwen3-2507 -----------------------------------------------------------------------
    _R("3-2507", "Qwen3-235B-A22B-Instruct-2507", 235.0, 22.0, "moe", "2025-07-21", 262144, None, None,
       _A2, f"{QWEN3_README} (News 2025.07.21)",
       "Non-thinking only. 256K native; 1M-token inputs announced 2025-08-08."),
    _R("3-2507", "Qwen3-235B-A22B-Thinking-2507", 235.0, 22.0, "moe", "2025-07-25", 262144, None, None,
       _A2, f"{QWEN3_README} (News 2025.07.25)", "Thinking only. 256K native; 1M announced 2025-08-08."),
    _R("3-2507", "Qwen3-30B-A3B-Instruct-2507", 30.5, 3.3, "moe", "2025-07-30", 262144, None, None,
       _A2, f"{QWEN3_README} (News 2025.07.30); {_card('Qwen3-30B-A3B-Instruct-2507')}",
       "Card: 30.5B / 3.3B activated, 'Context Length: 262,144 natively'."),
    _R("3-2507", "Qwen3-30B-A3B-Thinking-2507", 30.5, 3.3, "moe", "2025-07-31", 262144, None, None,
       _A2, f"{QWEN3_README} (News 2025.07.31); {_card('Qwen3-30B-A3B-Thinking-2507')}",
       "Card: 30.5B / 3.3B activated, 262,144 native."),
    _R("3-2507", "Qwen3-4B-Instruct-2507", 4.0, None, "dense", "2025-08-06", 262144, None, None,
       _A2, f"{QWEN3_README} (News 2025.08.06)",
       "Size as Qwen3-4B. 256K is the README's statement for the 2507 family; the 4B card was "
       "not read.", verified=False),
    _R("3-2507", "Qwen3-4B-Thinking-2507", 4.0, None, "dense", "2025-08-06", 262144, None, None,
       _A2, f"{QWEN3_README} (News 2025.08.06)",
       "Size as Qwen3-4B. 256K is the README's statement for the 2507 family; the 4B card was "
       "not read.", verified=False),
    # -- Qwen3-Next -----------------------------------------------------------------------
    _R("3-Next", "Qwen3-Next-80B-A3B", 80.0, 3.0, "moe", "2025-09-11", 1010000, 15.0, None, _A2,
       f"{QWEN35_README} (News 2025-09-11); {_card('Qwen3-Next-80B-A3B-Thinking')}",
       "Card: '80B in total and 3B activated', 'Pretraining (15T tokens)', 512 experts (10 "
       "routed + 1 shared active), hybrid Gated DeltaNet / gated attention, '262,144 natively "
       "and extensible up to 1,010,000 tokens'. License from the Qwen3.5 README's statement.",
       native_context_tokens=262144),
    # -- Qwen3.5 --------------------------------------------------------------------------
    _R("3.5", "Qwen3.5-397B-A17B", 397.0, 17.0, "moe", "2026-02-16", None, None, 201, _A2,
       f"{QWEN35_README_FIRST} (News 2026-02-16)",
       _NOMINAL + " Context not taken from a card (README serving examples use 262,144)."),
    *(_R("3.5", n, p, a, k, "2026-02-24", None, None, 201, _A2, f"{QWEN35_README} (News 2026-02-24)",
         _NOMINAL + " Hybrid Gated DeltaNet architecture (README).")
      for n, p, a, k in (("Qwen3.5-122B-A10B", 122.0, 10.0, "moe"), ("Qwen3.5-35B-A3B", 35.0, 3.0, "moe"),
                         ("Qwen3.5-27B", 27.0, None, "dense"))),
    *(_R("3.5", f"Qwen3.5-{s}B", float(s), None, "dense", "2026-03-02", None, None, 201, _A2,
         QWEN35_README_LATER,
         _NOMINAL + " Qwen3.5 <=2B ship a template with thinking off by default (TRL 1.16's "
         "trl/chat_templates/README.md).")
      for s in (9, 4, 2, 0.8)),
    # -- Qwen3.6 --------------------------------------------------------------------------
    _R("3.6", "Qwen3.6-35B-A3B", 35.0, 3.0, "moe", "2026-04-16", None, None, None, _A2,
       QWEN35_README_LATER, _NOMINAL + " Date from a stored README copy only.", verified=False),
    _R("3.6", "Qwen3.6-27B", 27.0, None, "dense", "2026-04-22", 1010000, None, None, _A2,
       QWEN35_README_LATER,
       _NOMINAL + " Date from a stored README copy only; '262,144 natively, extensible to "
       "1,010,000' from model-card copies (secondary).",
       native_context_tokens=262144, verified=False),
    # -- Qwen3.8 (unverified) -------------------------------------------------------------
    _R("3.8", "Qwen3.8-2.4T-A95B", 2400.0, 95.0, "moe", "2026-08-12", None, None, None,
       "unknown (README: see the license file with the weights)", QWEN38_README_COPY,
       _NOMINAL + " Only in a third-party README copy.", verified=False),
    _R("3.8", "Qwen3.8-27B", 27.0, None, "dense", "2026-08-14", None, None, None,
       "unknown (README: see the license file with the weights)", QWEN38_README_COPY,
       _NOMINAL + " Only in a third-party README copy; TRL 1.16 ships its chat template.",
       verified=False),
)
del _R

# ---------------------------------------------------------------------------------------
# The seed chapter's claims (docs/source_outline.md section 6), checked
# ---------------------------------------------------------------------------------------
BENCHMARK_CLAIMS: tuple[BenchmarkClaim, ...] = (
    BenchmarkClaim(
        "Qwen3-235B-A22B is competitive with DeepSeek-R1, o1, o3-mini, Grok-3 and Gemini-2.5-Pro "
        "on coding, math and general benchmarks",
        "Our flagship model, Qwen3-235B-A22B, achieves competitive results in benchmark "
        "evaluations of coding, math, general capabilities, etc., when compared to other "
        "top-tier models such as DeepSeek-R1, o1, o3-mini, Grok-3, and Gemini-2.5-Pro.",
        QWEN3_BLOG, "verified"),
    BenchmarkClaim(
        "Qwen3-30B-A3B outcompetes QwQ-32B with 10x fewer activated parameters",
        "the small MoE model, Qwen3-30B-A3B, outcompetes QwQ-32B with 10 times of activated "
        "parameters",
        QWEN3_BLOG, "verified",
        note="The blog's wording is ambiguous ('with 10 times of activated parameters' means QwQ-32B "
             "activates about 10x more); one seed translation reverses it. 3.3B vs 32.5B activated."),
    BenchmarkClaim(
        "Qwen3-4B rivals Qwen2.5-72B-Instruct",
        "even a tiny model like Qwen3-4B can rival the performance of Qwen2.5-72B-Instruct",
        QWEN3_BLOG, "verified"),
    BenchmarkClaim(
        "Qwen3 MoE base models match dense Qwen2.5 base models with 10% of the active parameters",
        "For Qwen3-MoE base models, they achieve similar performance to Qwen2.5 dense base models "
        "while using only 10% of the active parameters.",
        f"{QWEN3_BLOG}; {QWEN3_REPORT} section 3.3 ('Even with 1/10 of the activated parameters "
        "of the Qwen2.5 dense base model, the Qwen3 MoE base model can achieve comparable "
        "performance')", "verified"),
    BenchmarkClaim(
        "Qwen3 uses about 36T tokens covering 119 languages, nearly twice Qwen2.5's 18T",
        "While Qwen2.5 was pre-trained on 18 trillion tokens, Qwen3 uses nearly twice that amount, "
        "with approximately 36 trillion tokens covering 119 languages and dialects.",
        f"{QWEN3_BLOG}; {QWEN3_REPORT} section 3.1", "verified",
        note="The Qwen3 README itself says only 'Support of 100+ languages and dialects'."),
    BenchmarkClaim(
        "Qwen3-1.7B/4B/8B/14B/32B-Base match Qwen2.5-3B/7B/14B/32B/72B-Base",
        "Qwen3-1.7B/4B/8B/14B/32B-Base performs as well as Qwen2.5-3B/7B/14B/32B/72B-Base, "
        "respectively.",
        f"{QWEN3_BLOG}; {QWEN3_REPORT} section 3.3", "verified", in_seed=False,
        note="Not in the seed; the official claim the seed's section 6 summarises."),
    BenchmarkClaim(
        "Qwen2.5 improved performance in 27+ languages",
        "Multilingual support for over 29 languages (Qwen2.5 blog and cards); 'trained on data in "
        "27 additional languages besides English and Chinese' is the Qwen2 blog's wording.",
        f"{QWEN25_BLOG}; {QWEN2_BLOG}", "differs",
        note="The seed mixes the Qwen2 figure (27 additional) into Qwen2.5 (over 29)."),
)

# ---------------------------------------------------------------------------------------
# Sampling (Qwen3 hybrid models; 2507 Instruct uses non_thinking, 2507 Thinking uses thinking)
# ---------------------------------------------------------------------------------------
SAMPLING: dict[str, SamplingPreset] = {
    "thinking": SamplingPreset(temperature=0.6, top_p=0.95, top_k=20, min_p=0.0),
    "non_thinking": SamplingPreset(temperature=0.7, top_p=0.8, top_k=20, min_p=0.0),
}
PRESENCE_PENALTY_RANGE: tuple[float, float] = (0.0, 2.0)
SAMPLING_SOURCE = (f"{_card('Qwen3-8B')} 'Best Practices'; QwenLM/Qwen3 "
                   "docs/source/getting_started/quickstart.md")
SAMPLING_NOTE = (
    "Thinking mode: Temperature=0.6, TopP=0.95, TopK=20, MinP=0 ('the default setting in "
    "generation_config.json'); 'DO NOT use greedy decoding, as it can lead to performance "
    "degradation and endless repetitions'. Non-thinking: Temperature=0.7, TopP=0.8, TopK=20, MinP=0. "
    "'For supported frameworks, you can adjust the presence_penalty parameter between 0 and 2 to "
    "reduce endless repetitions. However, using a higher value may occasionally result in language "
    "mixing and a slight decrease in model performance.' Some Qwen3 cards suggest 1.5 when "
    "repetitions are severe. presence_penalty is a vLLM/llama.cpp/OpenAI-API knob, not a "
    "transformers generate() argument.")


# Qwen3.5's presets (the 3.5 cards give presence_penalty too).  Read in a verbatim copy of the Qwen3.5-35B-A3B card's
# table; the 0.8B/2B cards' own tables were not read, and one hosting provider's page lists different values for
# 0.8B's default (thinking-off) mode, so these are marked unverified.
SAMPLING_35: dict[str, dict[str, float]] = {
    "thinking, general": dict(temperature=1.0, top_p=0.95, top_k=20, min_p=0.0, presence_penalty=1.5),
    "thinking, precise coding": dict(temperature=0.6, top_p=0.95, top_k=20, min_p=0.0, presence_penalty=0.0),
    "non-thinking, general": dict(temperature=0.7, top_p=0.8, top_k=20, min_p=0.0, presence_penalty=1.5),
    "non-thinking, reasoning": dict(temperature=1.0, top_p=1.0, top_k=40, min_p=0.0, presence_penalty=2.0),
}
SAMPLING_35_SOURCE = ("Qwen/Qwen3.5-35B-A3B model card, 'Recommended sampling (verbatim from the model card)' in "
                      "https://fakoli.github.io/anvil-serving/MODEL-SETTINGS-EXAMPLE/ (a copy; unverified against the "
                      "0.8B/2B cards, whose default mode a hosting page, developer.mittwald.de, lists as "
                      "temperature 1.0, top_p 1.0, top_k 20, presence_penalty 2.0)")

# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------
def releases(generation: str | None = None) -> list[ModelRelease]:
    """All releases in date order, or those of one generation key (``"2.5"``, ``"3"``, ...)."""
    if generation is not None and generation not in GENERATIONS:
        raise LabError(f"unknown Qwen generation {generation!r}",
                       f"use one of {', '.join(GENERATIONS)}")
    rows = [r for r in RELEASES if generation is None or r.generation == generation]
    return sorted(rows, key=lambda r: (r.released, r.params_b or 0.0, r.name))


def as_rows(generation: str | None = None) -> list[dict[str, Any]]:
    """Releases as plain dicts (``pandas.DataFrame(facts.as_rows())``), with ``yarn_factor``."""
    return [{**asdict(r), "yarn_factor": r.yarn_factor} for r in releases(generation)]


def timeline_plot(ax: Any = None) -> Any:
    """Release date vs generation; marker area grows with size, colour shows dense/MoE.

    Returns the matplotlib Figure.  Unverified records are drawn hollow.
    """

    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 5))
    else:
        fig = ax.figure
    order = list(GENERATIONS)
    colours = {"dense": "tab:blue", "moe": "tab:orange"}
    for kind in ("dense", "moe"):
        for verified in (True, False):
            rs = [r for r in RELEASES if r.kind == kind and r.verified == verified]
            if not rs:
                continue
            sizes = [20 + 40 * math.sqrt(r.params_b or 1.0) for r in rs]
            ax.scatter([r.date for r in rs], [order.index(r.generation) for r in rs], s=sizes,
                       facecolors=colours[kind] if verified else "none", edgecolors=colours[kind],
                       alpha=0.6)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="", markersize=8, color=colours[k],
                      markerfacecolor=colours[k] if v else "none", alpha=0.6,
                      label=f"{k}{'' if v else ' (unverified)'}")
               for k in ("dense", "moe") for v in (True, False)]
    ax.set_yticks(range(len(order)), [GENERATIONS[k].name for k in order])
    ax.set_xlabel("release date")
    ax.set_title("Qwen open-weight releases (marker area ~ sqrt(total parameters))")
    ax.legend(handles=handles, loc="upper left", fontsize="small")
    ax.grid(True, alpha=0.3)
    fig.autofmt_xdate()
    return fig
