"""Which Qwen model for which job: the seed chapter's selection guide, checked against memory.

Two halves, kept apart on purpose:

* **The task side is a claim.**  :data:`SEED_GUIDE` is the source chapter's "model selection
  guide" (docs/source_outline.md section 7): for basic apps, math and reasoning, coding, multimodal and
  enterprise work it names model series.  The course did not benchmark these pairings; every
  :class:`Recommendation` says so in its ``source``.
* **The memory side is computed.**  Weights come from :func:`labkit.family.architectures.weight_memory_gb`
  (the real configs built on the meta device), the KV cache from
  :func:`labkit.family.architectures.kv_cache_gb`, plus the same 1 GB allowance for activations and
  runtime that :func:`labkit.family.architectures.fits` uses.  A model is recommended only when that
  total is within the memory budget *and* its documented context covers the requested one.

Precisions by hardware:

* ``gpu``: ``bf16``, then bitsandbytes ``int8`` and ``nf4``.  bitsandbytes leaves the fused
  experts of Qwen3-MoE in bf16 (see :func:`labkit.family.architectures.weight_memory_gb`), so 4-bit
  saves almost nothing on the MoE models.
* ``cpu`` and ``mobile``: ``bf16``, ``8-bit`` and ``4-bit``, meaning a GGUF (llama.cpp, Ollama)
  or similar build that quantizes the experts too.  Their size is *estimated* with the same
  per-weight rule as int8 / nf4 (experts included); real GGUF files differ by a few percent.
* ``mobile`` also keeps only the seed's small tier (0.5B-3B: "edge, mobile").

The highest precision that fits is chosen per model.  Size tiers follow the seed: small
0.5B-3B, medium 7B-32B (sizes between 3B and 7B are counted as medium), large 72B and up.

Used in notebook 01.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from labkit.errors import LabError
from labkit.family import architectures as A
from labkit.family.facts import RELEASES

HARDWARE = ("gpu", "cpu", "mobile")
OVERHEAD_GB = 1.0   # the allowance architectures.fits() uses for activations, runtime, slack
SEED_GUIDE_SOURCE = ("seed chapter 'Section 2: Qwen family fundamentals', 'Model selection guide' "
                     "(docs/source_outline.md section 7): a claim of the source chapter, not benchmarked "
                     "by the course")

# precision label -> (architectures dtype, experts quantized too?)
_PRECISIONS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "gpu": (("bf16", "bf16", False), ("int8", "int8", False), ("nf4", "nf4", False)),
    "cpu": (("bf16", "bf16", True), ("8-bit", "int8", True), ("4-bit", "nf4", True)),
}
_PRECISIONS["mobile"] = _PRECISIONS["cpu"]


# ------------------------------------------------------------------------------------ data
@dataclass(frozen=True)
class Candidate:
    """A model the seed's guide names, with what the course knows about its size and context."""

    model: str                       # Hugging Face repo name without "Qwen/"
    arch: str | None                 # key of architectures.CONFIGS for the language model; None: unknown
    context_tokens: int | None       # longest documented context
    source: str                      # where arch equivalence and context come from
    extra_params: int = 0            # parameters outside the language model (vision tower), kept bf16
    native_context_tokens: int | None = None
    note: str = ""

    @property
    def nominal_b(self) -> float:
        """The size in the model's name, in billions (``Qwen3-30B-A3B`` -> 30)."""
        m = re.search(r"-(\d+(?:\.\d+)?)B", self.model)
        return float(m.group(1)) if m else float("nan")

    @property
    def tier(self) -> str:
        """``small`` (<= 3B), ``medium`` (< 72B) or ``large`` (>= 72B), from the name's size."""
        b = self.nominal_b
        return "small" if b <= 3 else "medium" if b < 72 else "large"


def _release(arch: str) -> Any:
    for r in RELEASES:
        if r.name == arch:
            return r
    return None


