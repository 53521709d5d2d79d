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


def pytest_configure(config: pytest.Config) -> None:
    config.stash[NOTEBOOK_RUNS] = {}


@pytest.fixture(scope="session")
def notebook_runs(pytestconfig: pytest.Config) -> dict:
    """notebook (relative path) -> (status, seconds, error, executed copy), filled by test_notebooks."""
    return pytestconfig.stash[NOTEBOOK_RUNS]


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    lines = getattr(config, "qwen_labs_reports", [])  # the load test's figures, shown in the CI log
    if lines:
        terminalreporter.section("load test against transformers serve")
        for line in lines:
            terminalreporter.write_line(line)
    browser = getattr(config, "qwen_labs_browser", [])  # tests/test_browser.py: the notebooks in JupyterLab
    if browser:
        terminalreporter.section("notebooks in JupyterLab (browser test; screenshots in build/browser/)")
        for line in browser:
            terminalreporter.write_line(line)
    runs = config.stash.get(NOTEBOOK_RUNS, {})
    if not runs:
        return
    terminalreporter.section("notebook execution times (offline profile)")
    for name, (status, seconds, error, _) in sorted(runs.items()):
        terminalreporter.write_line(f"{name:<45} {status:<6} {seconds:>7.1f} s" + (f"  {error}" if error else ""))
