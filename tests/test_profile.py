"""labkit.profile: offline / hub / auto, and bad values."""
from __future__ import annotations

import os

import pytest

import labkit
from labkit import profile as prof


@pytest.fixture
def hub(monkeypatch):
    """Set whether the Hub 'answers' without touching the network."""
    def set_reachable(value: bool) -> None:
        monkeypatch.setattr(prof, "hub_reachable", lambda: value)
    return set_reachable


def test_offline_is_offline_even_when_the_hub_answers(monkeypatch, hub):
    hub(True)
    monkeypatch.setenv(prof.ENV_VAR, "offline")
    choice = labkit.choose_profile()
    assert choice.name == "offline"
    assert "offline" in choice.reason
    assert labkit.active_profile() == "offline"


def test_hub_when_reachable(monkeypatch, hub):
    hub(True)
    monkeypatch.setenv(prof.ENV_VAR, "hub")
    assert labkit.active_profile() == "hub"


def test_hub_unreachable_raises_with_the_fix(monkeypatch, hub):
    hub(False)
    monkeypatch.setenv(prof.ENV_VAR, "hub")
    with pytest.raises(labkit.LabError) as err:
        labkit.choose_profile()
    assert "offline" in err.value.fix


@pytest.mark.parametrize("reachable, expected", [(True, "hub"), (False, "offline")])
def test_auto_follows_the_hub(monkeypatch, hub, reachable, expected):
    hub(reachable)
    monkeypatch.setenv(prof.ENV_VAR, "auto")
    choice = labkit.choose_profile()
    assert choice.name == expected
    assert choice.reason.startswith("auto")


def test_auto_is_the_default(monkeypatch, hub):
    hub(False)
    monkeypatch.delenv(prof.ENV_VAR, raising=False)
    assert labkit.choose_profile().reason.startswith("auto")


def test_bad_environment_value_names_the_profiles(monkeypatch):
    monkeypatch.setenv(prof.ENV_VAR, "cloud")
    with pytest.raises(labkit.LabError) as err:
        labkit.active_profile()
    assert "'cloud'" in str(err.value)
    assert all(p in err.value.fix for p in prof.PROFILES)


def test_set_profile_writes_the_environment(monkeypatch, hub):
    hub(False)
    monkeypatch.setenv(prof.ENV_VAR, "auto")
    choice = labkit.set_profile(" Offline ")
    assert os.environ[prof.ENV_VAR] == "offline"
    assert choice.name == "offline"


def test_set_profile_none_keeps_the_environment(monkeypatch, hub):
    hub(True)
    monkeypatch.setenv(prof.ENV_VAR, "hub")
    assert labkit.set_profile(None).name == "hub"
    assert os.environ[prof.ENV_VAR] == "hub"


def test_set_profile_rejects_a_bad_value(monkeypatch):
    monkeypatch.setenv(prof.ENV_VAR, "offline")
    with pytest.raises(labkit.LabError) as err:
        labkit.set_profile("gpu")
    assert "offline" in err.value.fix
    assert os.environ[prof.ENV_VAR] == "offline"  # unchanged
