"""tools/course_map.py: README's course map is generated, in sync, timed and computed."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import course_map as cm
import course_memory as mem
import course_outcomes as oc

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = cm.course_notebooks()


def _block(text: str) -> str:
    assert text.count(cm.START) == 1 and text.count(cm.END) == 1, "README needs one pair of course-map markers"
    return text.split(cm.START, 1)[1].split(cm.END, 1)[0]


def _rows(block: str) -> dict[str, list[str]]:
    """notebook number -> the cells of its row in the course map table."""
    rows = {}
    for line in block.splitlines():
        m = re.match(r"\| (\d\d) \| \[", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in line.strip().strip("|").split(" | ")]
    return rows


def _seconds(cell: str) -> int:
    m = re.fullmatch(r"(?:(\d+) min)? ?(?:(\d+) s)?", cell)
    assert m and cell and cell.strip() == cell, f"not a measured time: {cell!r}"
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


def test_time_format():
    from course_map import fmt_seconds

    assert [fmt_seconds(s) for s in (44.4, 119.6, 120, 185.3)] == ["44 s", "2 min", "2 min", "3 min 5 s"]
    assert [_seconds(fmt_seconds(s)) for s in (44, 120, 185)] == [44, 120, 185]


def _gb(cell: str) -> float | None:
    if cell.startswith("none"):
        return None
    m = re.match(r"(\d+\.\d\d) GB", cell)
    assert m, f"not a GPU memory figure: {cell!r}"
    return float(m.group(1))


@pytest.fixture(scope="module")
def readme_rows() -> dict[str, list[str]]:
    return _rows(_block((ROOT / "README.md").read_text(encoding="utf-8")))


def test_readme_and_guide_are_in_sync_with_the_tool():
    assert cm.stale() == [], "run: python tools/course_map.py --write"
    assert cm.main(["--check"]) == 0


def test_every_notebook_has_a_row_with_its_measured_time(readme_rows):
    times = json.loads((ROOT / "docs" / "notebook_times.json").read_text())["notebooks"]
    assert NOTEBOOKS, "no course notebooks found"
    assert sorted(readme_rows) == [p.name[:2] for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        rel = path.relative_to(ROOT).as_posix()
        cells = readme_rows[path.name[:2]]
        assert f"]({rel})" in cells[1], f"row {path.name[:2]} does not link {rel}"
        assert "—" not in cells[3]
        assert _seconds(cells[3]) == round(times[rel]["seconds"]), f"{rel}: README time differs from the times file"


def test_times_file_covers_the_course_notebooks_and_nothing_gone():
    entries = json.loads((ROOT / "docs" / "notebook_times.json").read_text())["notebooks"]
    course = {p.relative_to(ROOT).as_posix() for p in NOTEBOOKS}
    assert course <= set(entries), f"no time for {sorted(course - set(entries))}"
    gone = [name for name in entries if not (ROOT / name).is_file()]
    assert not gone, f"the times file lists notebooks that no longer exist: {gone}"
    for name in course:
        e = entries[name]
        assert e["status"] == "ok" and e["profile"] == "offline", name
        assert isinstance(e["seconds"], (int, float)) and e["seconds"] > 0, name
        assert e["machine"], name


def _times_copy(tmp_path: Path, change) -> Path:
    data = json.loads((ROOT / "docs" / "notebook_times.json").read_text())
    change(data["notebooks"])
    path = tmp_path / "times.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("change, message", [
    (lambda e: e.pop("notebooks/04_thinking_mode.ipynb"), "04_thinking_mode.ipynb has no time entry"),
    (lambda e: e.__setitem__("notebooks/99_gone.ipynb", dict(e["notebooks/00_setup_and_hardware.ipynb"])),
     "notebooks/99_gone.ipynb is listed but no longer exists"),
    (lambda e: e.__setitem__("exercises/99_gone_exercise.ipynb", dict(e["notebooks/00_setup_and_hardware.ipynb"])),
     "exercises/99_gone_exercise.ipynb is listed but no longer exists"),
    (lambda e: e["notebooks/06_lora_and_qlora.ipynb"].update(status="failed"), "did not run to the end"),
    (lambda e: e["notebooks/01_qwen_family.ipynb"].update(seconds="—"), "has no measured seconds"),
    (lambda e: e["notebooks/02_generation_basics.ipynb"].update(profile="hub"), "not offline"),
])
def test_a_missing_extra_or_bad_time_entry_is_refused(tmp_path, capsys, change, message):
    path = _times_copy(tmp_path, change)
    with pytest.raises(cm.CourseMapError, match=re.escape(message)):
        cm.load_times(path)
    assert cm.main(["--check", "--times", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_times_of_exercises_and_solutions_are_ignored(tmp_path):
    def add(entries):
        entries["exercises/00_setup_exercise.ipynb"] = dict(entries["notebooks/00_setup_and_hardware.ipynb"], seconds=1)
    assert cm.render_readme(_times_copy(tmp_path, add)) == cm.render_readme(cm.TIMES)


def test_the_header_names_the_machine_of_the_times_file(tmp_path):
    path = _times_copy(tmp_path, lambda e: [v.update(machine="TestBox 9000") for v in e.values()])
    header = next(line for line in cm.render_readme(path).splitlines() if line.startswith("| # |"))
    assert "measured on TestBox 9000" in header
    assert "TestBox 9000" in cm.render_guide(path)["timetable"]


def test_check_finds_a_stale_readme_and_write_fixes_it(tmp_path):
    readme, guide = tmp_path / "README.md", tmp_path / "guide.md"
    shutil.copy(ROOT / "README.md", readme)
    shutil.copy(cm.GUIDE, guide)
    assert cm.stale(readme, guide) == []
    text = readme.read_text(encoding="utf-8")
    for pattern, new in ((r"\| \d+ s \|", "| 9999 s |"), (r"\d+\.\d\d GB", "0.00 GB")):
        stale = re.sub(pattern, new, text, count=1)
        assert stale != text
        readme.write_text(stale, encoding="utf-8")
        assert cm.stale(readme, guide) == [readme]
    guide.write_text(re.sub(r"\| \d+\.\d\d GB \|", "| 0.00 GB |", guide.read_text(encoding="utf-8"), count=1),
                     encoding="utf-8")
    assert cm.stale(readme, guide) == [readme, guide]
    for path, text in cm.updated(readme, guide).items():
        path.write_text(text, encoding="utf-8")
    assert cm.stale(readme, guide) == []
    guide.write_text(guide.read_text(encoding="utf-8").replace(cm.guide_markers("gpu")[1], ""), encoding="utf-8")
    with pytest.raises(cm.CourseMapError, match="exactly one"):
        cm.updated(readme, guide)


def _expected_gb(number: str) -> float:
    """The figure of a notebook, added up here from labkit.family.architectures calls."""
    from labkit.family import architectures as A

    spec = mem.HUB_MEMORY[number]
    total = A.kv_cache_gb(mem._arch(spec.loads[0].model)[0], spec.kv_tokens, spec.kv_batch) + 1.0
    for load in spec.loads:
        arch, extra, _ = mem._arch(load.model)
        dtype = "nf4" if load.precision == "nf4-dq" else load.precision
        one = A.weight_memory_gb(arch, dtype, double_quant=load.precision == "nf4-dq") + 2 * extra / 1e9
        if load.fp32_upcast:
            one += 2 * (A.count_params(arch)["total"] - mem._linear_numel(arch) + extra) / 1e9
        if load.lora:
            one += mem.lora_params(load.model, load.lora) * load.lora.bytes_per_param / 1e9
        total += load.copies * one
    return total


def test_gpu_memory_figures_equal_the_calculator(readme_rows):
    from labkit.family import architectures as A

    for num, cells in readme_rows.items():
        shown = _gb(cells[4])
        if num in mem.NO_MODEL:
            assert shown is None, f"notebook {num} loads no model but shows {cells[4]!r}"
            continue
        assert shown == pytest.approx(_expected_gb(num), abs=0.005), f"notebook {num}"
        assert A.GPUS[cells[4].split("fits a ")[1].rstrip(")")].memory_gb >= shown
    # one model, nothing else: exactly labkit's own memory_needed_gb
    spec = mem.HUB_MEMORY["04"]
    assert len(spec.loads) == 1 and spec.loads[0].precision == "bf16" and not spec.loads[0].lora
    assert _gb(readme_rows["04"][4]) == pytest.approx(
        A.memory_needed_gb("Qwen3-0.6B", "bf16", context=spec.kv_tokens, batch=spec.kv_batch), abs=0.005)
    assert mem.allowance_gb() == 1.0


def test_lora_parameters_match_peft_arithmetic():
    # Qwen3-0.6B: hidden 1024, q 1024->2048, k/v 1024->1024, o 2048->1024, MLP 1024<->3072, 28 layers
    per_layer = 8 * ((1024 + 2048) + 2 * (1024 + 1024) + (2048 + 1024) + 3 * (1024 + 3072))
    assert mem.lora_params(mem.Q3, mem.LoRA(8, mem.ALL7)) == 28 * per_layer
    assert mem.lora_params(mem.Q3, mem.LoRA(8, mem.QV)) == 28 * 8 * ((1024 + 2048) + (1024 + 1024))


def test_memory_data_follows_what_the_notebooks_load():
    from labkit.hub import checkpoints
    from labkit.models import DEFAULT_HUB_MODEL

    assert mem.Q3 == DEFAULT_HUB_MODEL == checkpoints.DEFAULT_MODEL
    listed = {m.repo_id for m in checkpoints.COURSE_MODELS}
    for num, spec in mem.HUB_MEMORY.items():   # the map sizes only models of labkit.hub's one list
        for load in spec.loads:
            assert load.model in listed, (num, load.model)
            assert num in checkpoints.get(load.model).notebooks, (num, load.model)
    for path in NOTEBOOKS:
        num, source = path.name[:2], _source(path)
        assert (num in mem.NO_MODEL) != (num in mem.HUB_MEMORY), f"notebook {num}: in exactly one of NO_MODEL, HUB_MEMORY"
        if num in mem.NO_MODEL:
            assert "load_model(" not in source and "ForCausalLM.from_pretrained" not in source, num
            continue
        for load in mem.HUB_MEMORY[num].loads:
            assert load.model in source or (load.model == mem.Q3 and "load_model(" in source), (num, load.model)
            for name in re.findall(r"`(\w+)", load.why):
                assert name in source, f"notebook {num} has no {name!r} (HUB_MEMORY note)"
    assert cm.TEACHES.keys() == {p.name[:2] for p in NOTEBOOKS}


def _source(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"])


def test_outcomes_point_at_real_sections_and_checks(readme_rows):
    from labkit import checks

    block = _block((ROOT / "README.md").read_text(encoding="utf-8"))
    by_number = {p.name[:2]: p for p in NOTEBOOKS}
    for i, outcome in enumerate(oc.OUTCOMES, 1):
        assert f"| 10.{i} {outcome.text} |" in block
        assert outcome.delivered and outcome.checks, outcome.text
        for d in outcome.delivered:
            headings = set(re.findall(r"^## (\d+)\.", _source(by_number[d.notebook]), re.M))
            missing = {str(s) for s in d.sections} - headings
            assert not missing, f"notebook {d.notebook} has no section(s) {missing} ({outcome.text})"
        for ex, name in outcome.checks:
            assert name in checks.REGISTRY, name
            exercise = next((ROOT / "exercises").glob(f"{ex}_*_exercise.ipynb"))
            assert f"labkit.checks.check_{name}(" in _source(exercise), f"{exercise.name} does not call check_{name}"


def _outline_sections() -> dict[int, str]:
    """docs/source_outline.md: section number -> its text, from each '### N. Title' heading."""
    text = oc.OUTLINE.read_text(encoding="utf-8")
    parts = re.split(r"^### (\d+)\. .*$", text, flags=re.M)
    return {int(n): body for n, body in zip(parts[1::2], parts[2::2])}


def test_outline_is_in_the_repository_with_sections_1_to_10():
    assert oc.OUTLINE == ROOT / "docs" / "source_outline.md" and oc.OUTLINE.is_file()
    assert list(_outline_sections()) == list(range(1, 11))      # sections 5, 6, 7, 10 are cited by number


def test_code_samples_cited_by_the_instructor_notes_are_in_the_outline():
    """The source chapter's code samples are mapped in the instructor notes (never in learner prose); the
    outline's table says the same notebook."""
    rows = re.findall(r"^\| (\d+) \| .* \| ([^|]+) \|$", oc.OUTLINE.read_text(encoding="utf-8"), re.M)
    where = {int(n): taught for n, taught in rows}
    assert list(where) == list(range(1, 14))
    notes = sorted((ROOT / "docs" / "instructor_notes").glob("[0-9][0-9]_*.md"))
    cited = {(int(n), p.name[:2]) for p in notes for n in re.findall(r"\bsample (\d+)\b", p.read_text())}
    assert cited, "the instructor notes map the chapter's code samples by number"
    for n, notebook in sorted(cited):
        assert f"notebook {notebook}" in where[n], f"sample {n} is cited by the notes of notebook {notebook}"


