"""Child processes that never outlive their purpose: a free port, a process group, a log, a clean stop.

Not a lesson: the plumbing under :mod:`labkit.serving.servers` (model servers) and the
browser test's JupyterLab (``tools/browser_check.py``).

* :func:`free_port`: a TCP port nobody listens on right now.
* :func:`spawn`: start a command in its own process group, output to a log file,
  and (on Linux) have it receive SIGTERM when the starting process dies, so a
  crashed notebook kernel cannot leave a server behind.
* :func:`stop_process_group`: SIGTERM to the whole group, SIGKILL if it lingers.
* :func:`log_tail`: the last lines of a log (for error messages).
* :func:`http_get`: ``(status, text)`` of one GET, for health checks.

Used by labkit.serving.servers.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Sequence

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# Runs the command after asking Linux to SIGTERM it when its parent dies (PR_SET_PDEATHSIG = 1).
# (preexec_fn would do the same but is unsafe in a process with threads, such as a Jupyter kernel.)
_PDEATHSIG_EXEC = ("import ctypes, os, signal, sys\n"
                   "try:\n"
                   "    ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)\n"
                   "except OSError:\n"
                   "    pass\n"
                   "if os.getppid() == 1:\n"
                   "    sys.exit('parent already gone')\n"
                   "os.execvp(sys.argv[1], sys.argv[1:])\n")


def with_parent_watch(cmd: Sequence[str]) -> list[str]:
    """``cmd`` wrapped so that, on Linux, it gets SIGTERM when the process that started it dies.

    The wrapper ``exec``s the command, so it keeps the same pid; elsewhere ``cmd`` is returned as is.
    """
    if sys.platform.startswith("linux"):
        return [sys.executable, "-c", _PDEATHSIG_EXEC, *cmd]
    return list(cmd)


def spawn(cmd: Sequence[str], log_path: str | Path, *, env: dict[str, str] | None = None,
          cwd: str | Path | None = None, parent_watch: bool = True) -> subprocess.Popen:
    """Start ``cmd`` in a new session (its own process group) with stdout and stderr in ``log_path``.

    ``env`` is added to this process's environment.  Stop it with :func:`stop_process_group`.
    """
    full_env = {**os.environ, **(env or {})}
    with open(log_path, "wb") as log:
        return subprocess.Popen(with_parent_watch(cmd) if parent_watch else list(cmd), stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env, cwd=cwd,
                                start_new_session=True)


def stop_process_group(process: subprocess.Popen, timeout: float = 10.0, kill_timeout: float = 5.0) -> int | None:
    """End ``process`` and its process group (started with ``start_new_session=True``): SIGTERM, then
    SIGKILL after ``timeout`` s; return its exit code."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(kill_timeout)
    return process.returncode


def log_tail(path: str | Path, lines: int = 20) -> str:
    """The last ``lines`` lines of the text file ``path`` ('' if it cannot be read)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    """``(status code, response text)`` of ``GET url``; connection errors raise (``httpx``'s)."""
    import httpx

    r = httpx.get(url, timeout=timeout)
    return r.status_code, r.text
