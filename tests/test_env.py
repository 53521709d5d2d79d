"""labkit.env: the environment report, its FIX lines, and the pins."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import labkit
from labkit import env

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"device", "gpu_name", "gpu_memory_gib", "bf16", "bf16_detail", "ram_total_gib", "ram_available_gib",
        "cpu_cores", "python", "platform", "versions", "profile", "profile_reason", "fixes", "notes"}


def pyproject_pins() -> dict[str, str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    pins = {}
    for req in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==([^;\s]+)", req.strip())
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def fake_versions(monkeypatch, **changes: str | None) -> None:
    """Pretend distributions are missing (None) or at another version."""
    real = env._version
    changes = {k.replace("_", "-"): v for k, v in changes.items()}
    monkeypatch.setattr(env, "_version", lambda d: changes[d] if d in changes else real(d))


def test_pinned_matches_pyproject():
    assert env.PINNED == pyproject_pins()


def test_torch_is_not_a_dependency():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [r for r in project["dependencies"] if r.startswith("torch")]
    assert project["optional-dependencies"]["torch"] == [f"torch=={env.PINNED['torch']}"]


def test_report_keys_and_values():
    r = labkit.env_report(print_it=False)
    assert KEYS <= set(r)
    assert r["device"] in ("CUDA", "MPS", "CPU")
    assert r["cpu_cores"] >= 1
    assert r["ram_total_gib"] > 0
    assert set(r["versions"]) == set(env.CORE + env.OPTIONAL)
    assert r["profile"] == "offline" and "offline" in r["profile_reason"]
    assert isinstance(r["bf16"], bool) and r["bf16_detail"]


def test_this_environment_needs_no_fix():
    r = labkit.env_report(print_it=False)
    assert r["fixes"] == [], r["fixes"]


def test_missing_optional_package_gives_a_fix(monkeypatch):
    fake_versions(monkeypatch, peft=None)
    r = env.env_report(print_it=False)
    assert r["versions"]["peft"] == "not installed"
    assert any(f.startswith("FIX: peft") and 'pip install -e ".[notebooks]"' in f for f in r["fixes"])


def test_missing_torch_gives_the_pinned_install(monkeypatch):
    fake_versions(monkeypatch, torch=None)
    r = env.env_report(print_it=False)
    assert r["device"] == "CPU"
    assert any("pip install torch==2.13.0" in f for f in r["fixes"])


def test_mismatched_transformers_gives_the_pip_command(monkeypatch):
    fake_versions(monkeypatch, transformers="4.0.0")
    r = env.env_report(print_it=False)
    assert any("pip install transformers==5.23.0" in f for f in r["fixes"])


def test_another_torch_is_a_note_not_a_fix(monkeypatch):
    fake_versions(monkeypatch, torch="2.99.0+cu999")
    r = env.env_report(print_it=False)
    assert not [f for f in r["fixes"] if "torch" in f]
    assert any("2.99.0" in n for n in r["notes"])


def test_unreachable_hub_profile_is_reported_with_a_fix(monkeypatch):
    monkeypatch.setattr("labkit.hub.lookup.hub_reachable", lambda: False)
    monkeypatch.setenv("QWEN_LABS_PROFILE", "hub")
    r = env.env_report(print_it=False)
    assert r["profile"] == "error"
    assert any("QWEN_LABS_PROFILE=offline" in f for f in r["fixes"])


def test_printed_report(monkeypatch, capsys):
    fake_versions(monkeypatch, trl=None)
    env.env_report()
    out = capsys.readouterr().out
    assert "qwen-labs environment report" in out
    assert re.search(r"^\s+trl\s+not installed$", out, re.M)
    assert re.search(r"^\s+active\s+offline \(", out, re.M)
    assert "FIX: trl is missing" in out


@pytest.mark.parametrize("major, expected", [(7, False), (8, True), (9, True)])
def test_cuda_bf16_needs_compute_capability_8(monkeypatch, major, expected):
    import torch
    from labkit.env import cuda_bf16

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: type("P", (), {"major": major})())
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)   # what a T4 reports
    assert cuda_bf16() is expected


def test_cuda_bf16_is_false_without_a_gpu(monkeypatch):
    import torch
    from labkit.env import cuda_bf16

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cuda_bf16() is False


def test_pins_come_from_the_package_metadata_or_pyproject(monkeypatch):
    """PINNED has one source: pip's metadata of qwen-labs, else the checkout's pyproject.toml."""
    from importlib import metadata

    assert env.pins() == pyproject_pins()

    def not_installed(dist):
        raise metadata.PackageNotFoundError(dist)

    monkeypatch.setattr(env.metadata, "requires", not_installed)
    assert env.pins() == pyproject_pins()


def test_versions_named_in_the_docs_are_the_pins():
    """A `name==version` written in the README, the guides or the workflows is the pinned one."""
    texts = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / ".github" / "workflows").glob("*.yml")), ROOT / "environment.yml"]
    seen = 0
    for path in texts:
        for name, version in re.findall(r"\b([A-Za-z][A-Za-z0-9_.-]*)==([0-9][0-9A-Za-z.+]*[0-9A-Za-z])", path.read_text()):
            if name.lower() in env.PINNED:
                seen += 1
                assert version == env.PINNED[name.lower()], f"{path.name} says {name}=={version}"
    assert seen >= 3
