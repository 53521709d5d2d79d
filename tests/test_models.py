"""labkit.models: the model id per profile, and progress bars quieted only where nobody watches."""
from __future__ import annotations

import sys
import types

import pytest
from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars

import labkit
from labkit import models


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
    assert models.quiet_progress_bars() is True
    assert are_progress_bars_disabled()
    assert not bars_on.is_progress_bar_enabled()


def test_interactive_kernel_keeps_the_bars(monkeypatch, bars_on):
    fake_ipython(monkeypatch, types.SimpleNamespace(_allow_stdin=True))  # JupyterLab, Colab, VS Code
    assert models.quiet_progress_bars() is False
    assert not are_progress_bars_disabled()
    assert bars_on.is_progress_bar_enabled()


@pytest.mark.parametrize("shell", [None, types.SimpleNamespace()], ids=["no shell", "terminal IPython"])
def test_outside_a_kernel_nothing_changes(monkeypatch, bars_on, shell):
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    assert models.quiet_progress_bars() is False
    assert bars_on.is_progress_bar_enabled()
    monkeypatch.delitem(sys.modules, "IPython")
    assert models.quiet_progress_bars() is False


def test_offline_profile_resolves_to_the_nano_model():
    assert models.resolve_model_id() == str(models.nano_path())
    assert models.resolve_model_id(models.NANO_ID) == str(models.nano_path())
    with pytest.raises(labkit.LabError):
        models.resolve_model_id("Qwen/Qwen3-8B")
