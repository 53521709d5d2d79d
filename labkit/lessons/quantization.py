"""Quantized loading, measured: what bitsandbytes does to a Qwen model's memory, speed and answers.

Notebook 05 first writes each of these out with transformers and bitsandbytes; here they are as functions.

* :func:`bnb_config` / :func:`load_quantized` / :func:`load_weights`: the active model with a
  ``BitsAndBytesConfig`` (``int8`` = LLM.int8(), ``nf4``, ``nf4-dq`` = NF4 with double quantization;
  any of them with a ``compute_dtype``).  A precision bitsandbytes cannot give here raises a
  :class:`~labkit.LabError` that says what to install or change.
* :func:`footprint_by_layer_type`: bytes per kind of module, including the quantization
  constants (absmax, scales) that ``model.get_memory_footprint()`` does not count.
* :func:`kl_divergence`: how far a model's next-token distributions moved from a reference.
* :func:`compare_precisions`: one table with memory, load time, decode-speed ratio, accuracy
  (:func:`labkit.nano.evaluation.evaluate`) and KL per precision, all measured in the same run.
* :func:`memory_table`: which Qwen variant fits which GPU at which precision, KV cache included
  (computed from :mod:`labkit.family.architectures`; MoE experts stay bf16 under bitsandbytes).
* :func:`keep_4bit_trainable`: QLoRA on a CPU without silently wrong gradients (see its docstring).

On CPU, bitsandbytes >= 0.49 runs int8 and 4-bit layers (slowly: they are made for GPUs), and quantizing
while loading is slow too: its CPU path quantizes with plain PyTorch code (``torch.bucketize`` over every
weight): the 4-bit load of a full-shape Qwen3-0.6B took about 12 s of CPU time on the course's machine.

Used in notebooks 05, 06.
"""
from __future__ import annotations

import gc
import logging
import random
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

from labkit.env import cuda_bf16, gpu_dtype
from labkit.errors import LabError
from labkit.family import architectures as arch
from labkit.models import NANO_DIR, load_model, resolve_model_id
from labkit.nano import curriculum as nano
from labkit.nano import evaluation as nano_eval

PRECISIONS = ("fp32", "bf16", "int8", "nf4", "nf4-dq")
BNB_PIN = "0.50.2"          # the version pyproject.toml pins
BNB_MIN_TRANSFORMERS = "0.46.1"  # transformers 5.23: BITSANDBYTES_MIN_VERSION
BNB_MIN_CPU = "0.49.0"      # first release whose CPU backend runs int8 and 4-bit end to end


