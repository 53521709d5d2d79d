"""labkit.notebook: the banner, the skip guard, and a LabError where the learner looks."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars

import labkit
import run_notebooks
from labkit import notebook

ROOT = Path(__file__).resolve().parents[1]
NB00 = ROOT / "notebooks" / "00_setup_and_hardware.ipynb"
BAD_PROFILE = ("LabError: profile='nonsense' is not a profile.", "  How to fix: use one of offline, hub, class, auto.")


def test_banner_prints_profile_device_and_versions(capsys):
    from importlib.metadata import version

    labkit.banner("offline")
    out = capsys.readouterr().out
    assert "qwen-labs · profile: offline (QWEN_LABS_PROFILE=offline was requested)" in out
    assert f"device: {notebook.device_summary()}" in out
    assert f"torch {version('torch')}" in out and f"transformers {version('transformers')}" in out
    lines = out.strip().splitlines()
    assert lines[0].startswith("╭") and lines[-1].startswith("╰")
    assert len({len(line) for line in lines}) == 1  # a closed box


def test_banner_applies_the_parameter(monkeypatch, capsys):
    monkeypatch.setenv("QWEN_LABS_PROFILE", "auto")
    monkeypatch.setattr("labkit.hub.lookup.hub_reachable", lambda: False)
    labkit.banner("offline")
    assert os.environ["QWEN_LABS_PROFILE"] == "offline"
    labkit.banner(None)  # keeps the environment's choice
    assert "profile: offline" in capsys.readouterr().out


def test_banner_rejects_a_bad_profile(monkeypatch):
    monkeypatch.setenv("QWEN_LABS_PROFILE", "offline")
    with pytest.raises(labkit.LabError):
        labkit.banner("colab")


def test_skip_unless_prints_when_skipping(capsys):
    assert labkit.skip_unless(False, "needs the hub profile") is False
    assert capsys.readouterr().out == "SKIPPED: needs the hub profile\n"
    assert labkit.skip_unless(True, "never shown") is True
    assert capsys.readouterr().out == ""


def test_has_gpu_agrees_with_torch():
    import torch

    assert labkit.has_gpu() is torch.cuda.is_available()


def test_device_summary_on_this_machine():
    import torch

    text = notebook.device_summary()
    if torch.cuda.is_available():
        assert text.startswith("CUDA: ")
    elif not text.startswith("MPS"):
        assert text == f"CPU ({labkit.env.cpu_cores()} cores)"


# ---------------------------------------------------------------- a LabError where the learner looks
def test_in_ipython_a_lab_error_is_one_entry_and_fails_the_cell(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        labkit.errors.short_tracebacks()
        result = shell.run_cell("import labkit\nlabkit.banner('colab')")
        out = capsys.readouterr().out
    finally:
        InteractiveShell.clear_instance()
    assert isinstance(result.error_in_exec, labkit.LabError)  # the cell failed: a run stops there
    assert "LabError: profile='colab' is not a profile." in out and "How to fix:" in out
    assert "Traceback" not in out and "File " not in out and len(out.strip().splitlines()) == 2


@pytest.mark.notebooks
def test_papermill_cli_shows_the_lab_error(tmp_path):
    """The README's command form, with a bad profile: the message on the command line, not an empty error."""
    proc = subprocess.run([sys.executable, "-m", "papermill", str(NB00), str(tmp_path / "out.ipynb"),
                           "-p", "profile", "nonsense"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    error = text[text.index('Exception encountered at "In ['):]  # papermill's own message, after its traceback
    assert error.splitlines()[1:3] == list(BAD_PROFILE), error
    assert len(error.strip().splitlines()) == 3, error
    assert len(text.splitlines()) < 45, text  # papermill's CLI traceback and progress bar, then the 3 lines


@pytest.mark.notebooks
def test_run_notebooks_names_the_cell_and_the_lab_error(tmp_path):
    status, _, error = run_notebooks.run_notebook(NB00, tmp_path, profile="nonsense")
    assert status == "failed"
    assert error == f"cell 3 (In [4]): import labkit -> {BAD_PROFILE[0]} {BAD_PROFILE[1].strip()}", error


def test_record_gpu_peak_writes_the_kernel_peak_after_each_cell(tmp_path, monkeypatch):
    """The hub pass reads each notebook's peak GPU memory from this file (null without CUDA)."""
    import json

    from IPython.core.interactiveshell import InteractiveShell

    peak = tmp_path / "peak.json"
    assert labkit.notebook.record_gpu_peak() is False  # not asked for: nothing installed
    monkeypatch.setenv(labkit.notebook.PEAK_FILE_VAR, str(peak))
    shell = InteractiveShell.instance()
    try:
        assert labkit.notebook.record_gpu_peak() is True
        assert labkit.notebook.record_gpu_peak() is False  # once per kernel
        peak.unlink()
        shell.run_cell("x = 1")
    finally:
        InteractiveShell.clear_instance()
    import torch

    want = int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None
    assert json.loads(peak.read_text()) == {"peak_gpu_bytes": want}


# ------------------------------------------------------------------------------ progress bars quieted only where nobody watches
def fake_ipython(monkeypatch, kernel) -> None:
    """Make ``sys.modules['IPython'].get_ipython()`` return a shell with ``kernel``."""
    shell = types.SimpleNamespace(kernel=kernel)
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))