def _release_context(arch: str) -> tuple[int | None, int | None]:
    r = _release(arch)
    return (r.context_tokens, r.native_context_tokens) if r else (None, None)


def _license_note(arch: str) -> str:
    r = _release(arch)
    if r is None or r.license == "Apache-2.0":
        return ""
    return f"License: {r.license}, not Apache-2.0 (labkit.facts{'' if r.verified else ', unverified'})."


def _vl_vision_params(out_hidden: int) -> int:
    """Parameters of the Qwen2.5-VL vision tower, from its module shapes.

    Patch embedding Conv3d(3, 1280, (2, 14, 14)) without bias; 32 blocks of two RMSNorms (1280),
    qkv 1280->3840 and proj 1280->1280 with bias, SwiGLU MLP 1280<->3420 with bias; merger
    RMSNorm(1280), Linear(5120, 5120) and Linear(5120, out_hidden) with bias.  For Qwen2.5-VL-7B
    (out_hidden 3584) this gives 676,550,144, and 676,550,144 + 7,615,616,512 (Qwen2.5-7B) =
    8.29B, the total third-party analyses report.
    """
    d, inter = 1280, 3420
    patch = 3 * d * 2 * 14 * 14
    block = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * (d * inter + inter) + (inter * d + d)
    merger = d + (4 * d * 4 * d + 4 * d) + (4 * d * out_hidden + out_hidden)
    return patch + 32 * block + merger


_VL_SHAPES = ("Qwen2.5-VL-7B module print (embed_tokens 152064 x 3584, 28 decoder layers, vision tower "
              "shapes) in acproject/duorou docs/qwen2.5vl_graph.md; the language model of each "
              "Qwen2.5-VL size is taken to have the shapes of the Qwen2.5 model of the same size "
              "(checked for 7B only)")
_CODER_SRC = ("https://huggingface.co/Qwen/Qwen2.5-Coder-{s}B-Instruct (model card, via copy in "
              "ZHUI/paddlenlp_model_readme): same parameter counts, layers and heads as Qwen2.5-{s}B; "
              "context from the Coder family table of Qwen's blog (2024-11-12, "
              "https://qwenlm.github.io/blog/qwen2.5-coder-family/): 0.5B, 1.5B and 3B 32K, 7B-32B 128K "
              "(the first 1.5B card, of September 2024, said 131,072)")
_MATH_SRC = ("Qwen2.5-Math cards (via copy in ZHUI/paddlenlp_model_readme): base models continue "
             "Qwen2.5 ('deployed ... in the same way as Qwen2.5'), shapes not read from config.json; "
             "context 4096: config max_position_embeddings per QwenLM/Qwen2.5-Math issue #59 and "
             "hkust-nlp/simpleRL-reason issue #70")


def _qwen(name: str) -> Candidate:
    ctx, native = _release_context(name)
    return Candidate(name, name, ctx, f"labkit.family.facts release record of {name}", native_context_tokens=native,
                     note=_license_note(name))


def _q25_instruct(size: str) -> Candidate:
    base = f"Qwen2.5-{size}B"
    ctx, native = _release_context(base)
    return Candidate(f"{base}-Instruct", base, ctx, f"labkit.family.facts release record of {base}",
                     native_context_tokens=native, note=_license_note(base))


def _coder(size: str) -> Candidate:
    ctx = 32768 if size in ("0.5", "1.5", "3") else 131072
    return Candidate(f"Qwen2.5-Coder-{size}B-Instruct", f"Qwen2.5-{size}B", ctx, _CODER_SRC.format(s=size),
                     native_context_tokens=32768)


def _math(size: str) -> Candidate:
    return Candidate(f"Qwen2.5-Math-{size}B-Instruct", f"Qwen2.5-{size}B", 4096, _MATH_SRC,
                     note="Qwen2.5-Math 'mainly supports solving English and Chinese math problems' (card).")


