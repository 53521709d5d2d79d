"""Per-request metrics of a generation, true model memory, percentiles and a health check.

* :func:`measure_request` runs one chat request and returns a :class:`RequestMetrics`:
  time to first token (TTFT, taken from a streamer callback the moment ``generate()``
  hands over the first new token), decode speed (tokens per second *after* the first
  token), total latency, and prompt and output token counts.
* :func:`model_memory` is the memory the model itself holds: the bytes of its
  parameters and buffers, as transformers' ``get_memory_footprint()`` counts them,
  split in two (plus ``torch.cuda.max_memory_allocated`` on a GPU).  The process's
  resident set size (RSS) is *not* model memory: :func:`rss_delta` measures what the
  seed measured, so the notebook can show the two side by side.
* :func:`percentiles` / :func:`summarize` turn many requests into p50 / p95 / p99
  (``numpy.percentile``): averages hide the slow tail that users notice.
  :func:`plot_latencies` draws them.
* :func:`health_check` really generates one token and times it: a check that does
  not run the model cannot tell that the model is broken.

Used in notebooks 07, 09.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Sequence

from labkit.errors import LabError
from labkit.generation import build_inputs, generate_replies

PERCENTILES = (50, 95, 99)


# --------------------------------------------------------------------------- one request
class TimingStreamer:
    """A ``generate(streamer=...)`` callback that records when each new token arrives.

    ``generate()`` calls :meth:`put` once with the prompt ids, then once per
    generated token, then :meth:`end`.  Only the clock is read here, so the
    measurement costs next to nothing.
    """

    def __init__(self) -> None:
        self.prompt_seen = False
        self.token_times: list[float] = []
        self.ended_at: float | None = None

    def put(self, value: Any) -> None:  # noqa: D401 (the BaseStreamer interface)
        now = time.perf_counter()
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.token_times.append(now)

    def end(self) -> None:
        self.ended_at = time.perf_counter()


@dataclass
class RequestMetrics:
    """What one request cost, in seconds and tokens."""

    prompt_tokens: int
    output_tokens: int
    ttft_s: float             # request start -> first new token (prefill + first step)
    total_s: float            # request start -> last token
    decode_tokens_per_s: float  # tokens after the first one / time after the first one
    text: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return (f"{self.prompt_tokens} prompt tokens -> {self.output_tokens} new tokens: first after "
                f"{self.ttft_s * 1000:.1f} ms, all after {self.total_s * 1000:.1f} ms, decode "
                f"{self.decode_tokens_per_s:.1f} tokens/s; text {self.text!r}")


def measure_request(model, tokenizer, messages, *, max_new_tokens: int = 64, thinking: bool | None = False,
                    min_new_tokens: int | None = None, **generate_kwargs) -> RequestMetrics:
    """Run one greedy chat request and measure it.

    The clock starts before the chat template is applied (a user waits for that
    too) and TTFT stops when the first generated token reaches the streamer.
    ``min_new_tokens`` forces a fixed output length, which makes speed
    comparisons fair.  Extra keyword arguments go to ``generate()``.
    """
    start = time.perf_counter()
    inputs = build_inputs(model, tokenizer, messages, thinking=thinking, max_new_tokens=max_new_tokens)
    streamer = TimingStreamer()
    gen = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None, **generate_kwargs}
    if min_new_tokens:
        gen["min_new_tokens"] = min_new_tokens
    reply = generate_replies(model, tokenizer, inputs, max_new_tokens=max_new_tokens, streamer=streamer, **gen)[0]
    end = time.perf_counter()
    if not streamer.token_times:
        raise LabError("generate() produced no new token.", "ask for max_new_tokens >= 1.")
    first, last = streamer.token_times[0], streamer.token_times[-1]
    n_out = len(streamer.token_times)
    decode = (n_out - 1) / (last - first) if n_out > 1 and last > first else float("nan")
    text = tokenizer.decode(reply.ids, skip_special_tokens=True)
    return RequestMetrics(int(inputs["input_ids"].shape[1]), n_out, first - start, end - start, decode, text)


# --------------------------------------------------------------------------- memory
@dataclass
class MemoryReport:
    """The memory a model holds (bytes)."""

    parameter_bytes: int
    buffer_bytes: int
    cuda_max_allocated_bytes: int | None = None

    @property
    def total_bytes(self) -> int:
        return self.parameter_bytes + self.buffer_bytes

    def __str__(self) -> str:
        buffers = (f"{self.buffer_bytes / 2**20:.1f} MiB" if self.buffer_bytes >= 2**20
                   else f"{self.buffer_bytes:,} bytes")
        gpu = ("" if self.cuda_max_allocated_bytes is None
               else f", CUDA peak allocated {self.cuda_max_allocated_bytes / 2**20:.1f} MiB")
        return (f"parameters {self.parameter_bytes / 2**20:.1f} MiB + buffers {buffers} "
                f"= {self.total_bytes / 2**20:.1f} MiB{gpu}")


def model_memory(model) -> MemoryReport:
    """Parameter and buffer bytes of a transformers ``model``, split, plus the CUDA peak.

    The bytes are transformers' own count, ``model.get_memory_footprint()``
    (``return_buffers=False`` for the parameters alone): it walks
    ``model.parameters()`` and ``model.buffers()``, which yield a shared tensor once, so a
    tied embedding / output head is counted once (``state_dict()`` lists it twice).
    Buffers are tensors that are not trained, such as the rotary-embedding frequencies.
    Two things it does not count: the quantization constants of a bitsandbytes model
    (:func:`labkit.lessons.quantization.total_bytes` adds them) and anything that exists only while
    the model runs (KV cache, activations).  For those, on a CUDA machine, the report
    also holds ``torch.cuda.max_memory_allocated()``: the peak of what PyTorch's
    allocator handed out, which you reset with ``torch.cuda.reset_peak_memory_stats()``
    before a request.
    """
    import torch

    params = int(model.get_memory_footprint(return_buffers=False))
    buffers = int(model.get_memory_footprint()) - params
    cuda = int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None
    return MemoryReport(params, buffers, cuda)


def rss_bytes() -> int:
    """The resident set size of this process (what the operating system maps, not what the model holds)."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def rss_delta(fn: Callable[[], Any]) -> tuple[Any, int]:
    """The seed's "memory usage": RSS after ``fn()`` minus RSS before.  Returns ``(result, delta_bytes)``.

    Kept to show why it misleads: the model was already resident before the
    call (so a generation shows ~0), the allocator keeps freed pages (so the
    number depends on what ran before), memory-mapped weights count only once
    touched, and other threads allocate at the same time.
    """
    before = rss_bytes()
    result = fn()
    return result, rss_bytes() - before


