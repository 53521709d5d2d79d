"""JupyterLab as a child process for the browser test: a temporary root, its own settings, a clean stop.

* :func:`make_root`: a served root in a temporary folder: copies of the notebooks (in their folders) and links
  to the repository's other folders, so the committed notebooks never get outputs.
* :class:`LabServer` starts JupyterLab on a free localhost port with a token, ``--expose-app-in-browser``
  (``window.jupyterapp``), autosave off and its own settings, workspaces, config and runtime folders, through
  :func:`labkit.serving.procs.spawn` (its own process group, its log in a file).  It always stops the server and
  every kernel (and what the kernels started).

Used by ``tools/browser_check.py`` and ``tests/notebooks/test_browser.py``.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from labkit.serving.procs import free_port, log_tail, spawn, stop_process_group

ROOT = Path(__file__).resolve().parents[1]
# Repository folders a served notebook may reach by a relative path (../labkit, ../bench, ...).
LINKED = ("labkit", "bench", "docs", "build", "tools", "exercises", "solutions", "pyproject.toml")
SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    # every cell stays in the DOM, so the DOM of cell i can be read next to its model
    # (and each cell's execution times are recorded in its metadata)
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none", "recordTiming": True},
    # no news / update toasts (and no network calls for them)
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"checkForUpdates": False,
                                                                         "fetchNews": "false"},
}


def make_root(tmp: Path, notebooks: list[Path]) -> Path:
    """A served root in ``tmp``: copies of ``notebooks`` (in their folders) and links to the repo's folders."""
    root = tmp / "root"
    root.mkdir(parents=True, exist_ok=True)
    for nb in notebooks:
        dest = root / nb.parent.name / nb.name
        dest.parent.mkdir(exist_ok=True)
        shutil.copy2(nb, dest)
    for name in LINKED:
        if (ROOT / name).exists() and not (root / name).exists():
            (root / name).symlink_to(ROOT / name)
    return root


def descendants(pid: int) -> list:
    """Every process below ``pid`` (kernels run in sessions of their own: not in the server's process group)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def kill_all(procs: list, grace: float = 10.0) -> None:
    """SIGTERM to ``procs``, SIGKILL to those still alive after ``grace`` s."""
    for p in procs:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)


class LabServer:
    """JupyterLab on ``127.0.0.1:<free port>`` serving ``root``; a context manager that always stops it."""

    def __init__(self, root: Path, tmp: Path, env: dict[str, str] | None = None, startup_timeout: float = 180):
        self.root, self.tmp = Path(root), Path(tmp)
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.log_path = self.tmp / "jupyter-server.log"
        self.extra_env = env or {}
        self.proc = None   # the server's process (subprocess.Popen) while it runs

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("config", "data", "runtime"):  # no user-level Jupyter settings or kernels leak in
            (self.tmp / f"jupyter-{name}").mkdir(parents=True, exist_ok=True)
        env.update(JUPYTER_CONFIG_DIR=str(self.tmp / "jupyter-config"),
                   JUPYTER_DATA_DIR=str(self.tmp / "jupyter-data"),
                   JUPYTER_RUNTIME_DIR=str(self.tmp / "jupyter-runtime"),
                   JUPYTER_PREFER_ENV_PATH="1", JUPYTER_PLATFORM_DIRS="1",
                   QWEN_LABS_PROFILE="offline", PYTHONUNBUFFERED="1")
        env["JUPYTER_PATH"] = ""   # no extra kernel or extension folders (an empty value is ignored by jupyter_core)
        # no "build needed?" check on each page load (it runs node): the prebuilt lab is what we test
        labconfig = self.tmp / "jupyter-config" / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        (labconfig / "page_config.json").write_text(json.dumps({"buildCheck": False, "buildAvailable": False}))
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        settings, workspaces = self.tmp / "user-settings", self.tmp / "workspaces"
        for rel, value in SETTINGS.items():
            path = settings / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        workspaces.mkdir(parents=True, exist_ok=True)
        # sys.executable: the kernel spec "python3" says "python", which jupyter_client replaces by
        # the server's interpreter, so the kernels run this very (.venv) python.
        return [sys.executable, "-m", "jupyterlab", "--no-browser", "--expose-app-in-browser",
                "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
                f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={workspaces}",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.extension_manager=readonly",  # no PyPI queries
                "--ServerApp.shutdown_no_activity_timeout=1800",  # insurance if this process is killed
                *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])]

    def start(self) -> "LabServer":
        self.proc = spawn(self.command(), self.log_path, env=self._environment(), cwd=self.root)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("status")
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer within {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def api(self, path: str, method: str = "GET") -> object:
        req = urllib.request.Request(f"{self.base_url}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def url(self, path: str) -> str:
        return f"{self.base_url}/lab/tree/{path}?reset&token={self.token}"

    def kernel_process(self, kernel_id: str):
        """The process of kernel ``kernel_id`` (a child of the server), or None."""
        if self.proc is None:
            return None
        for p in descendants(self.proc.pid):
            try:
                if any(kernel_id in arg for arg in p.cmdline()):
                    return p
            except Exception:  # noqa: BLE001 (gone meanwhile)
                continue
        return None

    def log_tail(self, n: int = 40) -> str:
        return log_tail(self.log_path, n)

    def stop(self) -> None:
        """SIGTERM (the server shuts its kernels down), then kill whatever is left, kernels included."""
        if self.proc is None:
            return
        left = descendants(self.proc.pid)  # kernels run in their own sessions: not in our process group
        stop_process_group(self.proc, timeout=20, kill_timeout=10)
        kill_all([p for p in left if p.is_running()], grace=5)
        self.proc = None

    def __enter__(self) -> "LabServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


