"""labkit.lessons.timing: torch.utils.benchmark in interleaved rounds, ratios and a side-by-side table.

No test depends on how fast anything runs: the tables are checked on hand-made
measurements, and :func:`measure` on what it calls, in which order and at how many threads.
"""
from __future__ import annotations

import itertools
import time

import pytest
import torch
from torch.utils import benchmark

from labkit.lessons import timing
from labkit.errors import LabError


def made(name: str, seconds: list[float]) -> benchmark.Measurement:
    """A Measurement with the given per-call times, as blocked_autorange would return it."""
    spec = benchmark.TaskSpec(stmt="fn()", setup="pass", label="test", sub_label=name, description="time")
    return benchmark.Measurement(number_per_run=1, raw_times=seconds, task_spec=spec)


def recorder(log: list, name: str, sleep_s: float = 0.005):
    def fn():
        log.append((name, torch.get_num_threads()))
        time.sleep(sleep_s)  # slower than min_run_time below: one call per timed block
    return fn


def test_measure_interleaves_rounds_and_merges_them():
    log: list = []
    ms = timing.measure({"a": recorder(log, "a"), "b": recorder(log, "b")}, rounds=3, min_run_time=1e-4)
    assert set(ms) == {"a", "b"}
    # each round: a warm-up call and one timed call of a, then the same for b
    order = [name for name, _ in itertools.groupby(name for name, _ in log)]
    assert order == ["a", "b"] * 3
    assert len(log) == 3 * 2 * 2
    for name, m in ms.items():
        assert isinstance(m, benchmark.Measurement)
        assert len(m.times) == 3 and m.task_spec.sub_label == name and m.median > 0


def test_measure_sets_threads_per_variant_and_restores_them():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        log: list = []
        ms = timing.measure({"one": recorder(log, "one"), "two": recorder(log, "two")}, threads={"two": 2},
                            rounds=1, min_run_time=1e-4)
        seen = {name: {n for who, n in log if who == name} for name in ("one", "two")}
        assert seen == {"one": {1}, "two": {2}}  # default: the current torch.get_num_threads()
        assert ms["two"].task_spec.num_threads == 2
        assert torch.get_num_threads() == 1
        log.clear()
        timing.measure({"x": recorder(log, "x")}, num_threads=2, rounds=1, min_run_time=1e-4)
        assert {n for _, n in log} == {2}
    finally:
        torch.set_num_threads(before)


def test_budget_stops_after_a_whole_round():
    log: list = []
    ms = timing.measure({"a": recorder(log, "a"), "b": recorder(log, "b")}, rounds=5, min_run_time=1e-4,
                        budget_s=0.0)
    assert [len(m.times) for m in ms.values()] == [1, 1]  # one complete round, every variant in it


def test_measure_rejects_bad_input():
    with pytest.raises(LabError, match="no variants"):
        timing.measure({})
    with pytest.raises(LabError, match="do not exist"):
        timing.measure({"a": lambda: None}, threads={"b": 2})
    with pytest.raises(LabError, match="rounds"):
        timing.measure({"a": lambda: None}, rounds=0)


def test_ratios_are_speeds_relative_to_the_baseline():
    ms = {"slow": made("slow", [2.0, 2.2, 1.8]), "fast": made("fast", [0.5, 0.5, 0.5])}
    assert timing.ratios(ms, "slow") == {"slow": 1.0, "fast": pytest.approx(4.0)}
    assert timing.ratios(ms, "fast")["slow"] == pytest.approx(0.25)
    with pytest.raises(LabError, match="no variant called"):
        timing.ratios(ms, "medium")


def test_format_table_columns_and_values():
    ms = {"baseline": made("baseline", [0.2, 0.2, 0.3]), "twice as fast": made("twice as fast", [0.1]),
          "batch": made("batch", [0.4, 0.4])}
    plain = timing.format_table(ms, "baseline").splitlines()
    assert plain[0].split() == ["variant", "median", "ms", "IQR", "samples", "vs", "baseline"]
    rows = {line.split("  ")[0]: line.split() for line in plain[2:]}
    assert rows["baseline"][-4:] == ["200.0", "25%", "3", "1.00x"]  # IQR 0.05 s of a 0.2 s median
    assert rows["twice as fast"][-4:] == ["100.0", "-", "1", "2.00x"]
    assert rows["batch"][-1] == "0.50x"

    rated = timing.format_table(ms, "baseline", work={"baseline": 10, "twice as fast": 10, "batch": 80},
                                unit="tokens/s", ceiling=400).splitlines()
    assert "tokens/s" in rated[0] and "% of ceiling" in rated[0]
    by_name = {line.split("  ")[0]: line.split() for line in rated[2:]}
    assert by_name["baseline"][-3:] == ["50.0", "12.5%", "1.00x"]
    assert by_name["twice as fast"][-3:] == ["100.0", "25.0%", "2.00x"]
    assert by_name["batch"][-3:] == ["200.0", "50.0%", "0.50x"]  # more tokens per call: faster per token


def test_format_table_writes_times_without_exponents():
    ms = {"base": made("base", [0.0123]), "slow": made("slow", [14.31]), "mid": made("mid", [4.567])}
    rows = {line.split("  ")[0]: line.split() for line in timing.format_table(ms, "base").splitlines()[2:]}
    assert rows["base"][1] == "12.3" and rows["slow"][1] == "14,310" and rows["mid"][1] == "4,567"
    assert timing.format_table({"x": made("x", [0.00456])}, "x").splitlines()[2].split()[1] == "4.56"


def test_measurements_work_with_torch_compare():
    log: list = []
    ms = timing.measure({"a": recorder(log, "a"), "b": recorder(log, "b")}, rounds=1, min_run_time=1e-4,
                        label="demo")
    text = str(benchmark.Compare(list(ms.values())))
    assert "demo" in text and "a" in text and "b" in text
