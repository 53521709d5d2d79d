"""labkit.hub.download: the list and sizes first, one line when it cannot fetch, nothing half-written left."""
from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from hub_fakes import fake_checkpoint, fake_entry

from labkit.hub import download
from labkit.hub import checkpoints, lookup

BOGUS = "http://127.0.0.1:9"   # nothing listens on the discard port


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", lookup.MODELS_DIR_VAR):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def no_fetch(monkeypatch):
    """Fail the test if anything is fetched."""
    def fail(*args, **kwargs):
        raise AssertionError("fetched something")
    monkeypatch.setattr(download, "fetch_hf", fail)
    monkeypatch.setattr(download, "fetch_modelscope", fail)


def _files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*")) if folder.exists() else []


def test_dry_run_lists_every_model_with_its_size_and_the_total(tmp_path, capsys, monkeypatch, no_fetch):
    monkeypatch.setenv("HF_ENDPOINT", BOGUS)
    assert download.run(tmp_path / "hub", dry_run=True) == 0
    out = capsys.readouterr().out
    for m in checkpoints.COURSE_MODELS:
        assert f"{m.repo_id:<36} {f'{m.download_gb:.2f} GB':>9}  to fetch" in out
    total = sum(m.download_bytes for m in checkpoints.COURSE_MODELS)
    assert f"Total to fetch: {total / 1e9:.2f} GB (computed:" in out
    assert "Dry run: nothing was fetched." in out
    assert not (tmp_path / "hub").exists()


@pytest.mark.parametrize("how", ["HF_HUB_OFFLINE", "bogus endpoint"])
def test_no_network_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch, no_fetch, how):
    if how == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.setenv("HF_ENDPOINT", BOGUS)
    cache = tmp_path / "hub"
    assert download.run(cache) == 1
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    assert ("HF_HUB_OFFLINE=1" if how == "HF_HUB_OFFLINE" else f"cannot reach {BOGUS}") in out
    assert not cache.exists()


def test_a_failed_fetch_cleans_up_after_itself(tmp_path, capsys, monkeypatch):
    """The Hub 'answers' the first check but the endpoint refuses: huggingface_hub fails; nothing stays."""
    monkeypatch.setenv("HF_ENDPOINT", BOGUS)
    monkeypatch.setattr("labkit.hub.lookup.can_connect", lambda url, timeout=1.5: True)
    cache = tmp_path / "hub"
    cache.mkdir()
    assert download.run(cache, only=[checkpoints.DEFAULT_MODEL]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("fetching Qwen/Qwen3-0.6B stopped:") and "nothing half-written was left" in last
    assert _files(cache) == []


def test_clean_after_failure_keeps_only_data(tmp_path):
    cache = tmp_path / "hub"
    fake_entry(cache)                                   # there before: untouched
    before = download._snapshot_state(cache)
    new = lookup.repo_folder("Qwen/Qwen2.5-Coder-1.5B-Instruct", cache)
    (new / "blobs").mkdir(parents=True)
    (new / "refs").mkdir()
    (new / "blobs" / "aaa.incomplete").write_bytes(b"")  # nothing arrived
    (cache / ".locks" / new.name).mkdir(parents=True)
    (cache / ".locks" / new.name / "aaa.lock").write_bytes(b"")
    partial = lookup.repo_folder("Qwen/Qwen2.5-Math-1.5B-Instruct", cache) / "blobs" / "bbb.incomplete"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"12345")                        # data arrived: kept for resuming
    kept = download.clean_after_failure(cache, before, cache_existed=True)
    assert kept == 5
    assert not new.exists() and not (cache / ".locks").exists()
    assert partial.read_bytes() == b"12345"
    assert lookup.locate(checkpoints.DEFAULT_MODEL, cache).state == "cached"
    assert lookup.locate("Qwen/Qwen2.5-Math-1.5B-Instruct", cache).state == "broken"


def test_a_cache_with_the_standins_is_reported_present(tmp_path, capsys, monkeypatch, no_fetch):
    from labkit.hub import standins

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")   # no network needed when nothing is missing
    cache = standins.build()
    before = _files(cache)
    assert download.run(cache) == 0
    out = capsys.readouterr().out
    for m in checkpoints.COURSE_MODELS:
        assert f"{m.repo_id:<36} {'':>9}  present, nothing to fetch" in out
    assert "Nothing to fetch" in out
    assert _files(cache) == before


def test_a_broken_entry_is_to_complete(tmp_path, capsys, monkeypatch, no_fetch):
    cache = tmp_path / "hub"
    snapshot = fake_entry(cache)
    (snapshot / "model.safetensors").resolve().unlink()
    monkeypatch.setenv("HF_ENDPOINT", BOGUS)
    assert download.run(cache, only=[checkpoints.DEFAULT_MODEL], dry_run=True) == 0
    assert "incomplete, to complete (model.safetensors is missing)" in capsys.readouterr().out


def test_not_enough_disk_space_is_one_line(tmp_path, capsys, monkeypatch, no_fetch):
    monkeypatch.setattr("labkit.hub.lookup.can_connect", lambda url, timeout=1.5: True)
    monkeypatch.setattr(download, "hub_sizes", lambda rows, cache, endpoint: None)
    monkeypatch.setattr(download, "_free_bytes", lambda path: 10**6)
    assert download.run(tmp_path / "hub", only=[checkpoints.DEFAULT_MODEL]) == 1
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("not enough disk space")
    assert not (tmp_path / "hub").exists()


def test_modelscope_without_its_package_says_what_to_install(tmp_path, capsys, monkeypatch, no_fetch):
    monkeypatch.setitem(sys.modules, "modelscope", None)   # import fails
    assert download.run(tmp_path / "hub", source="modelscope") == 1
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1 and download.MODELSCOPE_INSTALL in out


def test_modelscope_files_land_in_the_huggingface_layout(tmp_path, capsys, monkeypatch):
    calls = []

    def snapshot_download(model_id, local_dir, allow_patterns):
        calls.append(model_id)
        fake_checkpoint(Path(local_dir))
        (Path(local_dir) / ".msc").write_text("modelscope bookkeeping")
        return local_dir

    monkeypatch.setitem(sys.modules, "modelscope", types.SimpleNamespace(snapshot_download=snapshot_download))
    monkeypatch.setattr("labkit.hub.lookup.can_connect", lambda url, timeout=1.5: True)
    cache = tmp_path / "hub"
    assert download.run(cache, source="modelscope", only=[checkpoints.DEFAULT_MODEL]) == 0
    assert calls == [checkpoints.DEFAULT_MODEL]
    loc = lookup.locate(checkpoints.DEFAULT_MODEL, cache)
    assert loc.state == "cached" and not (loc.path / ".msc").exists()
    assert [p.name for p in cache.iterdir()] == ["models--Qwen--Qwen3-0.6B"]


def test_the_command_line(tmp_path):
    env_cmd = [sys.executable, "-m", "labkit.hub.download", "--cache", str(tmp_path / "hub"), "--dry-run",
               "--only", checkpoints.DEFAULT_MODEL]
    out = subprocess.run(env_cmd, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    assert "Qwen/Qwen3-0.6B" in out.stdout and "Qwen2.5" not in out.stdout
    bad = subprocess.run([sys.executable, "-m", "labkit.hub.download", "--only", "Qwen/Nope"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