def test_outcomes_are_the_outlines_numbered_outcomes():
    body = _outline_sections()[10].split("\n## ", 1)[0]
    listed = re.findall(r"^(\d+)\. \*\*(.+?)\*\*", body, re.M)
    assert [n for n, _ in listed] == [str(i) for i in range(1, len(listed) + 1)]
    assert [o.text for o in oc.OUTCOMES] == [text for _, text in listed]
    block = _block((ROOT / "README.md").read_text(encoding="utf-8"))
    for n, text in listed:
        assert f"| 10.{n} {text} |" in block
    assert "[`docs/source_outline.md`](docs/source_outline.md), section 10" in block


def test_sizing_comes_from_the_hub_list(monkeypatch):
    from labkit.hub import checkpoints

    vl = checkpoints.get(mem.VL)
    assert mem._arch(mem.VL) == (vl.arch, vl.vision_params, mem._arch(mem.VL)[2])
    assert "vision tower" in mem._arch(mem.VL)[2]
    assert mem._arch(mem.Q3) == ("Qwen3-0.6B", 0, "Qwen3-0.6B")
    # a change to the list is what the map shows
    monkeypatch.setattr(checkpoints, "COURSE_MODELS", tuple(m for m in checkpoints.COURSE_MODELS if m.repo_id != mem.VL))
    with pytest.raises(cm.CourseMapError, match="labkit.hub.checkpoints.COURSE_MODELS"):
        mem._arch(mem.VL)


