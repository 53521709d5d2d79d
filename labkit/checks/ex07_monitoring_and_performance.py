"""Answer keys of exercise 07 (monitoring and performance): its check functions and the data they check against.

Used in notebook 07.
"""
from __future__ import annotations

from typing import Any

from labkit.checks.grader import exercise
from labkit.lessons.roofline import BANDWIDTHS, bytes_per_token

# Latencies (seconds) of 20 requests and the arrival times of one request's tokens: made-up data to compute on.
LATENCIES_06 = [0.41, 0.38, 0.44, 0.40, 0.39, 0.42, 0.37, 0.45, 0.40, 0.43,
                0.41, 0.39, 0.38, 1.92, 0.44, 0.40, 0.42, 0.41, 2.75, 0.39]
START_06 = 100.000                       # time.perf_counter() when the request arrived
TOKEN_TIMES_06 = [100.180, 100.205, 100.231, 100.254, 100.280, 100.304, 100.331, 100.355, 100.380, 100.404]
CEILING_MODEL_06, CEILING_GPU_06 = "Qwen3-1.7B", "L4"


def _p95_06() -> float:
    import numpy as np

    return float(np.percentile(LATENCIES_06, 95))


def _ttft_decode_06() -> tuple[float, float]:
    first, last = TOKEN_TIMES_06[0], TOKEN_TIMES_06[-1]
    return first - START_06, (len(TOKEN_TIMES_06) - 1) / (last - first)


def _ttft_decode_ok(answer: Any) -> bool:
    want = _ttft_decode_06()
    return (isinstance(answer, tuple) and len(answer) == 2
            and all(isinstance(a, (int, float)) and abs(a - w) <= 1e-6 * max(1.0, abs(w)) for a, w in zip(answer, want)))


def _ceiling_06() -> float:
    return BANDWIDTHS[CEILING_GPU_06].gb_per_s * 1e9 / bytes_per_token(CEILING_MODEL_06, dtype_bytes=2).total


check_p95_latency = exercise(
    "p95_latency", predicate=lambda x: isinstance(x, (int, float)) and abs(x - _p95_06()) < 1e-9,
    expects="the 95th percentile of LATENCIES_06 in seconds (a float, numpy's default linear interpolation)",
    hint="numpy.percentile(LATENCIES_06, 95); not the mean (it hides the two slow requests) and not the maximum",
    where="notebook 07, section 2 'Percentiles, not averages'")
check_ttft_and_decode = exercise(
    "ttft_and_decode", predicate=_ttft_decode_ok,
    expects="a tuple (ttft_s, decode_tokens_per_s) computed from START_06 and TOKEN_TIMES_06",
    hint="TTFT = first token time - START_06; decode speed counts the tokens after the first one over the time "
         "after the first one: (len - 1) / (last - first). Dividing all tokens by the total time mixes in the prefill",
    where="notebook 07, section 2 'Per-request metrics'")
check_ceiling_l4 = exercise(
    "ceiling_l4", predicate=lambda x: isinstance(x, (int, float)) and abs(x / _ceiling_06() - 1) < 0.01,
    expects=f"the batch-1 decode ceiling of {CEILING_MODEL_06} in bf16 on an {CEILING_GPU_06}, in tokens/s "
            "(within 1 %)",
    hint="labkit.lessons.roofline.ceiling(name, 'L4', dtype_bytes=2): bandwidth / bytes read per token. Every layer and the "
         "whole 151,936-row output projection are read per token, although the embedding is tied",
    where="notebook 07, section 4 'The roofline'")