class _DropNotice(logging.Filter):
    """Drops the log records that contain ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


# bitsandbytes logs "MatMul8bitLt: inputs will be cast from torch.float32 to float16" on every int8 matmul
# of a float32 model (its int8 path works in float16).
# On CPUs with AVX512-BF16, importing bitsandbytes 0.50 tries to fetch an optional faster 4-bit kernel from
# the Hugging Face Hub through the ``kernels`` package and, when it cannot, logs "Failed to load CPU
# gemm_4bit_forward ... `pip install kernels`".  bitsandbytes' own CPU kernels run instead; the course needs
# nothing more (and offline the Hub is unreachable anyway).
BNB_NOTICES = {"bitsandbytes.autograd._functions": "inputs will be cast from",
               "bitsandbytes.backends.cpu.ops": "gemm_4bit_forward from kernels-community"}


def quiet_bitsandbytes() -> bool:
    """Drop bitsandbytes' two notices (:data:`BNB_NOTICES`) from its logs; True the first time.

    Installed by :func:`labkit.banner`, before any cell imports bitsandbytes (it logs one at import).
    """
    added = False
    for name, text in BNB_NOTICES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNotice) for f in logger.filters):
            logger.addFilter(_DropNotice(text))
            added = True
    return added


# --------------------------------------------------------------------------- bitsandbytes
def _vtuple(version: str) -> tuple[int, ...]:
    parts = []
    for p in version.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def bnb_status() -> tuple[bool, str]:
    """``(usable, reason)``: whether bitsandbytes can quantize on this machine, and why (not)."""
    try:
        import torch
    except ImportError:
        return False, "torch is not installed"
    try:
        import bitsandbytes as bnb
    except Exception as exc:  # noqa: BLE001 (ImportError, or a native library that fails to load)
        return False, f"bitsandbytes cannot be imported ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
    version = getattr(bnb, "__version__", "0")
    if _vtuple(version) < _vtuple(BNB_MIN_TRANSFORMERS):
        return False, f"bitsandbytes {version} is older than {BNB_MIN_TRANSFORMERS}, the minimum of transformers 5"
    if torch.cuda.is_available():
        return True, f"bitsandbytes {version} on CUDA"
    if _vtuple(version) < _vtuple(BNB_MIN_CPU):
        return False, (f"bitsandbytes {version} has no complete CPU backend "
                       f"(int8 and 4-bit on CPU need >= {BNB_MIN_CPU})")
    if "cpu" not in getattr(bnb, "supported_torch_devices", {"cpu"}):
        return False, f"bitsandbytes {version} does not list the CPU as a supported device"
    return True, f"bitsandbytes {version} on CPU (supported since {BNB_MIN_CPU}; slow, made for GPUs)"


def require_bnb(precision: str) -> None:
    """Raise a :class:`LabError` naming the fix when ``precision`` needs bitsandbytes and it is unusable."""
    if precision in ("fp32", "bf16", "fp16"):
        return
    ok, reason = bnb_status()
    if not ok:
        raise LabError(f"{precision} needs bitsandbytes, but {reason}.",
                       f'pip install "bitsandbytes=={BNB_PIN}" (CPU works from {BNB_MIN_CPU}; on a GPU any '
                       f'version >= {BNB_MIN_TRANSFORMERS}), or use precision="fp32"/"bf16".')


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS + ("fp16",):
        raise LabError(f"unknown precision {precision!r}.", f"use one of: {', '.join(PRECISIONS)}.")


def bnb_config(precision: str, compute_dtype: Any = None) -> Any:
    """The ``BitsAndBytesConfig`` for ``precision`` (None for fp32/bf16/fp16).

    ``compute_dtype`` (4-bit only) is ``bnb_4bit_compute_dtype``: the dtype the 4-bit weights
    are dequantized to for each matmul.  Its default is float32.
    """
    from transformers import BitsAndBytesConfig

    _check_precision(precision)
    if precision in ("fp32", "bf16", "fp16"):
        return None
    require_bnb(precision)
    if precision == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    kwargs: dict[str, Any] = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                              "bnb_4bit_use_double_quant": precision == "nf4-dq"}
    if compute_dtype is not None:
        kwargs["bnb_4bit_compute_dtype"] = compute_dtype
    return BitsAndBytesConfig(**kwargs)


def load_quantized(precision: str = "nf4", model_id: str | None = None, *, compute_dtype: Any = None,
                   **kwargs: Any) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of the active profile's model loaded at ``precision``.

    ``fp32``/``bf16``/``fp16`` load unquantized in that dtype; ``int8``, ``nf4`` and ``nf4-dq``
    go through ``quantization_config=BitsAndBytesConfig(...)`` (the parts bitsandbytes leaves
    alone keep the load dtype: float32 for the nano model on CPU, the checkpoint's on a GPU).
    """
    import torch

    _check_precision(precision)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision in dtypes:
        return load_model(model_id, dtype=dtypes[precision], **kwargs)
    return load_model(model_id, quantization_config=bnb_config(precision, compute_dtype), **kwargs)


def load_weights(precision: str = "nf4", model_id: str | None = None, *, compute_dtype: Any = None,
                 dtype: Any = None) -> Any:
    """The model alone, loaded as :func:`load_quantized` loads it, without the tokenizer.

    For notebooks that load the same model several times: Qwen's tokenizer takes a second or
    two to load, the nano model's weights a fraction of that.  ``dtype`` overrides the dtype of
    the parts bitsandbytes leaves alone (e.g. bf16, to see what ``prepare_model_for_kbit_training``
    upcasts).
    """
    import torch
    from transformers import AutoModelForCausalLM

    _check_precision(precision)
    target = resolve_model_id(model_id)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    kwargs: dict[str, Any] = {}
    if precision in dtypes:
        dtype = dtypes[precision]
    else:
        kwargs["quantization_config"] = bnb_config(precision, compute_dtype)
    if dtype is None:
        is_nano = Path(target).resolve() == NANO_DIR.resolve()
        dtype = torch.float32 if is_nano and not torch.cuda.is_available() else "auto"
    if torch.cuda.is_available():
        kwargs["device_map"] = "auto"
    try:
        model = AutoModelForCausalLM.from_pretrained(target, dtype=dtype, **kwargs)
    except OSError as exc:
        raise LabError(f"could not load {target!r}: {str(exc).splitlines()[0]}",
                       "check the model id and your connection, or use the offline profile.") from None
    return model.eval()


