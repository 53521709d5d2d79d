"""Answer keys of exercise 07 (monitoring and performance): its check functions and the data they check against.

Used in notebook 07.
"""
from __future__ import annotations

import math
import sys
import time
import types
from typing import Any

from labkit.checks.grader import REGISTRY, check, course_model, exercise
from labkit.lessons.roofline import BANDWIDTHS, bytes_per_token

# Task 1: a request that arrives at START_07 and whose tokens reach the streamer at TOKEN_TIMES_07 (seconds, as
# time.perf_counter() would give them).  The check replays it through the learner's streamer on a fake clock.
START_07 = 100.000
TOKEN_TIMES_07 = (100.180, 100.205, 100.231, 100.254, 100.280, 100.304, 100.331, 100.355, 100.380, 100.404)
# Task 2: latencies (seconds) of 20 requests: made-up data to compute on.
LATENCIES_07 = [0.41, 0.38, 0.44, 0.40, 0.39, 0.42, 0.37, 0.45, 0.40, 0.43,
                0.41, 0.39, 0.38, 1.92, 0.44, 0.40, 0.42, 0.41, 2.75, 0.39]
# Task 3: the roofline of this model on this GPU (bf16, batch 1).
CEILING_MODEL_07, CEILING_GPU_07 = "Qwen3-1.7B", "L4"
BANDWIDTH_L4_07 = BANDWIDTHS[CEILING_GPU_07].gb_per_s     # GB/s, cited in labkit.lessons.roofline

_WHERE_STREAMER = "notebook 07, section 1 'One request: time to first token and decode speed'"


# ------------------------------------------------------------------------------------------ task 1
def _want_ttft_decode() -> tuple[float, float]:
    first, last = TOKEN_TIMES_07[0], TOKEN_TIMES_07[-1]
    return first - START_07, (len(TOKEN_TIMES_07) - 1) / (last - first)


class _Clock:
    """A clock that reads ``now`` until the check moves it: every clock function of ``time``, faked."""

    NAMES = ("perf_counter", "monotonic", "time", "process_time")

    def __init__(self) -> None:
        self.now = 0.0

    def module(self) -> types.SimpleNamespace:
        """A stand-in for the ``time`` module: the clocks read ``now``, everything else is the real module's."""
        fake = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("__")})
        for name in self.NAMES:
            setattr(fake, name, lambda: self.now)
            setattr(fake, f"{name}_ns", lambda: int(round(self.now * 1e9)))
        return fake

    def swap(self, namespace: dict[str, Any]) -> dict[str, Any]:
        """Point the names of ``namespace`` bound to ``time`` or its clocks at this clock; return what to restore."""
        fake = self.module()
        clocks = {getattr(time, n): getattr(fake, n) for n in self.NAMES}
        clocks.update({getattr(time, f"{n}_ns"): getattr(fake, f"{n}_ns") for n in self.NAMES})
        saved = {}
        for name, value in list(namespace.items()):
            if value is time:
                saved[name], namespace[name] = value, fake
            elif callable(value) and any(value is real for real in clocks):
                saved[name], namespace[name] = value, clocks[value]
        return saved


def _report(streamer: Any) -> tuple[float, float]:
    return float(streamer.ttft_s), float(streamer.decode_tokens_per_s)


def _replay(cls: type) -> tuple[float, float]:
    """Drive ``cls`` as generate() would, on a fake clock: made and handed the prompt at START_07, then one token
    at each of TOKEN_TIMES_07, then end() at the last one.  Only the names of the class's own module (a notebook's
    globals) see the fake clock."""
    import torch

    namespace = vars(sys.modules[cls.__module__])
    clock = _Clock()
    saved = clock.swap(namespace)
    try:
        clock.now = START_07
        streamer = cls()
        streamer.put(torch.tensor([[151644, 872, 198, 9707, 151645]]))   # the prompt: (batch, tokens)
        for i, t in enumerate(TOKEN_TIMES_07):
            clock.now = t
            streamer.put(torch.tensor([100 + i]))                          # one new token: (batch,)
        streamer.end()
    finally:
        namespace.update(saved)
    return _report(streamer)


