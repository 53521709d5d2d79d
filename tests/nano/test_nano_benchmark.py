"""bench/nano_benchmark.py's own logic: the within-2-points comparison and the stage-1 model from git history."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import nano_benchmark as bench  # noqa: E402


def results(think_l1: float, off_l1: float, double_off: float) -> dict:
    level = lambda x: {1: x, 2: 0.5}  # noqa: E731
    res = {name: {"accuracy": 0.6, "format_ok": 1.0, "by_level": level(off_l1 if "nothink" in name else think_l1)}
           for name in ("greedy_think", "greedy_nothink", "sampled_think", "sampled_nothink")}
    res["held_out_double"] = {"accuracy": 0.0}
    res["held_out_double_nothink"] = {"accuracy": double_off}
    return {"results": res}


def test_card_figures_name_every_stage1_percentage():
    figures = bench.card_figures(results(1.0, 0.8, 0.1))
    assert len(figures) == 4 * 2 + 2 * 2 + 2  # accuracy and format per row, two levels per greedy mode, doubling
    assert figures["greedy_nothink level 1"] == 0.8 and figures["held_out_double no thinking"] == 0.1


def test_compare_figures_sorts_moves_into_better_and_worse():
    old = bench.card_figures(results(1.0, 0.80, 0.10))
    same = bench.compare_figures(old, bench.card_figures(results(0.99, 0.81, 0.11)))
    assert same["moved"] == [] and same["worse"] == []
    assert same["figures"]["greedy_think level 1"]["points"] == -1.0
    moved = bench.compare_figures(old, bench.card_figures(results(0.95, 0.85, 0.02)))
    assert moved["moved"] == ["greedy_nothink level 1", "greedy_think level 1", "held_out_double no thinking"]
    # a skill lower is worse; the held-out skill, which must stay unknown, lower is better
    assert moved["worse"] == ["greedy_think level 1"]
    up = bench.compare_figures(old, bench.card_figures(results(1.0, 0.80, 0.20)))
    assert up["worse"] == ["held_out_double no thinking"]


def test_baseline_model_reads_the_model_from_git_history():
    folder = bench.baseline_model("git:HEAD")
    assert (folder / "model.safetensors").stat().st_size > 1e6
    here = ROOT / "labkit" / "nano" / "nano_qwen3"
    assert json.loads((folder / "config.json").read_text())["model_type"] == "qwen3"
    assert (folder / "training.json").exists() and (folder / "tokenizer.json").exists()
    assert bench.baseline_model(str(here)) == here
    before_wings = bench.baseline_model("git:5ee0dff")   # the stage-1 model, at its old place labkit/nano_model
    assert json.loads((before_wings / "config.json").read_text())["model_type"] == "qwen3"
