"""GPU memory under the hub profile, per notebook: what each notebook holds at its peak, computed.

:data:`HUB_MEMORY` lists what each course notebook holds in GPU memory at its peak under the hub profile (read
from the notebooks; see each entry's note): which models, at which precision, how many copies, LoRA adapters,
the KV cache.  :func:`hub_memory` sums it with :mod:`labkit.family.architectures` (weights, KV cache, the 1 GB
allowance of ``memory_needed_gb``) and names the smallest GPU of :data:`GPU_CHOICES` that holds it.  The models
are those of :data:`labkit.hub.checkpoints.COURSE_MODELS` with their architecture and vision-tower size.
``tools/course_map.py`` renders the figures in README.md and the instructor guide.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import lru_cache

from labkit.family import architectures as A
from labkit.hub import checkpoints

GPU_CHOICES = ("T4", "L4", "A100", "H100")   # keys of labkit.family.architectures.GPUS, smallest first


class CourseMapError(Exception):
    """The data cannot be rendered (a missing or stale time entry, an unknown notebook)."""


@dataclass(frozen=True)
class LoRA:
    """LoRA adapters on one model copy: rank, target projections, and what training left in memory."""

    rank: int
    targets: tuple[str, ...]
    optimizer: bool = True   # AdamW state kept (a trainer that ran); False: weights + gradients only

    @property
    def bytes_per_param(self) -> int:
        # fp32 adapter weight + fp32 gradient (+ AdamW's two fp32 moments).  An upper bound: trl keeps
        # QLoRA adapters in bf16 (notebook 06 prints it).
        return 16 if self.optimizer else 8


@dataclass(frozen=True)
class Load:
    """One model held in GPU memory at a notebook's peak under the hub profile."""

    model: str                      # the Hub id the notebook loads
    precision: str = "bf16"         # "bf16", "int8", "nf4" or "nf4-dq" (NF4 with double quantization)
    copies: int = 1
    lora: LoRA | None = None
    fp32_upcast: bool = False       # prepare_model_for_kbit_training: non-quantized parameters -> float32
    why: str = ""                   # which variables of the notebook hold it


@dataclass(frozen=True)
class HubMemory:
    """What a notebook holds at its peak: models, the KV cache of its largest generation, what is left out."""

    loads: tuple[Load, ...]
    kv_batch: int                   # sequences in the largest generate() batch
    kv_tokens: int                  # tokens per sequence it covers (prompt + new tokens)
    kv_why: str
    not_covered: str


ALL7 = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
QV = ("q_proj", "v_proj")
Q3 = checkpoints.DEFAULT_MODEL   # what labkit.load_model() loads under the hub profile
VL = checkpoints.get("Qwen/Qwen2.5-VL-3B-Instruct").repo_id
Q35 = checkpoints.get("Qwen/Qwen3.5-0.8B").repo_id   # notebook 12's HUB_MODEL by default

NO_MODEL: dict[str, str] = {
    "00": "no model: only Qwen3-0.6B's tokenizer is downloaded; runs on CPU",
    "01": "no weights: every model is built on the meta device; under the hub profile only Qwen3-0.6B's config.json "
          "and tokenizer are downloaded; runs on CPU",
}