# --------------------------------------------------------------------------- aggregates
def percentiles(values: Iterable[float], qs: Sequence[float] = PERCENTILES) -> dict[str, float]:
    """``{"p50": ..., "p95": ..., "p99": ...}`` of ``values`` (``numpy.percentile``, linear interpolation)."""
    import numpy as np

    data = np.asarray([v for v in values if v == v], dtype=float)  # drop NaN
    if data.size == 0:
        raise LabError("no values to take percentiles of.", "measure at least one request first.")
    return {f"p{q:g}": float(np.percentile(data, q)) for q in qs}


def summarize(metrics: Sequence[RequestMetrics], qs: Sequence[float] = PERCENTILES) -> dict[str, dict[str, float]]:
    """Mean and percentiles of TTFT, total latency and decode speed over many requests."""
    import numpy as np

    if not metrics:
        raise LabError("no requests to summarize.", "pass a list of RequestMetrics from measure_request().")
    out: dict[str, dict[str, float]] = {}
    for key in ("ttft_s", "total_s", "decode_tokens_per_s", "output_tokens"):
        vals = [float(getattr(m, key)) for m in metrics]
        out[key] = {"mean": float(np.nanmean(vals)), **percentiles(vals, qs), "n": float(len(vals))}
    return out


SUMMARY_ROWS = {  # summarize() key -> (label, unit, scale)
    "ttft_s": ("time to first token", "ms", 1000.0),
    "total_s": ("total latency", "ms", 1000.0),
    "decode_tokens_per_s": ("decode speed", "tokens/s", 1.0),
    "output_tokens": ("output tokens", "", 1.0),
}


