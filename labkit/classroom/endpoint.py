"""The class server as a learner's kernel sees it: ``$OPENAI_BASE_URL``, ``$OPENAI_API_KEY``, a model id, a cap.

Under ``QWEN_LABS_PROFILE=class`` (:mod:`labkit.profile`) the lessons that go through a chat API talk to one
OpenAI-compatible server that the instructor runs (vLLM, or a proxy in front of it), with the standard variables
the ``openai`` client itself reads:

* ``OPENAI_BASE_URL``: the server's address, ending in ``/v1`` (required);
* ``OPENAI_API_KEY``: the learner's key (``EMPTY`` when the server checks none);
* ``QWEN_LABS_CLASS_MODEL``: the model id to ask for; without it, the first model ``GET /v1/models`` lists;
* ``QWEN_LABS_MAX_PARALLEL``: how many requests one of labkit's class clients keeps in flight at once (default
  :data:`DEFAULT_MAX_PARALLEL`).  The cap is httpx's connection pool (``httpx.Limits(max_connections=N)``, the
  ``openai`` client's own transport): request N+1 waits for a free connection instead of reaching the server, so 30
  learners' 32-request load tests reach the server as at most 30 x N requests at once.  It caps each client that
  labkit makes (the load test's, :meth:`ClassServer.client`'s); a per-key limit at the proxy
  (``max_parallel_requests``) is what holds a whole kernel to it.

:func:`serve_class` returns a :class:`ClassServer`, the handle :func:`labkit.serving.serve.lesson_server` gives
under the class profile in place of a local server: the same ``base_url``, ``model``, ``client()`` and ``with``
block; stopping it stops nothing (the class server keeps running).

Notebooks 08 and 10 reach it through :func:`labkit.serving.serve.lesson_server`.

Used by labkit.classroom.check, labkit.classroom.plan, labkit.classroom.simulate, labkit.notebook, labkit.profile, labkit.serving.loadtest, labkit.serving.serve, labkit.serving.servers.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.errors import LabError

URL_VAR, KEY_VAR, MODEL_VAR, PARALLEL_VAR = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "QWEN_LABS_CLASS_MODEL",
                                             "QWEN_LABS_MAX_PARALLEL")
DEFAULT_MAX_PARALLEL = 4
NO_KEY = "EMPTY"   # what a server without keys accepts (any string works there)


POOL_WAIT_S = 600.0   # how long a request waits for a free slot under the cap before it fails


def base_url() -> str:
    """``$OPENAI_BASE_URL`` without a trailing slash, or a :class:`LabError` saying what to set."""
    url = os.environ.get(URL_VAR, "").strip().rstrip("/")
    if not url:
        raise LabError(f"the class profile needs the class server's address in ${URL_VAR}.",
                       f"export {URL_VAR}=http://SERVER:PORT/v1 (your instructor gives it; with a key, also "
                       f"{KEY_VAR}), or choose another profile: QWEN_LABS_PROFILE=offline.")
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise LabError(f"{URL_VAR}={url!r} is not a URL ({exc}).",
                       f"export {URL_VAR}=http://HOST:8000/v1 with your class server's host and port") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise LabError(f"{URL_VAR}={url!r} is not an http(s) URL.",
                       f"export {URL_VAR}=http://HOST:8000/v1 with your class server's host and port")
    return url


def api_key() -> str:
    """``$OPENAI_API_KEY``, or ``EMPTY`` when none is set (a server without keys accepts any)."""
    return os.environ.get(KEY_VAR, "").strip() or NO_KEY


def max_parallel() -> int:
    """``$QWEN_LABS_MAX_PARALLEL`` (default :data:`DEFAULT_MAX_PARALLEL`): requests in flight per kernel."""
    raw = os.environ.get(PARALLEL_VAR, "").strip()
    try:
        value = int(raw) if raw else DEFAULT_MAX_PARALLEL
    except ValueError:
        value = 0
    if value < 1:
        raise LabError(f"{PARALLEL_VAR}={raw!r} is not a positive integer.", f"export {PARALLEL_VAR}=4")
    return value


def is_class_url(url: str) -> bool:
    """True when ``url`` is the class server's: ``$OPENAI_BASE_URL`` is set, and ``url`` has its scheme, host and
    port and a path under its path."""
    import httpx

    mine = os.environ.get(URL_VAR, "").strip().rstrip("/")
    if not mine:
        return False
    try:
        a, b = httpx.URL(mine), httpx.URL(str(url).rstrip("/"))
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    return ((a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)
            and (b.path + "/").startswith(a.path.rstrip("/") + "/"))


def client(url: str | None = None, key: str | None = None, *, timeout: float = 120.0, max_retries: int = 0,
           asynchronous: bool = False, cap: int | None = None):
    """The official ``openai`` client for the class server, at most ``cap`` requests in flight
    (default :func:`max_parallel`); a request over the cap waits for a free connection, up to
    :data:`POOL_WAIT_S` (an open stream holds its connection until it is read to the end or closed)."""
    import httpx
    from openai import AsyncOpenAI, DefaultAsyncHttpxClient, DefaultHttpxClient, OpenAI

    cap = cap or max_parallel()
    limits = httpx.Limits(max_connections=cap, max_keepalive_connections=cap)
    http = (DefaultAsyncHttpxClient if asynchronous else DefaultHttpxClient)(limits=limits)
    cls = AsyncOpenAI if asynchronous else OpenAI
    return cls(base_url=url or base_url(), api_key=key or api_key(), max_retries=max_retries,
               timeout=httpx.Timeout(timeout, pool=POOL_WAIT_S), http_client=http)


def fetch_models(url: str, key: str, timeout: float = 15.0) -> tuple[int, list[str] | None, str]:
    """``GET {url}/models`` with ``key``: ``(HTTP status, the listed ids or None when the answer is not an OpenAI
    model list, the answer's text)``.  A server that does not answer raises ``httpx.HTTPError``/``InvalidURL``."""
    import httpx

    r = httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {key}"}, timeout=timeout)
    try:
        ids = [m["id"] for m in r.json()["data"]] if r.status_code == 200 else None
    except (ValueError, KeyError, TypeError, AttributeError):
        ids = None
    return r.status_code, ids, r.text


def listed_models(url: str | None = None, key: str | None = None, timeout: float = 15.0) -> list[str]:
    """The ids ``GET /v1/models`` lists (a :class:`LabError` that names the cause when it cannot)."""
    import httpx

    url = url or base_url()
    try:
        status, ids, text = fetch_models(url, key or api_key(), timeout)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise LabError(f"the class server {url} does not answer ({type(exc).__name__}: {exc}).",
                       "check the address with your instructor; the server must be running and reachable.") from None
    if status in (401, 403):
        raise LabError(f"the class server refused the key (HTTP {status}).",
                       f"set {KEY_VAR} to the key your instructor gave you.")
    if ids is None:
        raise LabError(f"GET {url}/models answered HTTP {status} without an OpenAI model list: {text[:120]!r}",
                       f"{URL_VAR} must be the server's OpenAI API address, ending in /v1.")
    return ids


def named_model() -> str:
    """``$QWEN_LABS_CLASS_MODEL`` ("" when unset)."""
    return os.environ.get(MODEL_VAR, "").strip()


def model_id(url: str | None = None, key: str | None = None) -> str:
    """``$QWEN_LABS_CLASS_MODEL``, else the first model the server lists.  The server is asked in both cases, so a
    server that does not answer, or refuses the key, is named here."""
    listed = listed_models(url, key)
    model = named_model() or (listed[0] if listed else "")
    if not model:
        raise LabError("the class server lists no model.", f"set {MODEL_VAR} to the model id your instructor gave.")
    return model


@dataclass
class ClassServer:
    """The class server in place of a local one: what :class:`labkit.serving.servers.ServerHandle` offers a
    notebook (``base_url``, ``model``, ``client()``, ``with``), with nothing to start or stop."""

    base_url: str
    model: str
    api_key: str = NO_KEY
    cap: int = DEFAULT_MAX_PARALLEL
    startup_s: float = 0.0

    @property
    def url(self) -> str:
        return self.base_url.removesuffix("/v1")

    @property
    def command(self) -> list[str]:
        """What stands where a local server's command line would be."""
        return ["(class server)", "", self.base_url, "--model", self.model]

    @property
    def log_path(self) -> Path | None:
        return None

    def client(self, *, timeout: float = 120.0, max_retries: int = 0, asynchronous: bool = False):
        return client(self.base_url, self.api_key, timeout=timeout, max_retries=max_retries,
                      asynchronous=asynchronous, cap=self.cap)

    def healthy(self, timeout: float = 5.0) -> bool:
        try:
            return self.model in listed_models(self.base_url, self.api_key, timeout)
        except LabError:
            return False

    def alive(self) -> bool:
        """True while the class server answers HTTP at all (stopping this handle does not stop it)."""
        import httpx

        try:
            fetch_models(self.base_url, self.api_key, timeout=5)
            return True
        except (httpx.HTTPError, httpx.InvalidURL):
            return False

    def logs(self, lines: int = 20) -> str:
        return "(the class server's log is on the instructor's machine)"

    def stop(self, timeout: float = 0.0) -> None:
        """Nothing to stop: the shared server keeps running for the class."""

    def __enter__(self) -> "ClassServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve_class() -> ClassServer:
    """The class server as a handle, after ``GET /v1/models`` has shown that it answers and takes the key
    (:func:`model_id`)."""
    url, key = base_url(), api_key()
    return ClassServer(url, model_id(url, key), key, max_parallel())
