"""The Colab install cell: what it installs, that it keeps Colab's torch, and the profile it picks.

Colab cannot run here, so the cell is executed with a stand-in ``google.colab`` module, a
recording ``%pip`` and a fake ``torch.cuda``; the requirements it installs are checked against
pyproject.toml, the pins in ``labkit.env.PINNED`` and the installed packages' own metadata.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import types
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import course_map
import run_notebooks
from labkit.env import PINNED

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = run_notebooks.notebooks(include_all=True)
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def install_cell(path: Path) -> str:
    return nbformat.read(path, as_version=4).cells[1].source


def run_install_cell(source: str, *, on_colab: bool, gpu: bool, monkeypatch) -> tuple[list[str], str | None]:
    """Execute the cell as Colab would; return the %pip lines it ran and the profile it chose."""
    pip_lines: list[str] = []

    class FakeShell:
        def run_line_magic(self, name: str, line: str) -> None:
            assert name == "pip", f"the install cell runs %{name}; only %pip is expected"
            pip_lines.append(line)

    fake_torch = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: gpu))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("QWEN_LABS_PROFILE", raising=False)
    code = TransformerManager().transform_cell(source)      # %pip -> get_ipython().run_line_magic(...)
    exec(compile(code, "<install cell>", "exec"), {"get_ipython": lambda: FakeShell()})
    import os
    return pip_lines, os.environ.get("QWEN_LABS_PROFILE")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(ROOT)) for p in NOTEBOOKS])
@pytest.mark.parametrize("gpu", [True, False], ids=["gpu", "cpu"])
def test_install_cell_on_colab(path, gpu, monkeypatch):
    pip_lines, profile = run_install_cell(install_cell(path), on_colab=True, gpu=gpu, monkeypatch=monkeypatch)
    assert len(pip_lines) == 1, f"{path.name}: the install cell should run %pip once, ran {pip_lines}"
    assert profile == ("hub" if gpu else "offline"), (
        f"{path.name}: on Colab {'with' if gpu else 'without'} a GPU the install cell chose profile {profile!r}")
    args = pip_lines[0].split()
    assert "torch" not in " ".join(a for a in args if not a.startswith("-")).replace("qwen-labs", ""), (
        f"{path.name}: the install cell must not install torch (Colab's CUDA torch is kept)")


@pytest.mark.parametrize("path", NOTEBOOKS[:1] + NOTEBOOKS[-1:], ids=lambda p: p.name)
def test_install_cell_does_nothing_elsewhere(path, monkeypatch):
    monkeypatch.setenv("QWEN_LABS_PROFILE", "offline")
    pip_lines, profile = run_install_cell(install_cell(path), on_colab=False, gpu=True, monkeypatch=monkeypatch)
    assert pip_lines == [] and profile is None


def test_install_cell_keeps_a_profile_already_chosen(monkeypatch):
    source = install_cell(NOTEBOOKS[0])
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: True)))
    monkeypatch.setenv("QWEN_LABS_PROFILE", "offline")
    exec(compile(TransformerManager().transform_cell(source), "<install cell>", "exec"),
         {"get_ipython": lambda: types.SimpleNamespace(run_line_magic=lambda *a: None)})
    import os
    assert os.environ["QWEN_LABS_PROFILE"] == "offline"


def colab_requirement_of(path: Path) -> Requirement:
    """The requirement the install cell of ``path`` passes to %pip."""
    m = re.search(r'%pip install -q "([^"]+)"', install_cell(path))
    assert m, f"{path.name}: no %pip install line in the install cell"
    return Requirement(m.group(1))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[str(p.relative_to(ROOT)) for p in NOTEBOOKS])
def test_install_cell_installs_the_extras_its_code_needs(path):
    """[notebooks] everywhere; [engines] exactly where the code uses llama.cpp or ONNX Runtime
    (``course_map.colab_extras``: a notebook without them must not make Colab build llama.cpp)."""
    have, want = sorted(colab_requirement_of(path).extras), sorted(course_map.colab_extras(path))
    assert have == want, f"{path.name}: the install cell installs the extras {have}, its code needs {want}"


def test_some_notebook_installs_the_engines():
    assert any("engines" in course_map.colab_extras(p) for p in NOTEBOOKS), "notebook 08 uses llama.cpp: no match?"


def colab_requirement() -> Requirement:
    """What the install cells install: one package from one URL in every notebook, with the union of their extras
    (each cell's own extras are checked above)."""
    reqs = [colab_requirement_of(path) for path in NOTEBOOKS]
    targets = {(r.name, r.url, str(r.specifier), str(r.marker)) for r in reqs}
    assert len(targets) == 1, f"the notebooks install different things on Colab: {sorted(targets)}"
    extras = sorted(set().union(*(r.extras for r in reqs)))
    return Requirement(f"{reqs[0].name}[{','.join(extras)}] @ {reqs[0].url}")


def project_requirements(extras: set[str]) -> list[Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    for extra in sorted(extras):
        assert extra in PYPROJECT["project"]["optional-dependencies"], (
            f"the install cell asks for the extra [{extra}], which pyproject.toml does not define")
        reqs += [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]]
    return reqs


def test_colab_requirements_are_the_pinned_versions_and_leave_torch_alone():
    req = colab_requirement()
    assert canonicalize_name(req.name) == canonicalize_name(PYPROJECT["project"]["name"])
    reqs = project_requirements(set(req.extras))
    names = {canonicalize_name(r.name) for r in reqs}
    assert "torch" not in names, "torch must stay out of what Colab installs: it would replace Colab's CUDA build"
    pinned = {canonicalize_name(k): v for k, v in PINNED.items()}
    for r in reqs:
        name = canonicalize_name(r.name)
        if str(r.specifier) == "":
            continue      # unpinned on purpose (e.g. pandas, which Colab already has)
        assert name in pinned, f"{r} is pinned in pyproject.toml but not in labkit.env.PINNED"
        assert r.specifier.contains(pinned[name]), f"{r} does not admit the pinned {pinned[name]}"


def test_what_colab_installs_admits_the_pinned_torch_and_never_pins_it():
    """Every package of the install (and what they need) accepts the course's torch; none asks for ==."""
    req = colab_requirement()
    todo = [canonicalize_name(r.name) for r in project_requirements(set(req.extras))]
    seen, torch_specs = set(), {}
    torch_version = Version(PINNED["torch"])
    while todo:
        name = todo.pop()
        if name in seen or name == "torch":
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name} is required by the Colab install but not installed here: run `bash run.sh test`")
        for line in requires:
            dep = Requirement(line)
            if dep.marker is not None and not dep.marker.evaluate({"extra": ""}):
                continue
            dep_name = canonicalize_name(dep.name)
            if dep_name == "torch":
                torch_specs[name] = str(dep.specifier)
                assert dep.specifier.contains(torch_version, prereleases=True), (
                    f"{name} requires torch{dep.specifier}, which excludes the course's torch {torch_version}")
                assert "==" not in str(dep.specifier), (
                    f"{name} pins torch{dep.specifier}: installing it on Colab would replace Colab's CUDA torch")
            todo.append(dep_name)
    assert torch_specs, "no package of the install needs torch? then the torch checks above checked nothing"
    print("torch as required by the Colab install:", torch_specs)


def test_installed_environment_is_consistent():
    """`pip check`: every installed package's requirements are met by the pinned set."""
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert done.returncode == 0, f"pip check found broken requirements:\n{done.stdout}{done.stderr}"
