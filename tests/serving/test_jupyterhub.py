"""A JupyterHub smoke test of the class profile (tier `serving`): three learners, one notebook each, one server.

A real JupyterHub (DummyAuthenticator, SimpleLocalProcessSpawner, configurable-http-proxy from npm) configured with
the JupyterHub file that ``python -m labkit.classroom plan`` prints (its ``KEYS`` map and ``c.Spawner.environment``
with a key per learner), pointed at a fake class server that accepts exactly the three learners' keys.  Each
learner's single-user server runs notebook 00 cell by cell in its own kernel (over the Jupyter server's kernel
websocket, as JupyterLab does), then one chat request through ``serve.lesson_server``: the banner must name the class
server, and the reply must come back with that learner's key.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import nbformat
import pytest
from fake_server import FakeEngine

from labkit.classroom import plan
from labkit.serving import servers
from labkit.serving.procs import free_port, stop_process_group

pytestmark = pytest.mark.serving

ROOT = Path(__file__).resolve().parents[2]
CHP = ROOT / "build" / "tools" / "node_modules" / ".bin" / "configurable-http-proxy"
LEARNERS = ("alice", "bob", "carol")
NOTEBOOK = ROOT / "notebooks" / "00_setup_and_hardware.ipynb"


def _hub_config(tmp: Path, port: int, token: str, server_url: str) -> Path:
    keys_file = tmp / "keys.txt"
    keys_file.write_text("".join(f"{u} key-{u}\n" for u in LEARNERS))
    c = plan.capacity("Qwen/Qwen3-0.6B", "L4", len(LEARNERS))
    tljh_file = plan.tljh_file(c, "127.0.0.1", str(keys_file))
    config = tmp / "jupyterhub_config.py"
    config.write_text(f"""
import sys
c.JupyterHub.ip, c.JupyterHub.port, c.JupyterHub.hub_port = "127.0.0.1", {port}, {free_port()}
c.ConfigurableHTTPProxy.command = [{str(CHP)!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.JupyterHub.db_url = "sqlite:///{tmp}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{tmp}/cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{tmp}/home/{{username}}"
c.Spawner.cmd = [{str(Path(sys.executable).with_name("jupyterhub-singleuser"))!r}]
c.Spawner.args = ["--ServerApp.allow_root=True"]
c.Spawner.http_timeout = 120
c.JupyterHub.services = [{{"name": "smoke", "api_token": "{token}"}}]
c.JupyterHub.load_roles = [{{"name": "smoke", "services": ["smoke"],
                             "scopes": ["admin:users", "admin:servers", "access:servers", "list:users"]}}]
# --- the file `python -m labkit.classroom plan` prints, as is:
{tljh_file}
# --- this test's class server in place of the plan's proxy address
c.Spawner.environment.update({{"OPENAI_BASE_URL": "{server_url}", "HF_HUB_CACHE": "{tmp}/hf-cache",
                              "OMP_NUM_THREADS": "1"}})
""")
    return config


async def _run_cells(url: str, token: str, cells: list[str]) -> list[tuple[str, str]]:
    """Run ``cells`` in a new kernel of the single-user server at ``url``: ``(output text, error)`` per cell."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    headers = {"Authorization": f"token {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        kernel = (await http.post(f"{url}/api/kernels", json={"name": "python3"})).raise_for_status().json()
    ws = await websocket_connect(HTTPRequest(f"{url.replace('http', 'ws', 1)}/api/kernels/{kernel['id']}/channels",
                                             headers=headers))
    session, results = uuid.uuid4().hex, []
    try:
        for code in cells:
            msg_id = uuid.uuid4().hex
            await ws.write_message(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session, "username": "smoke",
                           "version": "5.3", "date": ""},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True}}))
            text, error, idle = [], "", False
            while not idle:
                raw = await asyncio.wait_for(ws.read_message(), timeout=180)
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    text.append(content["text"])
                elif kind in ("execute_result", "display_data"):
                    text.append(content["data"].get("text/plain", ""))
                elif kind == "error":
                    error = f"{content['ename']}: {content['evalue']}"
                idle = kind == "status" and content["execution_state"] == "idle"
            results.append(("".join(text), error))
            if error:
                break
    finally:
        ws.close()
    return results


def test_three_learners_run_a_notebook_on_one_class_server(tmp_path):
    if not CHP.exists():
        pytest.fail(f"configurable-http-proxy is missing ({CHP}): `bash run.sh test` installs it with npm")
    token, port = secrets.token_hex(16), free_port()
    keys = ",".join(f"key-{u}" for u in LEARNERS)
    with servers.start(FakeEngine(("--api-key", keys, "--echo-key")), "class-model", warmup=False) as server:
        config = _hub_config(tmp_path, port, token, server.base_url)
        log = open(tmp_path / "hub.log", "wb")
        hub = subprocess.Popen([str(Path(sys.executable).with_name("jupyterhub")), "-f", str(config)], cwd=tmp_path,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               env={**os.environ, "QWEN_LABS_PROFILE": "offline"})
        base, api = f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"}
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{base}/hub/api/", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert hub.poll() is None and time.monotonic() < deadline, (tmp_path / "hub.log").read_text()[-3000:]
                time.sleep(0.5)
            for user in LEARNERS:
                httpx.post(f"{base}/hub/api/users/{user}", headers=api).raise_for_status()
                httpx.post(f"{base}/hub/api/users/{user}/server", headers=api, timeout=120).raise_for_status()
            deadline = time.monotonic() + 120
            while not all(httpx.get(f"{base}/hub/api/users/{u}", headers=api).json().get("servers", {}).get("", {})
                          .get("ready") for u in LEARNERS):
                assert time.monotonic() < deadline, (tmp_path / "hub.log").read_text()[-3000:]
                time.sleep(0.5)
            nb = nbformat.read(NOTEBOOK, as_version=4)
            cells = ["".join(c.source) for c in nb.cells if c.cell_type == "code"]
            cells.append('import os\nfrom labkit.serving import serve\nh = serve.lesson_server("transformers")\n'
                         'r = h.client().chat.completions.create(model=h.model, messages=[{"role": "user", '
                         '"content": "hello from " + os.environ["JUPYTERHUB_USER"]}])\nprint(r.choices[0].message.content)')

            async def everyone():
                return await asyncio.gather(*[_run_cells(f"{base}/user/{u}", token, cells) for u in LEARNERS])

            runs = asyncio.run(everyone())
        finally:
            stop_process_group(hub, 15)
            log.close()
    for user, results in zip(LEARNERS, runs):
        failed = [(i, e) for i, (_, e) in enumerate(results) if e]
        assert not failed and len(results) == len(cells), f"{user}: cell {failed}"
        text = "".join(t for t, _ in results)
        assert "profile: class" in text and f"class server: {server.base_url}" in text and "a key" in text, user
        assert results[-1][0].strip() == f"echo [key-{user}]: hello from {user}", results[-1]   # this learner's key
