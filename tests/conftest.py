"""Test set-up: the offline profile and a tokenizer cache that survives between runs."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Set before labkit (or any notebook kernel started by the tests) reads them.
os.environ.setdefault("QWEN_LABS_CACHE", str(ROOT / "build" / "cache"))
os.environ["QWEN_LABS_PROFILE"] = "offline"

import pytest  # noqa: E402

NOTEBOOK_RUNS = pytest.StashKey[dict]()

# Test tiers (CONTRIBUTING.md says which to run when).  A test file names its tier with
# ``pytestmark = pytest.mark.<tier>``; every test without one is ``unit``.
TIERS = {
    "unit": "labkit and tools on tiny inputs: about a minute in all; run on every change (bash run.sh unit)",
    "model": "runs the nano model or a stand-in, trains, or builds and compares tokenizers: seconds each",
    "notebooks": "executes notebooks, exercises and solutions under the offline profile",
    "hub": "executes notebooks under the hub profile on stand-in checkpoints",
    "serving": "starts real server processes (transformers serve, JupyterLab) and sends them traffic",
    "browser": "drives JupyterLab in headless Chromium",
}


def pytest_configure(config: pytest.Config) -> None:
    config.stash[NOTEBOOK_RUNS] = {}
    for tier, what in TIERS.items():
        config.addinivalue_line("markers", f"{tier}: {what}")


@pytest.fixture(scope="session")
def notebook_runs(pytestconfig: pytest.Config) -> dict:
    """notebook (relative path) -> (status, seconds, error, executed copy), filled by test_notebooks."""
    return pytestconfig.stash[NOTEBOOK_RUNS]


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    lines = getattr(config, "qwen_labs_reports", [])  # the load test's figures, shown in the CI log
    if lines:
        terminalreporter.section("load tests (transformers serve, llama.cpp, vLLM)")
        for line in lines:
            terminalreporter.write_line(line)
    browser = getattr(config, "qwen_labs_browser", [])  # tests/notebooks/test_browser.py: the notebooks in JupyterLab
    if browser:
        terminalreporter.section("notebooks in JupyterLab (browser test; screenshots in build/browser/)")
        for line in browser:
            terminalreporter.write_line(line)
    runs = config.stash.get(NOTEBOOK_RUNS, {})
    if not runs:
        return
    import run_notebooks

    terminalreporter.section("notebook execution times (offline profile)")
    for name, (status, seconds, error, out) in sorted(runs.items()):
        slow = run_notebooks.describe_slow(run_notebooks.slow_cells(out)) if out.exists() else ""
        terminalreporter.write_line(f"{name:<45} {status:<6} {seconds:>7.1f} s" + (f"  {error}" if error else "")
                                    + (f"  SLOW: {slow}" if slow else ""))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(tier) for tier in TIERS):
            item.add_marker(pytest.mark.unit)
    # the tiers in the order of TIERS (fast ones first: a broken unit fails in a minute), stable within a tier
    order = {tier: i for i, tier in enumerate(TIERS)}
    items.sort(key=lambda item: min(order[t] for t in TIERS if item.get_closest_marker(t)))


# The nano Qwen3.5's architecture at tiny shapes (its layer pattern, gated attention, a vision tower), trained 2 steps
# and exported: a Qwen3.5 checkpoint folder with its processor files, shared by tests/test_processor.py and
# tests/nano/test_qwen35.py (one export writes the 248K tokenizer: ~10 s).
TINY_QWEN35_TEXT = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 4, "head_dim": 16,
                    "linear_key_head_dim": 8, "linear_value_head_dim": 8, "linear_num_key_heads": 2,
                    "linear_num_value_heads": 2}
TINY_QWEN35_VISION = {"depth": 1, "hidden_size": 16, "num_heads": 2, "intermediate_size": 32, "out_hidden_size": 16}


@pytest.fixture(scope="session")
def tiny_qwen35(tmp_path_factory) -> tuple[Path, dict]:
    """(folder, training metadata) of the tiny nano-Qwen3.5 export."""
    from labkit.nano.qwen35 import train

    text = {**train.TEXT, **TINY_QWEN35_TEXT,
            "rope_parameters": {**train.TEXT["rope_parameters"], "mrope_section": [1, 1, 0]}}
    folder = tmp_path_factory.mktemp("tiny_qwen35") / "model"
    meta = train.train(folder, steps=2, batch=4, lr=1e-3, seed=0, threads=None, vocab_samples=150, text=text,
                       vision={**train.VISION, **TINY_QWEN35_VISION})
    return folder, meta
