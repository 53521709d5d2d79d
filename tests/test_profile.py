"""labkit.profile: offline / hub / auto, and bad values."""
from __future__ import annotations

import os

import pytest

from hub_fakes import blob_of, fake_checkpoint, fake_entry

import labkit
from labkit.hub import checkpoints, lookup

from labkit import profile as prof

REAL_ACCELERATOR = prof.accelerator   # the autouse fixture below replaces it in every test


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache as $HF_HUB_CACHE; no local model folders, no HF_HUB_OFFLINE."""
    path = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(path))
    for var in ("HUGGINGFACE_HUB_CACHE", lookup.MODELS_DIR_VAR, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    return path


@pytest.fixture(autouse=True)
def gpu(monkeypatch):
    """A CUDA GPU, unless a test says otherwise (gpu(False)): auto picks hub only with one."""
    def set_gpu(value: bool) -> None:
        monkeypatch.setattr(prof, "accelerator", lambda: "CUDA" if value else None)
    set_gpu(True)
    return set_gpu


@pytest.fixture
def hub(monkeypatch):
    """Set whether the Hub 'answers' without touching the network."""
    def set_reachable(value: bool) -> None:
        monkeypatch.setattr("labkit.hub.lookup.hub_reachable", lambda timeout=1.5: value)
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


@pytest.mark.parametrize("has_gpu", [True, False], ids=["gpu", "cpu"])
@pytest.mark.parametrize("reachable", [True, False], ids=["hub reachable", "no network"])
@pytest.mark.parametrize("cached", [True, False], ids=["cached", "not cached"])
def test_auto_picks_hub_only_where_it_can_run(monkeypatch, hub, gpu, cache, has_gpu, reachable, cached):
    gpu(has_gpu)
    hub(reachable)
    if cached:
        fake_entry(cache)
    monkeypatch.setenv(prof.ENV_VAR, "auto")
    choice = labkit.choose_profile()
    assert choice.name == ("hub" if has_gpu and (reachable or cached) else "offline")
    if not has_gpu:   # a CPU laptop with internet: offline, and the way to the real checkpoints
        assert "no CUDA GPU" in choice.reason and "QWEN_LABS_PROFILE=hub" in choice.reason
    monkeypatch.setenv(prof.ENV_VAR, "hub")   # asked for, hub runs on a CPU too
    if reachable or cached:
        assert labkit.choose_profile().name == "hub"
    else:
        with pytest.raises(labkit.LabError):
            labkit.choose_profile()


def test_accelerator_is_cuda_only(monkeypatch):
    import torch

    for available, expected in ((False, None), (True, "CUDA")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
        assert REAL_ACCELERATOR() == expected


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


# ------------------------------------------------------------------------------ the hub profile from local files
@pytest.mark.parametrize("requested", ["hub", "auto"])
def test_a_cached_default_model_needs_no_network(monkeypatch, hub, cache, requested):
    hub(False)
    monkeypatch.setenv(prof.ENV_VAR, requested)
    fake_entry(cache)
    choice = labkit.choose_profile()
    assert choice.name == "hub"
    assert choice.reason.endswith("Qwen/Qwen3-0.6B is in the Hugging Face cache")
    assert choice.reason.startswith("auto:" if requested == "auto" else "QWEN_LABS_PROFILE=hub was requested")
    assert str(cache) in choice.models


def test_hf_hub_offline_is_said_in_the_models_line(monkeypatch, cache):
    monkeypatch.setattr("labkit.hub.lookup.hub_reachable", lambda timeout=1.5: pytest.fail("no network check needed"))
    monkeypatch.setenv(prof.ENV_VAR, "hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_entry(cache)
    assert labkit.choose_profile().models == f"the Hugging Face cache {cache} only (HF_HUB_OFFLINE=1)"


def test_hub_from_the_network_says_where_downloads_go(monkeypatch, hub, cache):
    hub(True)
    monkeypatch.setenv(prof.ENV_VAR, "hub")
    choice = labkit.choose_profile()
    assert choice.reason == "QWEN_LABS_PROFILE=hub was requested; huggingface.co is reachable"
    assert choice.models == f"the Hub (huggingface.co), downloaded into {cache}"


def test_hub_without_model_or_network_names_size_and_command(monkeypatch, hub, cache):
    hub(False)
    monkeypatch.setenv(prof.ENV_VAR, "hub")
    with pytest.raises(labkit.LabError) as err:
        labkit.choose_profile()
    assert "Qwen/Qwen3-0.6B (1.19 GB) is not in the Hugging Face cache" in err.value.cause
    assert "python -m labkit.hub.download --only Qwen/Qwen3-0.6B" in err.value.fix


def test_a_broken_cache_entry_is_one_error_with_the_fix(monkeypatch, hub, cache):
    hub(False)
    monkeypatch.setenv(prof.ENV_VAR, "hub")
    blob_of(fake_entry(cache), "model.safetensors").unlink()
    with pytest.raises(labkit.LabError) as err:
        labkit.choose_profile()
    assert "incomplete: model.safetensors is missing" in err.value.cause
    assert "resumes" in err.value.fix
    monkeypatch.setenv(prof.ENV_VAR, "auto")  # auto falls back, and says why
    choice = labkit.choose_profile()
    assert choice.name == "offline" and "is incomplete in the Hugging Face cache" in choice.reason


def test_a_local_folder_serves_the_hub_profile(monkeypatch, hub, tmp_path):
    hub(False)
    monkeypatch.setenv(prof.ENV_VAR, "auto")
    fake_checkpoint(tmp_path / "models" / "Qwen" / "Qwen3-0.6B")
    monkeypatch.setenv(lookup.MODELS_DIR_VAR, str(tmp_path / "models"))
    choice = labkit.choose_profile()
    assert choice.name == "hub" and choice.reason == "auto: Qwen/Qwen3-0.6B is in a local folder"
    assert choice.models.startswith(f"local folders in {tmp_path / 'models'}")


def test_auto_offline_reason_states_the_rule(monkeypatch, hub, cache):
    hub(False)
    monkeypatch.setenv(prof.ENV_VAR, "auto")
    choice = labkit.choose_profile()
    assert choice.reason == (f"auto: Qwen/Qwen3-0.6B is not in the Hugging Face cache ({cache}) and huggingface.co "
                             "is not reachable, so the embedded nano model is used")
    assert "nano_qwen3" in choice.models
    assert "Hugging Face cache" in prof.AUTO_RULE and checkpoints.DEFAULT_MODEL in prof.AUTO_RULE


def test_the_endpoint_follows_hf_endpoint(monkeypatch):
    assert lookup.hub_endpoint() == "https://huggingface.co"
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    assert (lookup.hub_endpoint(), lookup.hub_host()) == ("http://127.0.0.1:9", "127.0.0.1")
    assert lookup.can_connect(lookup.hub_endpoint(), timeout=1) is False   # nothing listens on port 9


def test_hf_hub_offline_means_unreachable(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    lookup.hub_reachable.cache_clear()
    try:
        assert lookup.hub_reachable() is False
    finally:
        lookup.hub_reachable.cache_clear()
