"""The memory-bandwidth ceiling of decoding at batch 1.

Generating one token at batch 1 multiplies a single vector by every weight
matrix of the model.  Each weight is used once per token, so the time is set by
how fast the weights stream out of memory, not by arithmetic:

    ceiling tokens/s = memory bandwidth (bytes/s) / bytes of weights read per token

What is read per token (:func:`bytes_per_token`):

* every transformer layer's weights (attention, MLP, norms) and the final norm;
* the **output projection**: the whole ``vocab × hidden`` matrix (151,936 rows for
  Qwen), because every token's logits are computed.  With tied embeddings (Qwen3-0.6B,
  1.7B, 4B and the nano model) that matrix *is* the embedding matrix;
* the **input embedding**: one row (a lookup, not a matrix product);
* optionally the KV cache of the context so far (``context`` tokens).

Bandwidths of common GPUs are cited data (:data:`BANDWIDTHS`, each with its
``source``); the CPU's is *measured* (:func:`measure_cpu_bandwidth`), since no
datasheet knows what this machine's memory delivers.

Used in notebook 07.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from labkit.errors import LabError
from labkit.family.architectures import build_on_meta

GB = 1e9


@dataclass(frozen=True)
class Bandwidth:
    """Peak memory bandwidth of a device, in GB/s (10**9 bytes per second), with its source."""

    gb_per_s: float
    source: str
    verified: bool = False
    note: str = ""


_NV = "https://www.nvidia.com/en-us/data-center/"
BANDWIDTHS: dict[str, Bandwidth] = {
    "H100 SXM": Bandwidth(3350, f"{_NV}h100/ (datasheet: H100 SXM 3.35 TB/s HBM3)", False,
                          "Vendor page not read here; 3.35 TB/s corroborated by several course notes and "
                          "hardware tables. A few third-party pages list 3.0 TB/s (an early figure)."),
    "H100 PCIe": Bandwidth(2000, f"{_NV}h100/ (datasheet: H100 PCIe 2 TB/s HBM2e); NVIDIA H100 PCIe product "
                                 "brief PB-11133-001_v02 ('greater than 2,000 gigabytes per second')", True,
                           "The product brief (via manuals.plus copy) was read; it says 'greater than 2,000 GBps'."),
    "A100 80GB": Bandwidth(2039, "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
                                 "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf (A100 80GB SXM: 2,039 GB/s)",
                           False, "As cited by glennklockwood.com/garden/processors/A100; the A100 80GB PCIe "
                                  "card is 1,935 GB/s, the 40 GB A100 1,555 GB/s."),
    "L4": Bandwidth(300, f"{_NV}l4/ (datasheet: 300 GB/s GDDR6)", False,
                    "Vendor page not read here; 300 GB/s corroborated by cloudgputracker.com and fpsbench.com."),
    "T4": Bandwidth(320, f"{_NV}tesla-t4/ (datasheet: 320+ GB/s GDDR6)", False,
                    "Vendor page not read here; 320 GB/s corroborated by pcpartcomparison.com and "
                    "cloudgputracker.com. Colab's free GPU."),
}


def bandwidth_key(gpu_name: str) -> str | None:
    """The :data:`BANDWIDTHS` key for a CUDA device name (``torch.cuda.get_device_name()``), or None."""

    name = gpu_name.upper()
    if "H100" in name:
        return "H100 PCIe" if "PCIE" in name else "H100 SXM"
    if "A100" in name and "80" in name:
        return "A100 80GB"
    if re.search(r"\bL4\b", name):
        return "L4"
    if re.search(r"\bT4\b", name):
        return "T4"
    return None


def _bandwidth_bytes(bandwidth: float | str | Bandwidth) -> float:
    if isinstance(bandwidth, Bandwidth):
        return bandwidth.gb_per_s * GB
    if isinstance(bandwidth, str):
        try:
            return BANDWIDTHS[bandwidth].gb_per_s * GB
        except KeyError:
            raise LabError(f"no bandwidth data for {bandwidth!r}.",
                           f"use one of {', '.join(BANDWIDTHS)}, or pass a measured figure in GB/s "
                           "(e.g. measure_cpu_bandwidth()).") from None
    value = float(bandwidth)
    if not value > 0:
        raise LabError(f"bandwidth {bandwidth!r} GB/s is not positive.", "pass GB/s, e.g. 3350 for an H100 SXM.")
    return value * GB


# --------------------------------------------------------------------------- bytes per token
@dataclass(frozen=True)
class TokenBytes:
    """Bytes of weights (and KV cache) read to decode one token at batch 1."""

    layers: int               # transformer layers + final norm
    output_projection: int    # the whole vocab x hidden matrix
    input_embedding: int      # one row
    kv_cache: int = 0         # K and V of the context so far
    tied: bool = False

    @property
    def total(self) -> int:
        return self.layers + self.output_projection + self.input_embedding + self.kv_cache

    def __str__(self) -> str:
        mib = 2**20
        tied = " (tied: it is the embedding matrix)" if self.tied else ""
        return (f"{self.total / mib:.2f} MiB per token = layers {self.layers / mib:.2f} MiB"
                f" + output projection {self.output_projection / mib:.2f} MiB{tied}"
                f" + one embedding row {self.input_embedding / 1024:.2f} KiB"
                + (f" + KV cache {self.kv_cache / mib:.2f} MiB" if self.kv_cache else ""))


def _as_model(model: Any) -> Any:
    if isinstance(model, str):
        return build_on_meta(model)
    return model


def kv_bytes(config: Any, context: int, dtype_bytes: int) -> int:
    """Bytes of K and V for ``context`` tokens across all layers (read once per decoded token)."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    return int(2 * config.num_hidden_layers * kv_heads * head_dim * context * dtype_bytes)