def _vl(size: str) -> Candidate:
    arch = f"Qwen2.5-{size}B"
    hidden = A.CONFIGS[arch].config["hidden_size"]
    return Candidate(f"Qwen2.5-VL-{size}B-Instruct", arch, 32768, _VL_SHAPES, _vl_vision_params(hidden),
                     note="Context taken as 32,768 (not read from the VL configs). Images add tokens: "
                          "each image costs up to 16,384 visual tokens by default (card).")


_QWEN3 = ("Qwen3-0.6B", "Qwen3-1.7B", "Qwen3-4B", "Qwen3-8B", "Qwen3-14B", "Qwen3-32B",
          "Qwen3-30B-A3B", "Qwen3-235B-A22B")


@dataclass(frozen=True)
class GuideEntry:
    """One line of the seed's guide: what it names, what for, and the concrete models."""

    named: str                       # the seed's wording of the model(s)
    use: str                         # what the seed says it is for
    candidates: tuple[Candidate, ...]
    suits: tuple[str, ...] = HARDWARE   # hardware this line is meant for (ordering only)


@dataclass(frozen=True)
class Task:
    key: str
    title: str                       # the seed's heading, in English
    entries: tuple[GuideEntry, ...]


def _build_guide() -> dict[str, Task]:
    q3 = tuple(_qwen(n) for n in _QWEN3)
    return {t.key: t for t in (
        Task("basic", "For basic applications", (
            GuideEntry("Qwen2.5-0.5B/1.5B", "mobile apps, edge devices, real-time applications",
                       (_q25_instruct("0.5"), _q25_instruct("1.5")), ("mobile", "cpu")),
            GuideEntry("Qwen2.5-3B/7B", "general chatbots, content generation, question answering",
                       (_q25_instruct("3"), _q25_instruct("7")), ("gpu", "cpu")),
        )),
        Task("math", "For math and reasoning tasks", (
            GuideEntry("Qwen2.5-Math", "solving math problems, STEM education",
                       (_math("1.5"), _math("7"), _math("72"))),
            GuideEntry("Qwen3 with thinking mode", "complex reasoning that needs step-by-step analysis", q3),
        )),
        Task("coding", "For programming and development", (
            GuideEntry("Qwen2.5-Coder", "code generation, debugging, programming help",
                       tuple(_coder(s) for s in ("0.5", "1.5", "3", "7", "14", "32"))),
            GuideEntry("Qwen3", "advanced programming tasks with reasoning", q3),
        )),
        Task("multimodal", "For multimodal applications", (
            GuideEntry("Qwen2.5-VL", "image understanding, visual question answering",
                       tuple(_vl(s) for s in ("3", "7", "32", "72"))),
            GuideEntry("Qwen-Audio", "audio processing and speech understanding",
                       (Candidate("Qwen2-Audio-7B-Instruct", None, None,
                                  "no architecture data in labkit (audio encoder + Qwen-7B)"),)),
        )),
        Task("enterprise", "For enterprise deployments", (
            GuideEntry("Qwen2.5-32B/72B", "high-performance language understanding",
                       (_q25_instruct("32"), _q25_instruct("72")), ("gpu",)),
            GuideEntry("Qwen3-235B-A22B", "maximum capability for demanding applications",
                       (_qwen("Qwen3-235B-A22B"),), ("gpu",)),
        )),
    )}


SEED_GUIDE: dict[str, Task] = _build_guide()
TASKS = tuple(SEED_GUIDE)
_ALIASES = {"basic apps": "basic", "chat": "basic", "chatbot": "basic", "reasoning": "math",
            "math/reasoning": "math", "code": "coding", "programming": "coding", "vision": "multimodal",
            "audio": "multimodal", "long-context": "enterprise", "long context": "enterprise"}