def keep_4bit_trainable(model: Any) -> int:
    """Keep bitsandbytes' 4-bit layers on their trainable code path on a CPU; return how many were set.

    On a CPU with AVX512-BF16, bitsandbytes 0.50 repacks a ``Linear4bit`` weight into a CPU-only
    layout the first time the layer runs in eval mode without gradients (an evaluation, a
    ``generate()`` call), and from then on every forward, in training too, goes through a kernel
    (``gemv_4bit``) that has no backward.  PyTorch warns ("an autograd kernel was not registered
    ... silently incorrect behavior") and the gradients through the 4-bit layers are lost, so QLoRA
    after any evaluation trains on wrong gradients (notebook 06 measures it).  Turning the
    layers' ``support_avx512bf16_for_cpu`` flag off keeps the dequantize-and-matmul path, which has
    a backward.  Call it before training; it changes nothing on a GPU.
    """
    n = 0
    for module in model.modules():
        if type(module).__name__ in ("Linear4bit", "LinearNF4", "LinearFP4") \
                and hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
            n += 1
    return n


# --------------------------------------------------------------------------- memory
def _tensor_bytes(t: Any) -> int:
    return int(t.numel() * t.element_size()) if t is not None else 0


def _quant_tensors(module: Any) -> list[Any]:
    w = getattr(module, "weight", None)
    state = getattr(w, "quant_state", None)
    if state is not None:
        found = [state.absmax, getattr(state, "code", None)]
        if getattr(state, "nested", False) and getattr(state, "state2", None) is not None:
            found += [state.state2.absmax, getattr(state.state2, "code", None), getattr(state, "offset", None)]
        return [t for t in found if t is not None]
    # int8: the row scales sit on the weight (Int8Params.SCB) until the layer's first forward pass,
    # which moves them to the layer's matmul state (Linear8bitLt.state.SCB) and sets weight.SCB to None.
    scb = getattr(w, "SCB", None)
    if scb is None:
        scb = getattr(getattr(module, "state", None), "SCB", None)
    return [scb] if scb is not None else []


def quant_state_bytes(module: Any) -> int:
    """Bytes of a bitsandbytes layer's quantization constants, which are not parameters.

    NF4: one absmax per block of 64 weights (fp32; with double quantization uint8 plus a
    second-level absmax per 256 blocks and its 256-value code) and the 16-value NF4 code;
    int8: one scale (``SCB``) per output row, found before and after the layer's first forward.
    """
    return sum(_tensor_bytes(t) for t in _quant_tensors(module))


def _kind(module: Any) -> str | None:
    import torch.nn as nn

    name = type(module).__name__
    if name == "Linear4bit":
        return "linear (4-bit)"
    if name == "Linear8bitLt":
        return "linear (int8)"
    if isinstance(module, nn.Embedding):
        return "embedding"
    if isinstance(module, nn.Linear):
        return "linear (unquantized)"
    if "Norm" in name:
        return "norm"
    return None


def footprint_by_layer_type(model: Any) -> dict[str, int]:
    """Bytes per kind of module: embedding, linear (4-bit / int8 / unquantized), norm, other,
    and ``quantization constants``.  Shared (tied) tensors are counted once, by the first
    module that holds them: in a tied Qwen the output head adds nothing to the embedding.

    Parameters and buffers are what ``model.get_memory_footprint()`` counts; the
    quantization constants come on top (see :func:`quant_state_bytes`).
    """
    seen: set[int] = set()
    out: dict[str, int] = {}
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    for mod_name, module in model.named_modules():
        kind = _kind(module)
        if module is head:
            kind = "output head (lm_head)"
        kind = kind or "other"
        own = list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False))
        for _, t in own:
            key = t.data_ptr() if t.device.type != "meta" else id(t)
            if key in seen:
                continue
            seen.add(key)
            out[kind] = out.get(kind, 0) + _tensor_bytes(t)
        for t in _quant_tensors(module):
            if t.data_ptr() not in seen:
                seen.add(t.data_ptr())
                out["quantization constants"] = out.get("quantization constants", 0) + _tensor_bytes(t)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def total_bytes(model: Any) -> int:
    """Parameters + buffers + quantization constants: the real weight memory of ``model``."""
    return sum(footprint_by_layer_type(model).values())


