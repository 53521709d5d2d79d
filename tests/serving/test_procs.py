"""labkit.serving.procs: free ports, process groups that stop whole, the parent-death watch, log tails, GET."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psutil
import pytest

from labkit.serving import procs

SLEEP = [sys.executable, "-c", "import time; time.sleep(600)"]


def gone(pid: int, within: float = 10.0) -> bool:
    """True once ``pid`` no longer runs (exited, or a zombie waiting for its parent)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_free_port_can_be_bound():
    port = procs.free_port()
    assert 0 < port < 65536
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((procs.HOST, port))


def test_spawn_logs_and_stop_ends_the_whole_group(tmp_path):
    log = tmp_path / "out.log"
    script = ("import subprocess, sys, time\n"
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
              "print('child', child.pid, flush=True)\n"
              "time.sleep(600)\n")
    p = procs.spawn([sys.executable, "-c", script], log, env={"LABKIT_TEST": "1"})
    try:
        deadline = time.monotonic() + 20
        while "child" not in procs.log_tail(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(procs.log_tail(log, 1).split()[1])
        assert psutil.Process(p.pid).environ().get("LABKIT_TEST") == "1"
        assert procs.stop_process_group(p, timeout=10) == -15  # SIGTERM
        assert gone(child), "the child in the process group outlived stop_process_group"
    finally:
        if p.poll() is None:
            p.kill()


def test_stop_falls_back_to_sigkill(tmp_path):
    ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(600)"
    log = tmp_path / "out.log"
    p = procs.spawn([sys.executable, "-c", ignore], log)
    deadline = time.monotonic() + 20
    while "ready" not in procs.log_tail(log) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert procs.stop_process_group(p, timeout=0.5) == -9
    assert procs.stop_process_group(p) == -9  # stopping twice is harmless


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_a_spawned_process_dies_with_its_parent(tmp_path):
    # a parent that spawns a sleeper (in its own session: killing the parent's group cannot reach it),
    # prints its pid and is then killed: the parent-death watch must end the sleeper
    parent_script = (f"import importlib.util, sys, time\n"
                     f"spec = importlib.util.spec_from_file_location('procs', {procs.__file__!r})\n"
                     f"procs = importlib.util.module_from_spec(spec); spec.loader.exec_module(procs)\n"
                     f"p = procs.spawn({SLEEP!r}, {str(tmp_path / 'child.log')!r})\n"
                     f"print(p.pid, flush=True)\n"
                     f"time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", parent_script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 20  # wait until the watch has exec'ed the sleeper
        while "prctl" in " ".join(psutil.Process(child).cmdline()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert psutil.Process(child).cmdline()[-1] == SLEEP[-1]
        parent.kill()
        parent.wait(10)
        assert gone(child), "the spawned process outlived its parent"
    finally:
        parent.kill()
        if psutil.pid_exists(child):
            psutil.Process(child).kill()


def test_with_parent_watch_keeps_the_command():
    cmd = ["echo", "a b"]
    wrapped = procs.with_parent_watch(cmd)
    assert wrapped[-2:] == cmd
    assert subprocess.run(wrapped, capture_output=True, text=True, timeout=30).stdout == "a b\n"


def test_log_tail(tmp_path):
    log = tmp_path / "log"
    log.write_text("".join(f"line {i}\n" for i in range(50)))
    assert procs.log_tail(log, 2) == "line 48\nline 49"
    assert procs.log_tail(tmp_path / "missing") == ""


def test_http_get():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = self.path.encode()
            self.send_response(200 if self.path == "/ok" else 404)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer((procs.HOST, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://{procs.HOST}:{server.server_address[1]}"
        assert procs.http_get(url + "/ok") == (200, "/ok")
        assert procs.http_get(url + "/nope")[0] == 404
    finally:
        server.shutdown()
        server.server_close()