# The seed's comparison matrix (docs/source_outline.md section 7), with what the course could check.
SEED_MATRIX: tuple[dict[str, str], ...] = tuple(
    dict(zip(("series", "parameters (chapter)", "context (chapter)", "strengths (chapter)",
              "best use (chapter)", "course check"), row)) for row in (
        ("Qwen2.5", "0.5B-72B", "32K-128K", "balanced performance, multilingual",
         "general applications, production",
         "consistent: 0.5B-3B 32K; 7B-72B 128K with YaRN, 32K native (labkit.family.facts)"),
        ("Qwen2.5-Coder", "1.5B-32B", "128K", "code generation, programming",
         "software development, coding help",
         "six sizes, 0.5B to 32B; 0.5B, 1.5B and 3B have 32K context, 7B-32B 128K with YaRN "
         "(Coder family table, Qwen blog 2024-11-12; the first 1.5B card said 128K)"),
        ("Qwen2.5-Math", "1.5B-72B", "4K-128K", "mathematical reasoning", "education, STEM",
         "sizes consistent (cards); context: the configs stop at 4,096 tokens, no 128K found (issue threads, secondary)"),
        ("Qwen2.5-VL", "various", "variable", "image and text understanding", "multimodal apps, image analysis",
         "3B, 7B and 72B at launch (card), 32B later; labkit sizes them as Qwen2.5 plus a 0.68B vision tower"),
        ("Qwen3", "0.6B-235B", "variable", "advanced reasoning, thinking mode", "complex reasoning, research",
         "0.6B and 1.7B: 32K; 4B and up: 32K native, 128K with YaRN (labkit.family.facts)"),
        ("Qwen3 MoE", "30B-235B total", "variable", "efficient performance at scale",
         "enterprise, high-performance needs",
         "30B-A3B and 235B-A22B activate 3.3B / 22B per token (counted), but memory follows the total"),
    ))


# ------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Recommendation:
    """A model that fits, at the highest precision that fits, with why and where from."""

    model: str
    precision: str
    reason: str
    source: str
    memory_gb: float          # weights + KV cache + allowance at that precision
    budget_gb: float
    tier: str


@dataclass(frozen=True)
class Assessment:
    """Every candidate of a task, fitting or not (``precision`` None when nothing fits)."""

    model: str
    fits: bool
    precision: str | None
    memory_gb: float | None   # at the chosen precision, or at the smallest one when none fits
    reason: str
    tier: str


def _check(task: Any, memory_gb: Any, hardware: Any, context_tokens: Any) -> tuple[str, float, str, int]:
    key = str(task).strip().lower() if isinstance(task, str) else task
    key = _ALIASES.get(key, key)
    if key not in SEED_GUIDE:
        raise LabError(f"unknown task {task!r}", f"use one of: {', '.join(TASKS)}")
    if isinstance(memory_gb, bool) or not isinstance(memory_gb, (int, float)) or not memory_gb > 0:
        raise LabError(f"memory_gb must be a positive number of GB, got {memory_gb!r}",
                       "pass the GPU's memory (e.g. 16 for a T4) or the RAM you can spare (e.g. 8)")
    hw = str(hardware).strip().lower()
    if hw not in HARDWARE:
        raise LabError(f"unknown hardware {hardware!r}", f"use one of: {', '.join(HARDWARE)}")
    if isinstance(context_tokens, bool) or not isinstance(context_tokens, int) or context_tokens < 1:
        raise LabError(f"context_tokens must be a positive int, got {context_tokens!r}",
                       "e.g. 8192 for an 8K-token prompt plus answer")
    return key, float(memory_gb), hw, context_tokens


@lru_cache(maxsize=None)
def _needed(c: Candidate, dtype: str, experts: bool, context: int) -> tuple[float, float, float]:
    """(total, weights, kv) in GB for one candidate."""
    assert c.arch is not None
    weights = A.weight_memory_gb(c.arch, dtype, experts_quantized=experts) + 2 * c.extra_params / A.GB
    kv = A.kv_cache_gb(c.arch, context)
    return weights + kv + OVERHEAD_GB, weights, kv