# --------------------------------------------------------------------------- quality and speed
def kl_prompts(tokenizer: Any, n: int = 16, seed: int = 0) -> list[str]:
    """``n`` held-out nano problems rendered with their worked answers (thinking on), as text.

    Teacher-forced through two models, they give next-token distributions at every position
    of a realistic conversation to compare with :func:`kl_divergence`.
    """
    rng = random.Random(seed)
    texts = []
    for p in nano_eval.eval_problems(n, seed):
        s = nano.Sample([{"role": "user", "content": nano.question(p, rng, lang="en")}], True,
                        nano.scratchpad(p), nano.answer_line(p))
        prompt, target = nano.render(s, tokenizer)
        texts.append(prompt + target)
    return texts


def kl_divergence(ref_model: Any, model: Any, tokenizer: Any, prompts: Sequence[str], *,
                  batch_size: int = 4) -> float:
    """Mean KL(ref || model) in nats over every next-token position of ``prompts``.

    0 means identical distributions.  Both models read the same text (teacher forcing);
    the full 151,936-way distributions are compared, a batch at a time.
    """
    import torch
    import torch.nn.functional as F

    if not prompts:
        raise LabError("no prompts to compare on.", "pass a list of texts, e.g. labkit.lessons.quantization.kl_prompts(tok).")
    total, count = 0.0, 0
    pad_side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    try:
        for i in range(0, len(prompts), batch_size):
            enc = tokenizer(list(prompts[i:i + batch_size]), return_tensors="pt", padding=True,
                            add_special_tokens=False)
            mask = enc["attention_mask"].bool()
            with torch.no_grad():
                ref = ref_model(**enc.to(ref_model.device)).logits.float()[mask.to(ref_model.device)]
                new = model(**enc.to(model.device)).logits.float()[mask.to(model.device)]
            ref_lp = F.log_softmax(ref, -1)
            new_lp = F.log_softmax(new.to(ref.device), -1)
            total += float((ref_lp.exp() * (ref_lp - new_lp)).sum())
            count += int(mask.sum())
    finally:
        tokenizer.padding_side = pad_side
    return total / count


def decode_speed(model: Any, tokenizer: Any, *, new_tokens: int = 32, repeats: int = 3) -> float:
    """Greedy batch-1 decode speed in tokens/s (best of ``repeats``, after one warm-up run).

    ``min_new_tokens`` forces exactly ``new_tokens`` tokens so every precision does the same work.
    """
    import torch

    msgs = [{"role": "user", "content": "What is 4821 + 397?"}]
    enc = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True, enable_thinking=True).to(model.device)
    gen = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, temperature=None,
               top_p=None, top_k=None, pad_token_id=tokenizer.pad_token_id)
    best = float("inf")
    with torch.no_grad():
        model.generate(**enc, **{**gen, "max_new_tokens": 4, "min_new_tokens": 4})  # warm-up
        for _ in range(repeats):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model.generate(**enc, **gen)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
    return new_tokens / best