def _live(cls: type) -> str:
    """Run ``cls`` on one request of the course model; "ok" when its figures fit the time generate() took."""
    model, tok = course_model()
    inputs = tok.apply_chat_template([{"role": "user", "content": "What is 12 + 30?"}], add_generation_prompt=True,
                                     enable_thinking=False, return_tensors="pt", return_dict=True).to(model.device)
    n = 8
    began = time.perf_counter()
    streamer = cls()
    model.generate(**inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False, streamer=streamer)
    took = time.perf_counter() - began
    ttft, decode = _report(streamer)
    if not 0 < ttft <= took:
        return f"on the course model ttft_s={ttft:.4g} s, outside (0, {took:.4g}] (the time generate() took)"
    if not (math.isfinite(decode) and decode > 0 and (n - 1) / decode <= took):
        return f"on the course model decode_tokens_per_s={decode:.4g} does not fit {n} tokens in {took:.4g} s"
    return "ok"


def _streamer_seen(answer: Any) -> dict[str, Any]:
    cls = answer if isinstance(answer, type) else type(answer)
    seen: dict[str, Any] = {}
    try:
        ttft, decode = _replay(cls)
        seen.update(ttft_s=round(ttft, 6), decode_tokens_per_s=round(decode, 4))
    except Exception as exc:  # noqa: BLE001 (reported in the verdict)
        return {"error": f"{type(exc).__name__}: {exc}"}
    want = _want_ttft_decode()
    if all(math.isclose(a, w, rel_tol=1e-6, abs_tol=1e-9) for a, w in zip((ttft, decode), want)):
        try:
            seen["course model"] = _live(cls)
        except Exception as exc:  # noqa: BLE001
            seen["course model"] = f"{type(exc).__name__}: {exc}"
    return seen


def _streamer_ok(seen: dict[str, Any]) -> bool:
    want = _want_ttft_decode()
    return ("error" not in seen and seen.get("course model") == "ok"
            and all(math.isclose(seen[k], w, rel_tol=1e-5) for k, w in zip(("ttft_s", "decode_tokens_per_s"), want)))


def check_ttft_streamer(answer: Any) -> bool:
    """Check the streamer class of exercise task 'ttft_streamer'; print the verdict and return it."""
    ttft, decode = _want_ttft_decode()
    return check(
        "ttft_streamer", None if answer is None else _streamer_seen(answer), predicate=_streamer_ok,
        expects=(f"a streamer class made with no arguments whose ttft_s and decode_tokens_per_s, for a request made "
                 f"at {START_07} s with tokens at {TOKEN_TIMES_07[0]} ... {TOKEN_TIMES_07[-1]} s, are {ttft:.3f} s "
                 f"and {decode:.2f} tokens/s, and that times one real request consistently"),
        hint="the clock starts in __init__ (time.perf_counter()); the first put() is the prompt: skip it; stamp every "
             "later put(); ttft_s = first stamp - start; decode_tokens_per_s = (stamps - 1) / (last - first stamp), "
             "set in end() or as properties",
        where=_WHERE_STREAMER)


REGISTRY["ttft_streamer"] = check_ttft_streamer


# ------------------------------------------------------------------------------------------ tasks 2 and 3
def _p95_07() -> float:
    import numpy as np

    return float(np.percentile(LATENCIES_07, 95))


def _ceiling_07() -> float:
    return BANDWIDTH_L4_07 * 1e9 / bytes_per_token(CEILING_MODEL_07, dtype_bytes=2).total


check_p95_latency = exercise(
    "p95_latency", predicate=lambda x: isinstance(x, (int, float)) and abs(x - _p95_07()) < 1e-9,
    expects="the 95th percentile of LATENCIES_07 in seconds (a float, numpy's default linear interpolation)",
    hint="numpy.percentile(LATENCIES_07, 95); not the mean (it hides the two slow requests) and not the maximum",
    where="notebook 07, section 2 'Many requests: p50, p95, p99'")
check_ceiling_l4 = exercise(
    "ceiling_l4", predicate=lambda x: isinstance(x, (int, float)) and abs(x / _ceiling_07() - 1) < 0.01,
    expects=f"the batch-1 decode ceiling of {CEILING_MODEL_07} in bf16 on an {CEILING_GPU_07}, in tokens/s "
            "(within 1 %)",
    hint="bandwidth in bytes/s (GB/s x 1e9) / bytes read per token. A token reads every weight once, 2 bytes each in "
         "bf16: sum p.numel() over model.parameters() (the tied embedding / output matrix is listed once, and read "
         "whole for the logits); state_dict() lists it twice",
    where="notebook 07, section 7 'The roofline'")