def _assess_one(c: Candidate, hw: str, budget: float, context: int) -> tuple[Assessment, str]:
    if c.arch is None:
        return Assessment(c.model, False, None, None, f"not sized: {c.source}; never recommended", c.tier), ""
    if hw == "mobile" and c.tier != "small":
        return Assessment(c.model, False, None, None,
                          f"{c.nominal_b:g}B is above the seed's mobile tier (0.5B-3B)", c.tier), ""
    if c.context_tokens is not None and context > c.context_tokens:
        return Assessment(c.model, False, None, None,
                          f"documented context is {c.context_tokens:,} tokens < {context:,} requested",
                          c.tier), ""
    tried = []
    for label, dtype, experts in _PRECISIONS[hw]:
        total, weights, kv = _needed(c, dtype, experts, context)
        tried.append(f"{label} {total:.1f}")
        if total <= budget:
            detail = (f"{label} needs {total:.1f} GB of {budget:g} GB (weights {weights:.1f} + KV cache "
                      f"{kv:.2f} for {context:,} tokens + {OVERHEAD_GB:g} allowance)")
            if len(tried) > 1:
                detail += f"; higher precision would need: {', '.join(tried[:-1])} GB"
            if c.arch in ("Qwen3-30B-A3B", "Qwen3-235B-A22B") and hw == "gpu" and dtype != "bf16":
                detail += "; bitsandbytes keeps the MoE experts in bf16, so quantizing saves little"
            if c.native_context_tokens and context > c.native_context_tokens:
                detail += (f"; beyond {c.native_context_tokens:,} tokens enable YaRN rope scaling "
                           f"(factor {c.context_tokens / c.native_context_tokens:g})")
            return Assessment(c.model, True, label, total, detail, c.tier), label
    return Assessment(c.model, False, None, total,
                      f"needs more than {budget:g} GB even at the smallest precision ({'; '.join(tried)} GB)",
                      c.tier), ""


def assess(task: str, memory_gb: float, hardware: str = "gpu", context_tokens: int = 8192) -> list[Assessment]:
    """Every model the seed names for ``task``, with whether and how it fits (see :func:`recommend`)."""
    key, budget, hw, context = _check(task, memory_gb, hardware, context_tokens)
    out = []
    for entry in SEED_GUIDE[key].entries:
        for c in entry.candidates:
            out.append(_assess_one(c, hw, budget, context)[0])
    return out


def recommend(task: str, memory_gb: float, hardware: str = "gpu",
              context_tokens: int = 8192) -> list[Recommendation]:
    """Models from the seed's guide for ``task`` that fit ``memory_gb`` on ``hardware``.

    ``task``: one of :data:`TASKS` (``basic``, ``math``, ``coding``, ``multimodal``,
    ``enterprise``; a few aliases such as ``"reasoning"`` or ``"long-context"`` work too).
    ``memory_gb``: GPU memory, or the RAM you can give the model on ``cpu``/``mobile``.
    ``context_tokens``: prompt plus answer, for the KV cache and the context check.

    Order: lines of the guide meant for this hardware first, then the guide's order, and
    within a line the largest model first.  Raises :class:`LabError` for an unknown task or
    hardware, a non-positive budget or context.
    """
    key, budget, hw, context = _check(task, memory_gb, hardware, context_tokens)
    ranked: list[tuple[tuple[int, int, float], Recommendation]] = []
    for i, entry in enumerate(SEED_GUIDE[key].entries):
        for c in entry.candidates:
            a, label = _assess_one(c, hw, budget, context)
            if not a.fits:
                continue
            reason = f"seed: {entry.named} for {entry.use}. {a.reason}"
            if c.note:
                reason += f". {c.note}"
            source = (f"task: {SEED_GUIDE_SOURCE}, '{SEED_GUIDE[key].title}'; memory: computed by "
                      f"labkit.family.architectures from the {c.arch} config; model facts: {c.source}")
            rec = Recommendation(c.model, label, reason, source, round(a.memory_gb, 2), budget, c.tier)
            ranked.append(((0 if hw in entry.suits else 1, i, -c.nominal_b), rec))
    return [r for _, r in sorted(ranked, key=lambda t: t[0])]


