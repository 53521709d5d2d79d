"""Per-request metrics of a generation, the memory a model holds, and a health check that runs it.

* :class:`TimingStreamer` is notebook 07's ``TokenTimer``: a ``BaseStreamer`` that stamps the
  time of every new token ``generate()`` hands over (the first ``put()``, the prompt, is skipped).
* :func:`measure_request` runs one chat request with it and returns a :class:`RequestMetrics`:
  time to first token (TTFT), decode speed (tokens per second *after* the first token), total
  latency, and prompt and output token counts.
* :func:`model_memory` is the memory the model itself holds: the bytes of its parameters and
  buffers, as transformers' ``get_memory_footprint()`` counts them, split in two (plus
  ``torch.cuda.max_memory_allocated`` on a GPU).  The process's resident memory (RSS) is not it.
* :func:`health_check` really generates one token and checks it: a check that does not run the
  model cannot tell that the model is broken.

Used in notebooks 07, 09.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from labkit.errors import LabError
from labkit.generation import build_inputs, generate_replies

try:  # transformers is a dependency of the course; keep the import error readable
    from transformers.generation.streamers import BaseStreamer
except ImportError as exc:  # pragma: no cover
    raise LabError("transformers is not installed.", "pip install -e . (or the Colab install cell)") from exc


# --------------------------------------------------------------------------- one request
class TimingStreamer(BaseStreamer):
    """A ``generate(streamer=...)`` timer: the time of every new token (notebook 07's ``TokenTimer``).

    ``generate()`` calls :meth:`put` once with the prompt ids, then once per
    generated token, then :meth:`end`.  Only the clock is read here, so the
    measurement costs next to nothing.  ``start`` is when the streamer was made.
    """

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.prompt_seen = False
        self.token_times: list[float] = []
        self.ended_at: float | None = None

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # the first put() is the prompt itself, not a new token
            self.prompt_seen = True
            return
        self.token_times.append(time.perf_counter())

    def end(self) -> None:
        self.ended_at = time.perf_counter()


@dataclass
class RequestMetrics:
    """What one request cost, in seconds and tokens."""

    prompt_tokens: int
    output_tokens: int
    ttft_s: float             # request start -> first new token (prefill + first step)
    total_s: float            # request start -> generate() done
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

    The clock starts when the streamer is made, before the chat template is applied
    (a user waits for that too), and TTFT stops when the first generated token reaches
    the streamer: notebook 07's first request, as a function.
    ``min_new_tokens`` forces a fixed output length, which makes speed
    comparisons fair.  Extra keyword arguments go to ``generate()``.
    """
    streamer = TimingStreamer()  # the request arrives: the clock starts
    inputs = build_inputs(model, tokenizer, messages, thinking=thinking, max_new_tokens=max_new_tokens)
    gen = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None, **generate_kwargs}
    if min_new_tokens:
        gen["min_new_tokens"] = min_new_tokens
    reply = generate_replies(model, tokenizer, inputs, max_new_tokens=max_new_tokens, streamer=streamer, **gen)[0]
    if not streamer.token_times:
        raise LabError("generate() produced no new token.", "ask for max_new_tokens >= 1.")
    start, first, last = streamer.start, streamer.token_times[0], streamer.token_times[-1]
    end = streamer.ended_at if streamer.ended_at is not None else time.perf_counter()
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