def bytes_per_token(model: Any, *, dtype_bytes: int | None = None, context: int = 0) -> TokenBytes:
    """What one decode step at batch 1 reads: a :class:`TokenBytes`.

    ``model`` is a loaded transformers model, or a name from
    :data:`labkit.family.architectures.CONFIGS` (built on the meta device, no memory).
    ``dtype_bytes`` overrides the element size (needed for a name: 2 for bf16);
    by default each parameter's own dtype counts.
    """
    model = _as_model(model)
    emb = model.get_input_embeddings().weight
    out_layer = model.get_output_embeddings()
    out = out_layer.weight if out_layer is not None else emb
    tied = out is emb or (emb.device.type != "meta" and out.data_ptr() == emb.data_ptr())
    on_meta = emb.device.type == "meta"
    if dtype_bytes is None and on_meta:
        raise LabError("a model built on the meta device has no real dtype.", "pass dtype_bytes=2 for bf16.")

    def size(p: Any) -> int:
        return p.numel() * (dtype_bytes or p.element_size())

    layers = 0
    seen = {id(emb), id(out)}
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            layers += size(p)
    row = emb.shape[1] * (dtype_bytes or emb.element_size())
    kv = kv_bytes(model.config, context, dtype_bytes or out.element_size()) if context else 0
    return TokenBytes(layers, size(out), row, kv, bool(tied))


def ceiling(model: Any, bandwidth: float | str | Bandwidth, *, dtype_bytes: int | None = None,
            context: int = 0) -> float:
    """The most tokens/s batch-1 decoding can reach: bandwidth / :func:`bytes_per_token`.

    ``bandwidth``: GB/s, a key of :data:`BANDWIDTHS` (``"H100 SXM"``) or a :class:`Bandwidth`.
    Real decoding stays below it (kernel launches, attention, sampling, Python);
    the gap is what optimizations can still win.
    """
    return _bandwidth_bytes(bandwidth) / bytes_per_token(model, dtype_bytes=dtype_bytes, context=context).total


def percent_of_ceiling(tokens_per_s: float, model: Any, bandwidth: float | str | Bandwidth, *,
                       dtype_bytes: int | None = None, context: int = 0) -> float:
    """A measured batch-1 decode speed as a percentage of its :func:`ceiling`."""
    return 100.0 * float(tokens_per_s) / ceiling(model, bandwidth, dtype_bytes=dtype_bytes, context=context)


# --------------------------------------------------------------------------- measuring the CPU
def measure_cpu_bandwidth(megabytes: int = 256, repeats: int = 5) -> float:
    """Measured memory bandwidth of this CPU in GB/s: the best of ``repeats`` reads of a large tensor.

    Summing a float32 tensor streams each of its bytes through the processor once, with
    little arithmetic per byte, which is what a batch-1 decode step does with the weights
    (notebook 07 times this read beside a decode step).  The tensor is far larger than any
    CPU cache, so this is main-memory speed, with the threads torch uses now
    (``torch.get_num_threads()``).
    """
    import torch

    if megabytes < 64:
        raise LabError(f"{megabytes} MB fits in a CPU cache and would measure the cache.", "use >= 64 MB.")
    block = torch.ones(megabytes * 2**20 // 4, dtype=torch.float32)
    block.sum()  # touch the pages once
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        block.sum()
        best = min(best, time.perf_counter() - t0)
    return block.numel() * block.element_size() / best / GB


def table(model: Any, *, dtype_bytes: int | None = None, extra: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Rows ``{device, GB/s, ceiling tok/s, source}`` for every cited GPU (and ``extra`` measured ones)."""
    per_token = bytes_per_token(model, dtype_bytes=dtype_bytes).total
    rows = []
    for name, gbps in (extra or {}).items():
        rows.append({"device": name, "GB/s": round(gbps, 1), "ceiling tok/s": gbps * GB / per_token,
                     "source": "measured in this notebook"})
    for name, bw in BANDWIDTHS.items():
        rows.append({"device": name, "GB/s": bw.gb_per_s, "ceiling tok/s": bw.gb_per_s * GB / per_token,
                     "source": bw.source})
    return rows
