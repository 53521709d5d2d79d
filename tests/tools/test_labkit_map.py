"""labkit's shape: the map is current, the top is small, no import cycle, no module too long, import is cheap."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import labkit_map

ROOT = Path(__file__).resolve().parents[2]
LOGIC_LIMIT = 450          # lines of logic (no blank, comment or docstring line) per module
TOP_LIMIT = 16             # entries at the top of labkit/ (README.md included): "about 15"


def logic_lines(path: Path) -> int:
    source = path.read_text(encoding="utf-8")
    docs = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
            docs.update(range(body[0].lineno, body[0].end_lineno + 1))
    return sum(1 for i, line in enumerate(source.splitlines(), 1)
               if line.strip() and not line.strip().startswith("#") and i not in docs)


def test_the_map_and_every_used_line_are_current():
    assert labkit_map.main(["--check"]) == 0, "run `python tools/labkit_map.py --write`"


def test_the_map_lists_every_module_with_its_notebooks():
    text = (ROOT / "labkit" / "README.md").read_text()
    for name in labkit_map.modules():
        if name != "labkit":
            assert f"`{name}`" in text, name
    row = next(line for line in text.splitlines() if line.startswith("| [`labkit.lessons.thinking`]"))
    assert row.endswith("| in notebook 04 |")   # the thinking lesson's helpers, used in 03 only


def test_a_stale_used_line_is_found(tmp_path, monkeypatch):
    fake = tmp_path / "labkit"
    fake.mkdir()
    (fake / "__init__.py").write_text('"""front door."""\nfrom labkit.thing import go\n')
    (fake / "thing.py").write_text('"""A thing.\n\nUsed in notebook 10.\n"""\n\ndef go():\n    pass\n')
    nb = tmp_path / "notebooks"
    nb.mkdir()
    cells = [{"cell_type": "code", "source": ["import labkit\n", "labkit.go()"], "metadata": {}, "outputs": []}]
    (nb / "03_x.ipynb").write_text(json.dumps({"cells": cells}))
    monkeypatch.setattr(labkit_map, "ROOT", tmp_path)
    monkeypatch.setattr(labkit_map, "LABKIT", fake)
    monkeypatch.setattr(labkit_map, "README", fake / "README.md")
    assert labkit_map.main(["--check"]) == 1
    assert labkit_map.main(["--write"]) == 0
    assert "Used in notebook 03.\n" in (fake / "thing.py").read_text()
    assert "Used in notebook 10" not in (fake / "thing.py").read_text()
    assert labkit_map.main(["--check"]) == 0


def test_a_module_only_a_benchmark_imports_says_so(tmp_path, monkeypatch):
    fake = tmp_path / "labkit"
    (fake / "wing").mkdir(parents=True)
    (fake / "__init__.py").write_text('"""front door."""\n')
    (fake / "wing" / "__init__.py").write_text('"""A wing."""\n')
    (fake / "wing" / "scores.py").write_text('"""Scores.\n\nUsed nowhere yet.\n"""\n\ndef score():\n    pass\n')
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "speed.py").write_text("def main():\n    from labkit.wing import scores as S\n")
    for name, value in (("ROOT", tmp_path), ("LABKIT", fake), ("README", fake / "README.md")):
        monkeypatch.setattr(labkit_map, name, value)
    assert labkit_map.main(["--write"]) == 0
    assert "Used by bench/speed.py.\n" in (fake / "wing" / "scores.py").read_text()
    assert "nowhere" not in (fake / "wing" / "scores.py").read_text()


def test_the_top_of_labkit_is_small():
    entries = sorted(p.name for p in (ROOT / "labkit").iterdir() if p.name != "__pycache__")
    assert len(entries) <= TOP_LIMIT, entries
    wings = [p for p in (ROOT / "labkit").iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    assert {p.name for p in wings} >= {"lessons", "family", "hub", "serving", "nano", "checks"}


def test_no_import_cycle_between_modules():
    """The graph of module-level imports (what runs at import) has no cycle."""
    mods = labkit_map.modules()
    graph = {}
    for name, mod in mods.items():
        tree = ast.parse(mod.path.read_text(encoding="utf-8"))
        deps = set()
        for node in tree.body:   # module level only: imports inside functions run later
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("labkit"):
                deps |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods else node.module
                         for a in node.names}
        graph[name] = {d for d in deps if d in mods and d != name and not mods[name].is_package}
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for dep in graph[node]:
            assert state.get(dep) != 1, " -> ".join(path + [node, dep])
            if dep not in state:
                visit(dep, path + [node])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [])


def test_importing_the_front_door_pulls_in_no_framework():
    """`import labkit` must work before torch is installed (the env report says what to install)."""
    code = "import sys, labkit; print(sorted(m for m in ('torch', 'transformers', 'peft', 'trl') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("folder", ["labkit", "tools"])
def test_no_module_has_more_than_450_lines_of_logic(folder):
    sizes = {str(p.relative_to(ROOT)): logic_lines(p) for p in (ROOT / folder).rglob("*.py")}
    assert not {p: n for p, n in sizes.items() if n > LOGIC_LIMIT}


def test_front_door_imports_have_no_side_effects():
    """Importing labkit installs nothing: no log filter, no progress-bar switch (the banner does that)."""
    code = ("import logging, labkit; from huggingface_hub.utils import are_progress_bars_disabled; "
            "print(logging.getLogger('bitsandbytes.backends.cpu.ops').filters, are_progress_bars_disabled())")
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[] False"


@pytest.mark.model
def test_every_module_imports_in_isolation():
    """Each module, alone in a fresh interpreter (an import cycle or a missing import shows here)."""
    names = [n for n in labkit_map.modules()]
    code = "import importlib, sys; importlib.import_module(sys.argv[1])"

    def run(name: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True, timeout=300)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:   # one interpreter per module, side by side
        results = dict(zip(names, pool.map(run, names)))
    failed = {name: out.stderr.strip().splitlines()[-1] for name, out in results.items() if out.returncode}
    assert not failed