HUB_MEMORY: dict[str, HubMemory] = {
    "02": HubMemory(
        (Load(Q3, why="`model`, loaded in section 1 with `AutoModelForCausalLM.from_pretrained`"),),
        1, 534, "section 4's streamed reply: one sequence, a 22-token prompt and up to 512 new tokens",
        "activations and the logits of each step"),
    "03": HubMemory(
        (Load(Q3, why="`model` from `labkit.load_model()`"),
         Load(VL, why="`vl_model`, section 5; Coder-1.5B and Math-1.5B come before it one at a time in `hub_chat` "
                      "and are freed")),
        8, 96, "section 4: 8 conversations in one batch, prompts of up to 32 tokens and up to 64 new ones",
        "activations, the logits of each step, the image's visual tokens and the VL model's own KV cache, the CUDA "
        "context beyond the allowance"),
    "04": HubMemory(
        (Load(Q3, why="`model` from `labkit.load_model()`"),),
        32, 2074, "section 6's `thinking.mode_table`: 32 problems (8 per level) in one batch, prompts of up to 26 "
                  "tokens and up to 2,048 new ones (`THINK_TOKENS`)",
        "activations and the logits of each step"),
    "05": HubMemory(
        (Load(Q3, "bf16", 2, why="`models['float32']`: section 1's full-shape random-weight Qwen3-0.6B in float32, "
                                "twice its bf16 bytes"),
         Load(Q3, "bf16", why="`models['bfloat16']` (fp16 on a T4)"),
         Load(Q3, "int8", why="`models['int8']`"),
         Load(Q3, "nf4-dq", why="`models['nf4 + double quant']`; all four are freed before section 3, which holds "
                               "at most two copies")),
        48, 67, "section 3's `compare_precisions(eval_n=48)`: 48 problems in one batch, prompts of up to 27 tokens and "
                "up to 40 new ones (after section 1's models are freed)",
        "activations; bitsandbytes' dequantization buffers"),
    "06": HubMemory(
        (Load(Q3, why="`model`, never trained"),
         Load(Q3, lora=LoRA(8, ALL7), why="`stock.model`: one step of the stock SFTTrainer, with its AdamW state"),
         Load(Q3, lora=LoRA(8, ALL7), why="`trainer.model`, trained for STEPS steps, with its AdamW state"),
         Load(Q3, why="`reloaded` / `merged`: base + the saved adapter, merged in place"),
         Load(Q3, "nf4-dq", lora=LoRA(8, ALL7), fp32_upcast=True, why="`base4`, trained by `q_trainer`: QLoRA")),
        50, 256, "`scores()`: 50 held-out questions in one batch (`N_DOUBLE`), up to 160 new tokens",
        "training activations (batch 8 x up to 256 tokens, no activation checkpointing; eval batch 32); the "
        "gradient probe of section 9 runs on a CPU only"),
    "07": HubMemory(
        (Load(Q3, "bf16", why="`model` (the health check corrupts and restores its final norm: no second copy)"),),
        8, 87, "section 8: `generate_on_gpu(batch=8)`, a 23-token prompt + 64 new tokens",
        "activations; `torch.compile` workspaces of the static-cache run; the full-shape random Qwen3-0.6B of "
        "sections 5-7 sits in CPU RAM (2.4 GB, float32), not on the GPU"),
    "08": HubMemory(
        (Load(Q3, "bf16", 2, why="`model` in the notebook, and one `transformers serve` process at a time (section 3's "
                                 "by hand, then section 6's through labkit)"),),
        8, 128, "8 requests batched in the notebook (sections 1-2), up to 40 new tokens",
        "the server's paged KV cache (transformers serve sizes it from the free GPU memory) and its own CUDA context; "
        "vLLM only when `LOAD_TEST_ENGINE = \"vllm\"` (section 6 starts it with a share of the GPU: "
        "`gpu_memory_utilization`)"),
    "09": HubMemory(
        (Load(Q3, "bf16", why="`model` in the kernel; llama.cpp (as pip builds it) and ONNX Runtime (exported with "
                              "`-e cpu`) run on the CPU"),),
        8, 256, "`runtimes.reference()`: the 8 held-out questions in one batch, up to 160 new tokens",
        "vLLM (section 1 launches it with `--gpu-memory-utilization` 0.9 x the share `model` leaves free, so it takes "
        "most of the rest of the GPU); the CUDA context; activations"),
    "10": HubMemory(
        (Load(Q3, "bf16", 2, why="`model` in the kernel, and the `transformers serve` process of section 8 (stopped "
                                 "at the end of that section)"),),
        20, 2304, "section 5's `agent.run_batch`: 20 questions in one batch, the second round of replies (a prompt of "
                  "up to 214 tokens with the tool, the first reply of up to 1024 tokens kept with its thinking, the "
                  "tool's result, up to 1024 new tokens)",
        "a third or fourth round for a question the model calls on again (up to 1024 tokens more each); the server's "
        "paged KV cache (transformers serve sizes it from the free GPU memory) and its CUDA context; activations"),
    "11": HubMemory(
        (Load(Q3, why="`model`, never trained"),
         Load(Q3, lora=LoRA(8, ALL7), why="`stock.model`: one step of the stock GRPOTrainer, with its AdamW state"),
         Load(Q3, lora=LoRA(8, ALL7), why="`fast.model`: one step of the compact trainer (on a real checkpoint the "
                                          "stock code runs)"),
         Load(Q3, lora=LoRA(8, ALL7), why="`trainer.model`, trained for STEPS steps, with its AdamW state")),
        64, 44, "a GRPO step: 8 prompts x 8 completions in one batch, prompts of up to 24 tokens and up to 20 new "
                "ones (`max_completion_length`)",
        "training activations and the log-probabilities of 64 x 20 completion tokens over the vocabulary (trl "
        "scores them in chunks); section 6's evaluation runs 100 questions with thinking, up to 160 new tokens"),
    "12": HubMemory(
        (Load(Q35, why="`model`, the image-text model of section 3"),
         Load(Q35, why="`text_model`, the same checkpoint loaded again with `AutoModelForCausalLM` (its language "
                       "model; counted whole here, an upper bound)")),
        1, 400, "section 5's tool round: one sequence, a prompt of up to about 340 tokens with the tool, the call "
                "and its result, and up to 64 new tokens",
        "section 2's two 4-layer blocks (random weights at the real widths) and their caches at up to 32,768 tokens "
        "(about 0.6 GB for Qwen3's block); llama.cpp (section 6) runs on the CPU; activations"),
}


@dataclass(frozen=True)
class Part:
    label: str
    gb: float


@dataclass(frozen=True)
class MemoryFigure:
    total_gb: float
    parts: tuple[Part, ...]
    smallest_gpu: str | None


