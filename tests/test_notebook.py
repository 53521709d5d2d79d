"""labkit.notebook: the banner and the skip guard."""
from __future__ import annotations

import os

import pytest

import labkit
from labkit import notebook


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
    monkeypatch.setattr(labkit.profile, "hub_reachable", lambda: False)
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
