"""`bash run.sh lab`: JupyterLab for everyone, root included; it answers on the URL it prints and stops cleanly.

The test runs as this machine's user.  Where that is root (containers, CI) it proves `--allow-root`:
JupyterLab refuses to start as root without it.  No display is set, so `--no-browser` must be there.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from labkit.serving.procs import stop_process_group

pytestmark = pytest.mark.serving

ROOT = Path(__file__).resolve().parents[2]
URL = re.compile(r"^JupyterLab: (http://localhost:(\d+)/lab\?token=(\w+))$")


def _get(url: str, token: str, method: str = "GET", body: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"},
                                 data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read().decode()


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    left = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(p)
        except psutil.Error:
            pass
    return left


def check_lab(root: Path, runtime: Path) -> None:
    """Start ``root/run.sh lab``, use it, stop it; assert what a learner relies on."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "JUPYTER_TOKEN", "QWEN_LABS_PROFILE")}   # auto, as a learner
    env["JUPYTER_RUNTIME_DIR"] = str(runtime)  # its server and kernel files, removed on a clean stop
    proc = subprocess.Popen(["bash", str(root / "run.sh"), "lab"], cwd=root, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    started: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 300  # run.sh may first check the install
        match = None
        while match is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            match = URL.match(line.strip())
        assert match, "run.sh lab printed no URL:\n" + "\n".join(lines[-30:])
        url, port, token = match.groups()
        while not lines[-1].lstrip().startswith("profile:") and len(lines) < 400:   # the notebooks' profile, and why
            lines.append(proc.stdout.readline().rstrip())
        profile = lines[-1].strip()
        import torch
        if not torch.cuda.is_available():   # a CPU machine: auto runs the nano model and says how to choose hub
            assert profile.startswith("profile: offline (auto: no CUDA GPU here") and "QWEN_LABS_PROFILE=hub" in profile
        status, page = None, ""
        while time.monotonic() < deadline:
            try:
                status, page = _get(url, token)
                break
            except OSError:
                assert proc.poll() is None, "jupyter lab exited:\n" + "\n".join(lines + proc.stdout.readlines())
                time.sleep(1)
        assert status == 200 and "JupyterLab" in page, (status, page[:300])
        args = psutil.Process(proc.pid).cmdline()  # run.sh exec'd jupyter lab: same pid
        assert "--no-browser" in args
        assert ("--allow-root" in args) == (os.geteuid() == 0)
        assert token not in " ".join(args), "the token is visible in the process list"
        # a kernel, so that a clean stop has something to clean up
        status, body = _get(f"http://localhost:{port}/api/kernels", token, "POST", {"name": "python3"})
        assert status == 201, body
        kernel = json.loads(body)["id"]
        while time.monotonic() < deadline and not list(runtime.glob(f"kernel-{kernel}*.json")):
            time.sleep(0.5)
        server = psutil.Process(proc.pid)
        started = [server, *server.children(recursive=True)]  # the kernel has its own session
        assert len(started) >= 2, "no kernel process under the server"
    finally:
        code = stop_process_group(proc, timeout=30)  # SIGTERM to the group; SIGKILL only after 30 s
        rest = proc.stdout.read()
        proc.stdout.close()
    assert code in (0, -15, 143), f"jupyter lab did not stop on SIGTERM (exit {code}):\n{rest[-2000:]}"
    time.sleep(1)
    left = _alive(started)
    assert not left, f"left behind: {[p.cmdline() for p in left]}"
    assert not list(runtime.glob("jpserver-*.json")) and not list(runtime.glob("kernel-*.json")), \
        f"server or kernel files left in {runtime}: {list(runtime.iterdir())}"


def test_run_sh_lab_answers_on_its_url_and_stops_cleanly(tmp_path):
    check_lab(ROOT, tmp_path / "runtime")