def format_summary(summary: dict[str, dict[str, float]]) -> str:
    """A small text table of :func:`summarize`'s result, times in milliseconds."""
    qs = [k for k in next(iter(summary.values())) if k.startswith("p")]
    head = f"{'metric':<32}{'mean':>9}" + "".join(f"{q:>9}" for q in qs)
    rows = [head, "-" * len(head)]
    for key, row in summary.items():
        label, unit, scale = SUMMARY_ROWS.get(key, (key, "", 1.0))
        name = f"{label} ({unit})" if unit else label
        rows.append(f"{name:<32}{row['mean'] * scale:>9.1f}" + "".join(f"{row[q] * scale:>9.1f}" for q in qs))
    return "\n".join(rows)


def plot_latencies(metrics: Sequence[RequestMetrics], ax: Any = None, key: str = "total_s") -> Any:
    """Histogram of one metric (default total latency) with its mean and p50/p95/p99 marked."""
    import matplotlib.pyplot as plt
    import numpy as np

    vals = np.asarray([getattr(m, key) for m in metrics], dtype=float) * (1000 if key.endswith("_s") else 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(vals, bins=min(30, max(5, len(vals) // 2)), color="#8ab4f8", edgecolor="white")
    unit = "ms" if key.endswith("_s") else ""
    ax.axvline(vals.mean(), color="black", linestyle=":", label=f"mean {vals.mean():.1f} {unit}")
    for (name, v), color in zip(percentiles(vals).items(), ("#1a7f37", "#d97706", "#c2185b")):
        ax.axvline(v, color=color, label=f"{name} {v:.1f} {unit}")
    ax.set_xlabel(f"{key.removesuffix('_s')} ({unit})" if unit else key)
    ax.set_ylabel("requests")
    ax.set_title(f"{len(vals)} requests: the tail is what p95/p99 show and the mean hides")
    ax.legend(fontsize=8)
    return ax


# --------------------------------------------------------------------------- health
@dataclass
class Health:
    """The result of :func:`health_check`."""

    status: str               # "ok", "slow" or "unhealthy"
    latency_s: float
    token_id: int | None = None
    token: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def __str__(self) -> str:
        token = "" if self.token is None else f" (token {self.token!r}, id {self.token_id})"
        return f"{self.status}: {self.detail or f'{self.latency_s * 1000:.1f} ms'}{token}"


def health_check(model, tokenizer, *, max_latency_s: float = 2.0, prompt: str = "Hi") -> Health:
    """Generate exactly one token, time it, and check it.

    ``unhealthy`` when generation raises, the logits are not finite or the token
    id is outside the vocabulary; ``slow`` when it takes longer than
    ``max_latency_s``; otherwise ``ok``.  One token keeps the check cheap
    enough to run every few seconds, yet it goes through the whole model.
    """
    import torch

    start = time.perf_counter()
    try:
        inputs = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                               return_tensors="pt", return_dict=True, enable_thinking=False)
        inputs = inputs.to(next(model.parameters()).device)
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=1, min_new_tokens=1, do_sample=False, temperature=None,
                                 top_p=None, top_k=None, output_logits=True, return_dict_in_generate=True,
                                 pad_token_id=tokenizer.pad_token_id)
        latency = time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 (a health check reports, it does not raise)
        return Health("unhealthy", time.perf_counter() - start, detail=f"{type(exc).__name__}: {exc}")
    token_id = int(out.sequences[0, -1])
    logits = out.logits[0]
    if not bool(torch.isfinite(logits).all()):
        return Health("unhealthy", latency, token_id, detail="the logits contain NaN or inf")
    if not 0 <= token_id < int(model.config.vocab_size):
        return Health("unhealthy", latency, token_id, detail=f"token id {token_id} is outside the vocabulary")
    token = tokenizer.decode([token_id])
    if latency > max_latency_s:
        return Health("slow", latency, token_id, token, f"one token took {latency:.3f} s > {max_latency_s} s")
    return Health("ok", latency, token_id, token, f"one token in {latency * 1000:.1f} ms")
