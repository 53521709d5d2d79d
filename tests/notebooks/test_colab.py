"""The Colab install cell: what it installs, that it keeps Colab's torch, and the profile it picks.

Colab cannot run here, so the cell is executed with a stand-in ``google.colab`` module, a
recording ``%pip`` and a fake ``torch.cuda``; the requirements it installs are checked against
pyproject.toml, the pins in ``labkit.env.PINNED`` and the installed packages' own metadata, and resolved
against the packages Colab ships (``data/colab_pip_freeze_gpu.txt``, Colab's own ``pip freeze``): nothing of
Colab's Jupyter, kernel, widgets or torch may change.
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
    """[colab] everywhere; [engines] exactly where the code uses llama.cpp or ONNX Runtime
    (``course_map.colab_extras``: a notebook without them must not make Colab build llama.cpp)."""
    have, want = sorted(colab_requirement_of(path).extras), sorted(course_map.colab_extras(path))
    assert have == want, f"{path.name}: the install cell installs the extras {have}, its code needs {want}"


def test_some_notebook_installs_the_engines():
    assert any("engines" in course_map.colab_extras(p) for p in NOTEBOOKS), "notebook 09 uses llama.cpp: no match?"


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


# ---------------------------------------------------------------- against the packages Colab ships
COLAB_FREEZE = Path(__file__).parent / "data" / "colab_pip_freeze_gpu.txt"
# Colab's runtime: replacing any of these breaks the kernel, the widgets or the GPU build after a restart.
COLAB_RUNTIME = ("ipykernel", "ipython", "jupyter-client", "jupyter-core", "jupyter-server", "notebook", "tornado",
                 "traitlets", "pyzmq", "ipywidgets", "widgetsnbextension", "jupyterlab-widgets", "google-colab",
                 "torch", "torchvision", "torchaudio")


def colab_packages() -> dict[str, Version | None]:
    """Colab's packages: name -> version (None for one installed from a file or a git URL)."""
    out = {}
    for line in COLAB_FREEZE.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, version = line.partition("==")
        if " @ " in name:
            out[canonicalize_name(name.split(" @ ")[0])] = None
        else:
            out[canonicalize_name(name)] = Version(version.split("+")[0])
    return out


def what_pip_changes(extras: set[str], colab: dict[str, Version | None]) -> dict[str, str]:
    """What ``pip install qwen-labs[extras]`` would install or replace on Colab: name -> why.

    Every requirement of the course (at the course's pins) and, recursively, of what it installs (from the
    installed packages' metadata) is resolved against Colab's version: one that Colab lacks, or whose version the
    requirement excludes, is installed.  A package that pip installs anyway brings its own requirements in.
    """
    changes: dict[str, str] = {}
    todo = [(r, "qwen-labs") for r in project_requirements(extras)]
    seen: set[str] = set()
    while todo:
        req, by = todo.pop()
        name = canonicalize_name(req.name)
        if req.marker is not None and not req.marker.evaluate({"extra": "", "python_version": "3.13"}):
            continue
        if name == "qwen-labs":   # [notebooks] -> qwen-labs[colab]
            todo += [(r, by) for r in project_requirements(set(req.extras))]
            continue
        have = colab.get(name)
        if name not in colab or (have is not None and not req.specifier.contains(have, prereleases=True)):
            changes.setdefault(name, f"{by} requires {req}; Colab has {have or 'none'}")
            if name in seen:
                continue
            seen.add(name)
            try:
                todo += [(Requirement(line), name) for line in metadata.requires(name) or []]
            except metadata.PackageNotFoundError:
                pytest.fail(f"{name} is required by the Colab install but not installed here: run `bash run.sh test`")
    return changes


def test_the_colab_install_keeps_colabs_jupyter_kernel_widgets_and_torch():
    """Resolved against Colab's own packages, what the install cells install replaces nothing Colab's runtime
    is made of (ipykernel, the Jupyter server and client, ipywidgets, torch, ...)."""
    colab = colab_packages()
    assert colab["torch"] and colab["ipykernel"] and "google-colab" in colab   # the snapshot is what it says
    changes = what_pip_changes(set(colab_requirement().extras), colab)
    print("the Colab install installs or replaces:", sorted(changes))
    broken = {name: why for name, why in changes.items() if name in COLAB_RUNTIME}
    assert not broken, broken
    assert "transformers" in changes and "peft" in changes   # the course's own pins do land


def test_the_full_notebooks_extra_would_replace_colabs_kernel():
    """The check can fail: [notebooks] (JupyterLab, ipykernel 7, papermill) replaces Colab's kernel and widgets."""
    changes = what_pip_changes({"notebooks"}, colab_packages())
    assert {"ipykernel", "ipywidgets"} <= set(changes), sorted(changes)