def as_rows(recs: list[Recommendation] | list[Assessment]) -> list[dict[str, Any]]:
    """Plain dicts for ``pandas.DataFrame``."""

    return [asdict(r) for r in recs]


# ------------------------------------------------------------------------------------ form
TASK_LABELS = {"basic": "Basic apps (chat, Q&A, content)", "math": "Math and reasoning",
               "coding": "Coding", "multimodal": "Multimodal (image, audio)",
               "enterprise": "Enterprise / long context"}


def selection_form(task: str = "basic", memory_gb: float = 16, hardware: str = "gpu",
                   context_tokens: int = 8192) -> Any:
    """An ipywidgets form: task, memory budget, hardware, context -> table of recommendations.

    Returns the form (an ``ipywidgets.VBox``); display it, or leave it as a cell's last line.
    The form's ``.update()`` redraws the table (the widgets call it on every change).

    The table is written into the form's ``Output`` widget by setting its ``outputs``, not with
    ``with out: display(...)``: captured output makes headless runners (papermill, nbclient)
    answer the kernel while they wait for the cell's reply, and nbclient 0.11 then stalls now
    and then until its timeout (see ``_OutputWidget`` in tools/run_notebooks.py).
    """
    import ipywidgets as W
    import pandas as pd

    _check(task, memory_gb, hardware, context_tokens)
    task_w = W.Dropdown(options=[(TASK_LABELS[k], k) for k in TASKS], value=task, description="task")
    # a log scale: 4, 16, 24 and 80 GB are as easy to pick as 640
    mem_w = W.FloatLogSlider(value=float(memory_gb), base=2, min=0, max=9.33, step=0.05, description="memory GB",
                             continuous_update=False, readout_format=".1f")
    hw_w = W.ToggleButtons(options=list(HARDWARE), value=hardware, description="hardware")
    ctx_w = W.Dropdown(options=[("4K", 4096), ("8K", 8192), ("32K", 32768), ("128K", 131072)],
                       value=context_tokens if context_tokens in (4096, 8192, 32768, 131072) else 8192,
                       description="context")
    out = W.Output()

    def update(*_: Any) -> None:
        outputs: list[dict] = []
        lines: list[str] = []
        recs = recommend(task_w.value, mem_w.value, hw_w.value, ctx_w.value)
        if recs:
            df = pd.DataFrame(as_rows(recs))[["model", "precision", "memory_gb", "tier", "reason"]]
            html = df.style.hide(axis="index").format({"memory_gb": "{:.2f}"}).to_html()
            outputs.append({"output_type": "display_data", "metadata": {},
                            "data": {"text/html": html, "text/plain": df.to_string(index=False)}})
        else:
            lines.append("Nothing from the seed's guide fits. Closest misses:")
        misses = [a for a in assess(task_w.value, mem_w.value, hw_w.value, ctx_w.value) if not a.fits]
        if misses:
            lines.append(f"Not recommended ({len(misses)}): " + "; ".join(f"{a.model}: {a.reason}" for a in misses[:4])
                         + (" ..." if len(misses) > 4 else ""))
        lines.append(f"Task mapping: {SEED_GUIDE_SOURCE}.")
        outputs.append({"output_type": "stream", "name": "stdout", "text": "\n".join(lines) + "\n"})
        out.outputs = tuple(outputs)  # one state update: no flicker, nothing captured

    for w in (task_w, mem_w, hw_w, ctx_w):
        w.observe(update, names="value")
    form = W.VBox([W.HBox([task_w, ctx_w]), mem_w, hw_w, out])
    form.update = update  # type: ignore[attr-defined]
    update()
    return form