def compare_precisions(precisions: Iterable[str] | None = None, model_id: str | None = None, *,
                       eval_n: int = 40, thinking: bool = True, compute_dtype: Any = None, dtype: Any = None,
                       prompts: Sequence[str] | None = None, decode_tokens: int = 32, decode_repeats: int = 3,
                       progress: bool = True) -> Any:
    """Load the model once per precision and measure everything in one run; returns a DataFrame.

    Columns: ``precision``, ``footprint_mb`` (``get_memory_footprint()``), ``weights_mb`` (that
    plus the quantization constants; both right after loading), ``load_s``, ``decode_tok_s`` and
    ``speed_ratio`` (vs the first precision, the baseline), ``accuracy`` (:func:`labkit.nano.evaluation.evaluate`,
    ``eval_n`` held-out problems) and ``kl_vs_baseline`` (:func:`kl_divergence`, nats).
    A precision bitsandbytes cannot give here is reported in ``note``, not raised.  Default
    precisions: all of :data:`PRECISIONS` on CPU (float32 first), the GPU's 16-bit dtype (bf16, or fp16 on a
    GPU without native bf16: :func:`labkit.env.gpu_dtype`) then the bitsandbytes ones on a GPU.  On a GPU the
    4-bit layers compute in that dtype too unless ``compute_dtype`` says otherwise.  ``dtype`` is the dtype of
    the parts bitsandbytes leaves alone in the quantized rows (default: as :func:`load_weights`, float32 for the
    nano model on a CPU); pass the 16-bit row's dtype to compare their memory with it.
    """

    import pandas as pd
    import torch
    from transformers import AutoTokenizer

    if torch.cuda.is_available():
        compute_dtype = compute_dtype or gpu_dtype()
    if precisions is None:
        half = "bf16" if cuda_bf16() else "fp16"
        precisions = (half,) + PRECISIONS[2:] if torch.cuda.is_available() else PRECISIONS
    precisions = list(precisions)
    rows: list[dict[str, Any]] = []
    baseline = None
    tok = AutoTokenizer.from_pretrained(resolve_model_id(model_id))   # once: the weights are what changes
    for precision in precisions:
        _check_precision(precision)
        try:
            require_bnb(precision)
        except LabError as exc:
            rows.append({"precision": precision, "note": exc.cause})
            continue
        t0 = time.perf_counter()
        model = load_weights(precision, model_id, compute_dtype=compute_dtype, dtype=dtype)
        load_s = time.perf_counter() - t0
        # memory first: on a CPU bitsandbytes repacks 4-bit weights at the first inference (keep_4bit_trainable)
        footprint, weights = model.get_memory_footprint(), total_bytes(model)
        if prompts is None:
            prompts = kl_prompts(tok)
        speed = decode_speed(model, tok, new_tokens=decode_tokens, repeats=decode_repeats)
        acc = nano_eval.evaluate(model, tok, thinking=thinking, n=eval_n, progress=progress).accuracy
        row = {"precision": precision, "footprint_mb": footprint / 1e6, "weights_mb": weights / 1e6,
               "load_s": load_s, "decode_tok_s": speed, "accuracy": acc, "note": ""}
        if baseline is None:
            baseline = (model, speed)
            row.update(speed_ratio=1.0, kl_vs_baseline=0.0)
        else:
            row.update(speed_ratio=speed / baseline[1], kl_vs_baseline=kl_divergence(baseline[0], model, tok, prompts))
            del model
            gc.collect()
        rows.append(row)
    cols = ["precision", "footprint_mb", "weights_mb", "load_s", "decode_tok_s", "speed_ratio", "accuracy",
            "kl_vs_baseline", "note"]
    return pd.DataFrame(rows).reindex(columns=cols)


# --------------------------------------------------------------------------- real Qwen sizes
def memory_table(models: Sequence[str], context: int = 4096, batch: int = 1, *,
                 dtypes: Sequence[str] = ("bf16", "int8", "nf4"), gpus: Sequence[str] | None = None,
                 overhead_gb: float = 1.0) -> Any:
    """Which model fits which GPU at which precision: a DataFrame, one row per (model, dtype).

    ``weights_gb`` (:func:`labkit.family.architectures.weight_memory_gb`, bitsandbytes' rules: embeddings,
    output head and norms stay bf16, MoE experts too), ``kv_cache_gb`` for ``context`` tokens x
    ``batch`` sequences (bf16), ``total_gb`` with ``overhead_gb`` for activations and the CUDA
    context, and one yes/no column per GPU of :data:`labkit.family.architectures.GPUS`.
    """
    import pandas as pd

    gpus = list(gpus or arch.GPUS)
    rows = []
    for name in models:
        kv = arch.kv_cache_gb(name, context, batch)
        for dtype in dtypes:
            w = arch.weight_memory_gb(name, dtype)
            row = {"model": name, "dtype": dtype, "weights_gb": round(w, 2), "kv_cache_gb": round(kv, 2),
                   "total_gb": round(w + kv + overhead_gb, 2)}
            for g in gpus:
                row[g] = "yes" if arch.fits(name, g, dtype, context, batch, overhead_gb) else "no"
            rows.append(row)
    return pd.DataFrame(rows)