@pytest.fixture
def bars_on():
    """Progress bars on before and after the test (the test may turn them off)."""
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()
    enable_progress_bars()
    yield hf_logging
    hf_logging.enable_progress_bar()
    enable_progress_bars()


def test_unattended_kernel_turns_the_bars_off(monkeypatch, bars_on):
    fake_ipython(monkeypatch, types.SimpleNamespace(_allow_stdin=False))  # papermill / nbclient
    assert notebook.quiet_progress_bars() is True
    assert are_progress_bars_disabled()
    assert not bars_on.is_progress_bar_enabled()


def test_interactive_kernel_keeps_the_bars(monkeypatch, bars_on):
    fake_ipython(monkeypatch, types.SimpleNamespace(_allow_stdin=True))  # JupyterLab, Colab, VS Code
    assert notebook.quiet_progress_bars() is False
    assert not are_progress_bars_disabled()
    assert bars_on.is_progress_bar_enabled()


@pytest.mark.parametrize("shell", [None, types.SimpleNamespace()], ids=["no shell", "terminal IPython"])
def test_outside_a_kernel_nothing_changes(monkeypatch, bars_on, shell):
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    assert notebook.quiet_progress_bars() is False
    assert bars_on.is_progress_bar_enabled()
    monkeypatch.delitem(sys.modules, "IPython")
    assert notebook.quiet_progress_bars() is False


def test_a_hub_run_on_a_cpu_says_how_slow_it_will_be(monkeypatch, capsys):
    """The real checkpoints on a CPU: the banner measures the ceiling (bandwidth / weights) and names the ways out."""
    from labkit.profile import ProfileChoice

    monkeypatch.setattr(notebook, "set_profile", lambda profile: ProfileChoice("hub", "test", "the cache"))
    monkeypatch.setattr(notebook, "accelerator", lambda: None)
    monkeypatch.setattr(notebook.standins, "is_standin", lambda model: False)
    labkit.banner("hub")
    out = capsys.readouterr().out
    ceiling = re.search(r"at most (\d+) tokens/s", out)
    assert ceiling and int(ceiling[1]) > 0 and "1.19 GB of Qwen3-0.6B" in out
    assert "QWEN_LABS_PROFILE=offline" in out and "CUDA GPU" in out
    monkeypatch.setattr(notebook, "accelerator", lambda: "CUDA")   # with a GPU: no notice
    labkit.banner("hub")
    assert "at most" not in capsys.readouterr().out