def test_a_committed_gpu_record_shows_measured_peaks_beside_the_computed(tmp_path):
    """A record of the GPU workflow (tests/nbval_record.py's format): its peaks appear beside the computed GB."""
    record = tmp_path / "gpu_notebooks.json"
    record.write_text(json.dumps({"gpu": "NVIDIA L4", "device": "CUDA: NVIDIA L4 (22.0 GiB)", "versions": {},
                                  "notebooks": {
                                      "notebooks/02_generation_basics.ipynb": {"status": "ok", "peak_gpu_bytes": 7_654_321_000},
                                      "notebooks/06_lora_and_qlora.ipynb": {"status": "failed", "peak_gpu_bytes": 2_000_000_000},
                                      "solutions/04_thinking_mode_solution.ipynb": {"status": "ok", "peak_gpu_bytes": 9}}}))
    assert cm.measured_peaks(record) == {"02": "measured 7.65 GB on NVIDIA L4"}
    assert cm.measured_peaks(tmp_path / "none.json") == {}
    readme, plain = cm.render_readme(cm.TIMES, gpu_record=record), cm.render_readme(cm.TIMES, gpu_record=tmp_path / "x")
    row = next(line for line in readme.splitlines() if line.startswith("| 02 |"))
    assert "measured 7.65 GB on NVIDIA L4" in row and cm.fmt_gb(mem.hub_memory("02").total_gb) in row
    assert "GB on NVIDIA" not in plain and readme.count("measured 7.65 GB") == 1   # only 02: 05 failed
    assert "measured 7.65 GB on NVIDIA L4" in cm.render_guide(cm.TIMES, gpu_record=record)["gpu"]
    record.write_text("{}")
    with pytest.raises(cm.CourseMapError, match="GPU record"):
        cm.measured_peaks(record)


