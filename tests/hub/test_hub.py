"""labkit.hub: the one list of hub checkpoints, finding them on this machine, and the one-line errors."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hub_fakes import blob_of, fake_checkpoint, fake_entry, safetensors_bytes

import labkit
from labkit import models
from labkit.hub import checkpoints, lookup

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache as $HF_HUB_CACHE, no local model folders, the network allowed."""
    path = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(path))
    for var in ("HUGGINGFACE_HUB_CACHE", lookup.MODELS_DIR_VAR, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(var, "")   # empty is unset for labkit; set first so that the test's changes are undone
    return path


def _code(path: Path) -> str:
    """The code cells of a notebook, comments removed."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return "\n".join(line.split("#", 1)[0] for line in code.splitlines())


def _notebooks(number: str) -> list[Path]:
    return sorted(ROOT.glob(f"notebooks/{number}_*.ipynb")) + sorted(ROOT.glob(f"solutions/{number}_*.ipynb"))


# ------------------------------------------------------------------------------ the list
def test_the_list_is_unique_and_starts_with_the_default_model():
    ids = [m.repo_id for m in checkpoints.COURSE_MODELS]
    assert len(ids) == len(set(ids))
    assert ids[0] == checkpoints.DEFAULT_MODEL == models.DEFAULT_HUB_MODEL
    assert all(re.fullmatch(r"Qwen/[\w.-]+", i) for i in ids)
    with pytest.raises(labkit.LabError, match="Qwen/Qwen3-0.6B"):
        checkpoints.get("Qwen/Qwen3-8B")
    assert checkpoints.find("Qwen/Qwen3-8B") is None


def test_every_listed_model_is_loaded_where_the_list_says():
    for model in checkpoints.COURSE_MODELS:
        for number in model.notebooks:
            code = _code(_notebooks(number)[0])
            default = model.repo_id == checkpoints.DEFAULT_MODEL and ("load_model(" in code or "resolve_model_id(" in code)
            assert model.repo_id in code or default, (number, model.repo_id)


def test_every_checkpoint_a_notebook_loads_is_listed():
    listed = {m.repo_id for m in checkpoints.COURSE_MODELS}
    loaders = ("from_pretrained", "hub_chat(", "_id =", "LLM(model=")
    for path in sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb")):
        for line in _code(path).splitlines():
            if any(word in line for word in loaders):
                for repo in re.findall(r"[\"'](Qwen/[\w.-]+)[\"']", line):
                    assert repo in listed, f"{path.name} loads {repo}: add it to labkit.hub.checkpoints.COURSE_MODELS"


def test_parameters_are_counted_from_the_architectures():
    from labkit.family import architectures as A
    from labkit.family import selection as S

    candidates = {c.model: c for task in S.SEED_GUIDE.values() for e in task.entries for c in e.candidates}
    for model in checkpoints.COURSE_MODELS:
        assert model.arch in A.CONFIGS
        if model.vision_params and model.arch in A.VISION:   # Qwen3.5: the tower's cited config, counted
            import torch
            from transformers import Qwen3_5VisionConfig
            from transformers.models.qwen3_5.modeling_qwen3_5 import Qwen3_5VisionModel

            with torch.device("meta"):
                tower = Qwen3_5VisionModel(Qwen3_5VisionConfig(**A.VISION[model.arch]))
            assert model.vision_params == sum(p.numel() for p in tower.parameters())
        elif model.vision_params:
            assert model.vision_params == candidates[model.name].extra_params
        if model.name in candidates:
            assert candidates[model.name].arch == model.arch
        assert model.params == A.count_params(model.arch)["total"] + model.vision_params, model.repo_id
        assert model.download_bytes == 2 * model.params
    assert checkpoints.size_text(checkpoints.DEFAULT_MODEL) == "1.19 GB"
    assert checkpoints.size_text("Qwen/Qwen3-8B") == "size unknown"


def test_each_model_names_a_real_class_and_tokenizer():
    import transformers

    from labkit.tokenizer import FAMILIES

    for model in checkpoints.COURSE_MODELS:
        assert hasattr(transformers, model.architecture)
        assert model.tokenizer in FAMILIES
        assert model.processor == model.architecture.endswith("ConditionalGeneration")


# ------------------------------------------------------------------------------ where models are
def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert lookup.cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "c"))
    assert lookup.cache_dir() == tmp_path / "c"
    assert lookup.repo_folder("Qwen/Qwen3-0.6B") == tmp_path / "c" / "models--Qwen--Qwen3-0.6B"


def test_missing_then_cached(cache):
    assert lookup.locate(checkpoints.DEFAULT_MODEL).state == "missing"
    snapshot = fake_entry(cache)
    loc = lookup.locate(checkpoints.DEFAULT_MODEL)
    assert (loc.state, loc.ok, loc.path) == ("cached", True, snapshot)
    assert (snapshot / "config.json").is_symlink() and blob_of(snapshot, "config.json").parent.name == "blobs"
    assert (lookup.repo_folder(checkpoints.DEFAULT_MODEL) / "refs" / "main").read_text() == snapshot.name


def test_huggingface_hub_reads_the_entries_it_is_given(cache):
    from huggingface_hub import snapshot_download, try_to_load_from_cache

    snapshot = fake_entry(cache)
    assert try_to_load_from_cache(checkpoints.DEFAULT_MODEL, "model.safetensors", cache_dir=cache) == str(
        snapshot / "model.safetensors")
    assert Path(snapshot_download(checkpoints.DEFAULT_MODEL, cache_dir=cache, local_files_only=True)) == snapshot


@pytest.mark.parametrize("damage, expected", [
    ("delete-weights-blob", "model.safetensors is missing"),
    ("truncate-weights", "model.safetensors is truncated"),
    ("incomplete-blob", "interrupted download left 1 .incomplete"),
    ("delete-tokenizer", "tokenizer.json is missing"),
    ("no-refs", "refs/main is missing"),
])
def test_a_broken_entry_says_what_is_wrong(cache, damage, expected):
    snapshot = fake_entry(cache)
    folder = lookup.repo_folder(checkpoints.DEFAULT_MODEL)
    if damage == "delete-weights-blob":
        blob_of(snapshot, "model.safetensors").unlink()
    elif damage == "truncate-weights":
        blob = blob_of(snapshot, "model.safetensors")
        blob.write_bytes(blob.read_bytes()[:-3])
    elif damage == "incomplete-blob":
        (folder / "blobs" / "abc.incomplete").write_bytes(b"partial")
    elif damage == "delete-tokenizer":
        (snapshot / "tokenizer.json").unlink()
    elif damage == "no-refs":
        (folder / "refs" / "main").unlink()
    loc = lookup.locate(checkpoints.DEFAULT_MODEL)
    assert loc.state == "broken" and not loc.ok
    assert expected in loc.problem


def test_sharded_weights_need_every_shard(tmp_path):
    folder = fake_checkpoint(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    (folder / "model-00001-of-00002.safetensors").write_bytes(safetensors_bytes())
    assert lookup.folder_problems(folder) == ["model-00002-of-00002.safetensors is missing"]
    (folder / "model-00002-of-00002.safetensors").write_bytes(safetensors_bytes())
    assert lookup.folder_problems(folder) == []


def test_the_vl_model_needs_its_processor_file(tmp_path):
    vl = next(m for m in checkpoints.COURSE_MODELS if m.processor)
    folder = fake_checkpoint(tmp_path / "vl")
    assert lookup.folder_problems(folder, vl) == ["preprocessor_config.json is missing"]


def test_a_local_folder_comes_first(cache, tmp_path, monkeypatch):
    fake_entry(cache)
    local = tmp_path / "models"
    fake_checkpoint(local / checkpoints.DEFAULT_MODEL)
    monkeypatch.setenv(lookup.MODELS_DIR_VAR, str(local))
    loc = lookup.locate(checkpoints.DEFAULT_MODEL)
    assert (loc.state, loc.path) == ("local", local / checkpoints.DEFAULT_MODEL)
    assert lookup.locate(checkpoints.DEFAULT_MODEL, local_folders=False).state == "cached"


# ------------------------------------------------------------------------------ the errors
def test_missing_model_error_names_it_its_size_and_the_command(cache):
    err = lookup.unavailable_error(lookup.locate("Qwen/Qwen2.5-VL-3B-Instruct"), "huggingface.co", offline=False)
    assert isinstance(err, labkit.LabError)
    assert "Qwen/Qwen2.5-VL-3B-Instruct (7.51 GB)" in err.cause and str(cache) in err.cause
    assert "huggingface.co cannot be reached" in err.cause
    assert "python -m labkit.hub.download --only Qwen/Qwen2.5-VL-3B-Instruct" in err.fix
    assert "QWEN_LABS_PROFILE=offline" in err.fix
    assert "\n" not in err.cause and "\n" not in err.fix
    other = lookup.unavailable_error(lookup.locate("Qwen/Qwen3-8B"), "huggingface.co", offline=True)
    assert "size unknown" in other.cause and "HF_HUB_OFFLINE=1" in other.cause and "hf download Qwen/Qwen3-8B" in other.fix


def test_broken_model_error_gives_the_fix(cache):
    snapshot = fake_entry(cache)
    blob_of(snapshot, "model.safetensors").unlink()
    err = lookup.unavailable_error(lookup.locate(checkpoints.DEFAULT_MODEL), "huggingface.co", offline=True)
    assert "incomplete: model.safetensors is missing" in err.cause
    assert "python -m labkit.hub.download --only Qwen/Qwen3-0.6B" in err.fix
    assert str(lookup.repo_folder(checkpoints.DEFAULT_MODEL)) in err.fix


def test_download_command_names_a_cache_other_than_the_default(cache, tmp_path):
    assert lookup.download_command(checkpoints.DEFAULT_MODEL) == "python -m labkit.hub.download --only Qwen/Qwen3-0.6B"
    assert lookup.download_command(checkpoints.DEFAULT_MODEL, tmp_path / "x").endswith(f"--cache {tmp_path / 'x'}")


def test_resolve_model_id_under_the_hub_profile(cache, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("QWEN_LABS_PROFILE", "hub")
    monkeypatch.setattr("labkit.hub.lookup.hub_reachable", lambda timeout=1.5: False)
    fake_entry(cache)
    assert models.resolve_model_id() == checkpoints.DEFAULT_MODEL
    # cached but the Hub out of reach: the process goes offline, as HF_HUB_OFFLINE=1 would make it
    assert constants.HF_HUB_OFFLINE is True and lookup.offline_env()
    with pytest.raises(labkit.LabError, match=r"Qwen/Qwen2.5-Coder-1.5B-Instruct \(3.09 GB\) is not in"):
        models.resolve_model_id("Qwen/Qwen2.5-Coder-1.5B-Instruct")
    monkeypatch.setattr("labkit.hub.lookup.hub_reachable", lambda timeout=1.5: True)
    assert models.resolve_model_id("Qwen/Qwen2.5-Coder-1.5B-Instruct") == "Qwen/Qwen2.5-Coder-1.5B-Instruct"
