"""Compare variants of a computation with ``torch.utils.benchmark``: interleaved rounds, ratios from one run.

* :func:`measure` times each variant (a no-argument callable) with a
  ``torch.utils.benchmark.Timer`` at a given number of CPU threads, in interleaved
  rounds (round 1 runs every variant once, then round 2, ...), so a machine that
  slows down or speeds up during the run affects all variants alike.  It returns one
  ``torch.utils.benchmark.Measurement`` per variant (median, IQR, every timed run).
* :func:`ratios` and :func:`format_table` turn them into speeds relative to a
  baseline: the figure that carries over to another machine.

Why ratios: an absolute time depends on the machine and on whatever else runs on it
(a shared CPU can be several times slower from one minute to the next).  Variants
timed side by side in one run share those conditions, so their ratio is meaningful;
absolute times mean something only on a dedicated machine, in practice a GPU.

``torch.utils.benchmark`` does the timing: it synchronizes the GPU before reading the
clock, runs a warm-up call before each measurement (to pick its block size), and sets
the thread count for the measurement only.  Note that ``Timer``'s own default is **one**
thread; :func:`measure` defaults to the current ``torch.get_num_threads()`` instead, so a
variant runs as it would if you called it.  For the library's own table of absolute
times, pass the measurements to ``torch.utils.benchmark.Compare``.

Used in notebook 07.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from labkit.errors import LabError


def measure(variants: Mapping[str, Callable[[], Any]], *, num_threads: int | None = None,
            threads: Mapping[str, int] | None = None, rounds: int = 2, min_run_time: float = 0.2,
            budget_s: float | None = None, label: str = "labkit.lessons.timing") -> dict[str, Any]:
    """Time every callable in ``variants`` in interleaved rounds; ``{name: Measurement}``.

    Each round calls ``Timer.blocked_autorange(min_run_time=...)`` once per variant:
    one warm-up call, then timed calls until ``min_run_time`` seconds have passed (at
    least one).  The rounds of a variant are merged with ``Measurement.merge``, so
    ``.median``, ``.iqr`` and ``.times`` cover all of them.

    ``num_threads``: torch's CPU threads for every variant (``None``: the current
    ``torch.get_num_threads()``); ``threads``: a different count for some variants, by
    name.  ``budget_s``: stop after the first round that ends past this many seconds (a
    busy machine then gives fewer rounds, never a half-measured one).
    """
    import torch
    from torch.utils import benchmark

    if not variants:
        raise LabError("no variants to time.", "pass a dict {name: callable}.")
    unknown = sorted(set(threads or {}) - set(variants))
    if unknown:
        raise LabError(f"threads names variants that do not exist: {unknown}.",
                       f"use names from {list(variants)}.")
    if rounds < 1:
        raise LabError(f"rounds={rounds}: nothing would be measured.", "ask for rounds >= 1.")
    default = torch.get_num_threads() if num_threads is None else num_threads
    timers = {name: benchmark.Timer(stmt="fn()", globals={"fn": fn}, label=label, sub_label=name,
                                    description="time", num_threads=(threads or {}).get(name, default))
              for name, fn in variants.items()}
    runs: dict[str, list[Any]] = {name: [] for name in variants}
    start = time.perf_counter()
    for _ in range(rounds):
        for name, timer in timers.items():
            runs[name].append(timer.blocked_autorange(min_run_time=min_run_time))
        if budget_s is not None and time.perf_counter() - start > budget_s:
            break
    return {name: benchmark.Measurement.merge(ms)[0] for name, ms in runs.items()}


def ratios(measurements: Mapping[str, Any], baseline: str) -> dict[str, float]:
    """Speed of each variant relative to ``baseline`` (its median time / theirs): 2.0 = twice as fast."""
    if baseline not in measurements:
        raise LabError(f"no variant called {baseline!r}.", f"pick the baseline from {list(measurements)}.")
    base = measurements[baseline].median
    return {name: base / m.median for name, m in measurements.items()}


def _three_digits(x: float) -> str:
    """At least three significant digits, no exponent: 0.123, 4.56, 78.9, 577.8, 14,310."""
    return f"{x:,.0f}" if x >= 1000 else f"{x:.1f}" if x >= 10 else f"{x:.3g}"


def format_table(measurements: Mapping[str, Any], baseline: str, *, work: float | Mapping[str, float] | None = None,
                 unit: str = "items/s", ceiling: float | None = None) -> str:
    """A text table: median time, IQR (in % of the median; ``-`` for one sample), samples,
    and speed relative to ``baseline`` (which reads 1.00x).

    A sample is one timed block of ``blocked_autorange`` (one call for anything slower
    than ``min_run_time``; for fast callables the mean of a block of calls).

    ``work`` (a number, or one per variant) is what one call does, e.g. tokens
    generated: it adds a column ``unit`` = work / median time.  ``ceiling``, in the
    same unit, adds how close each rate comes to it (``% of ceiling``).
    """
    from torch.utils.benchmark import select_unit

    speed = ratios(measurements, baseline)
    time_unit, scale = select_unit(min(m.median for m in measurements.values()))
    width = max(len("variant"), *(len(name) for name in measurements)) + 2
    head = f"{'variant':<{width}}{'median ' + time_unit:>12}{'IQR':>7}{'samples':>9}"
    if work is not None:
        head += f"{unit:>12}"
        if ceiling:
            head += f"{'% of ceiling':>14}"
    head += f"{'vs baseline':>13}"
    rows = [head, "-" * len(head)]
    for name, m in measurements.items():
        spread = f"{100 * m.iqr / m.median:.0f}%" if len(m.times) > 1 else "-"
        row = f"{name:<{width}}{_three_digits(m.median / scale):>12}{spread:>7}{len(m.times):>9}"
        if work is not None:
            rate = (work[name] if isinstance(work, Mapping) else work) / m.median
            row += f"{rate:>12.1f}"
            if ceiling:
                row += f"{100 * rate / ceiling:>13.1f}%"
        row += f"{speed[name]:>12.2f}x"
        rows.append(row)
    return "\n".join(rows)