def test_a_note_of_a_time_entry_follows_the_run_times(tmp_path):
    def run_times(path: Path) -> str:
        return next(line for line in cm.render_readme(path).splitlines() if line.startswith("Run times:"))

    path = _times_copy(tmp_path, lambda e: e["notebooks/00_setup_and_hardware.ipynb"].update(note="timed elsewhere."))
    assert run_times(path).count(" 00: timed elsewhere.") == 1
    path = _times_copy(tmp_path, lambda e: [v.pop("note", None) for v in e.values()])
    assert run_times(path).endswith("They are machine time, not the time a learner needs.")


def _tiny_notebook(tmp_path: Path, *codes: str) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    install = '%pip install -q "qwen-labs[notebooks,engines] @ git+https://github.com/qwen-labs/qwen-labs"  # llamacpp'
    path = tmp_path / "09_x.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# 09 · X"), new_code_cell(install),
                                       *map(new_code_cell, codes), new_markdown_cell("llamacpp, onnxrt")]), path)
    return path


@pytest.mark.parametrize("codes, extras", [
    (("import labkit", "model, tok = labkit.load_model()"), ("colab",)),       # the install cell does not count
    (("from labkit import hub, llamacpp",), ("colab", "engines")),
    (("with serve.serve(\"llamacpp\", MODEL) as s:\n    pass",), ("colab", "engines")),
    (("from labkit import onnxrt",), ("colab", "engines")),
    (("import llama_cpp",), ("colab", "engines")),
    (("x = 'vllm'  # vLLM lives in .venv-vllm, not in an extra of the Colab install",), ("colab",)),
])
def test_colab_extras_follow_the_code_cells(tmp_path, codes, extras):
    assert cm.colab_extras(_tiny_notebook(tmp_path, *codes)) == extras


def test_notebook_08_installs_the_engines():
    assert cm.colab_extras(ROOT / "notebooks" / "09_runtimes_and_deployment.ipynb") == ("colab", "engines")
    assert cm.colab_extras(ROOT / "notebooks" / "04_thinking_mode.ipynb") == ("colab",)