def _arch(model_id: str) -> tuple[str, int, str]:
    """(config name in labkit.family.architectures, extra bf16 parameters, how it was sized) for a Hub id,
    from its entry in :data:`labkit.hub.checkpoints.COURSE_MODELS`."""
    model = checkpoints.find(model_id)
    if model is None:
        raise CourseMapError(f"{model_id!r} is not in labkit.hub.checkpoints.COURSE_MODELS: add it there (the one list of the "
                             "checkpoints the course loads under the hub profile)")
    if model.name == model.arch and not model.vision_params:
        return model.arch, 0, model.arch
    how = model.arch if model.name == model.arch else f"sized as {model.arch}"
    if model.vision_params:
        counted = "`labkit.family.architectures.VISION`" if model.arch in A.VISION else "`labkit.family.selection`"
        how += f" + a {model.vision_params / 1e9:.2f}B-parameter vision tower, {counted}"
    return model.arch, model.vision_params, how


@lru_cache(maxsize=None)
def _linear_numel(arch: str, targets: tuple[str, ...] | None = None, lora_rank: int = 0) -> int:
    """Over the nn.Linear layers bitsandbytes quantizes (all but the output head): their weights'
    numel, or with ``lora_rank`` the LoRA parameters r x (in + out) of those named in ``targets``."""
    import torch.nn as nn

    model = A.build_on_meta(arch)
    head = model.get_output_embeddings()
    total = 0
    for name, module in model.named_modules():
        if type(module) is not nn.Linear or module is head:
            continue
        if lora_rank:
            if name.rsplit(".", 1)[-1] in (targets or ()):
                total += lora_rank * (module.in_features + module.out_features)
        else:
            total += module.weight.numel()
    return total


def lora_params(model_id: str, lora: LoRA) -> int:
    """LoRA parameters of ``lora`` on the meta-built model of ``model_id``."""
    return _linear_numel(_arch(model_id)[0], tuple(lora.targets), lora.rank)


def weights_gb(load: Load) -> float:
    """GB of one copy's weights at its precision (labkit.family.architectures.weight_memory_gb), vision tower included."""
    arch, extra, _ = _arch(load.model)
    if load.precision == "nf4-dq":
        gb = A.weight_memory_gb(arch, "nf4", double_quant=True)
    else:
        gb = A.weight_memory_gb(arch, load.precision)
    return gb + 2 * extra / A.GB


def upcast_gb(load: Load) -> float:
    """GB that prepare_model_for_kbit_training adds: 2 more bytes for every parameter not quantized."""
    arch, extra, _ = _arch(load.model)
    kept = A.count_params(arch)["total"] - _linear_numel(arch) + extra
    return 2 * kept / A.GB


def allowance_gb() -> float:
    """The fixed allowance of labkit.family.architectures.memory_needed_gb (activations, CUDA context, slack)."""
    return float(inspect.signature(A.memory_needed_gb).parameters["overhead_gb"].default)


def hub_memory(number: str) -> MemoryFigure | None:
    """The computed GPU memory of notebook ``number`` under the hub profile (None: it loads no model)."""
    if number in NO_MODEL:
        return None
    try:
        spec = HUB_MEMORY[number]
    except KeyError:
        raise CourseMapError(f"notebook {number} has no entry in HUB_MEMORY or NO_MODEL "
                             "(tools/course_map.py): read what it loads under the hub profile and add one") from None
    parts: list[Part] = []
    for load in spec.loads:
        arch, _, how = _arch(load.model)
        short = load.model.split("/", 1)[-1]
        precision = {"nf4-dq": "nf4 + double quant"}.get(load.precision, load.precision)
        sized = "" if how == arch else f"{how}; "
        parts.append(Part(f"{load.copies} × {short} {precision} ({sized}{load.why})", load.copies * weights_gb(load)))
        if load.fp32_upcast:
            parts.append(Part("its non-quantized parameters upcast to float32 by `prepare_model_for_kbit_training`",
                              load.copies * upcast_gb(load)))
        if load.lora:
            n = lora_params(load.model, load.lora)
            targets = "all 7 projections" if load.lora.targets == ALL7 else "+".join(load.lora.targets)
            what = "weights, gradients, AdamW state" if load.lora.optimizer else "weights, gradients"
            parts.append(Part(f"LoRA r={load.lora.rank} on {targets}, {n / 1e6:.2f}M parameters ({what}; counted as "
                              "float32, an upper bound)",
                              load.copies * n * load.lora.bytes_per_param / A.GB))
    kv_arch = _arch(spec.loads[0].model)[0]
    parts.append(Part(f"KV cache of {spec.loads[0].model.split('/', 1)[-1]}, {spec.kv_batch} × {spec.kv_tokens} "
                      f"tokens ({spec.kv_why})",
                      A.kv_cache_gb(kv_arch, spec.kv_tokens, spec.kv_batch)))
    parts.append(Part("allowance of `memory_needed_gb`", allowance_gb()))
    total = sum(p.gb for p in parts)
    fits = [g for g in GPU_CHOICES if A.GPUS[g].memory_gb >= total]
    return MemoryFigure(total, tuple(parts), fits[0] if fits else None)
