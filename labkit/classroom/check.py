"""The contract a class server must meet, checked line by line: ``python -m labkit.classroom check``.

Nine lines, each ``PASS`` or ``FAIL`` with the fix (and ``NOTE`` lines that fail nothing):

1. the URL answers (``GET /v1/models``);
2. the key is accepted (a 401/403 is named), and a NOTE when the server accepts *any* key;
3. the model is listed;
4. thinking comes back apart from the answer (a reasoning parser: ``message.reasoning``);
5. thinking can be switched off per request (``chat_template_kwargs``);
6. a tool call comes back parsed (``message.tool_calls`` with JSON arguments);
7. a JSON-schema response is enforced (``response_format={"type": "json_schema", ...}``): the schema asks for a
   field no model writes unprompted, so a server that accepts the field and ignores it fails;
8. the Responses API answers (``POST /v1/responses``: notebook 10's tool runner uses it);
9. a burst of as many requests as a learner may keep in flight is answered, none refused with 429.

:func:`run_check` returns the lines; :func:`main` prints them and exits 1 when any line fails.  Every request goes
through the official ``openai`` client (the learner's), raw HTTP only where a status code is the point.

Used by the command `python -m labkit.classroom`.
"""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import httpx

from labkit.classroom import endpoint
from labkit.errors import LabError
from labkit.serving.loadtest import load_test_async

QUESTION = "What is 12 + 30?"
TOOL_QUESTION = "What is 5215 × 1196?"
# A schema no model follows unless the server enforces it: a constant it cannot guess.
ENFORCED_SCHEMA = {"type": "object", "properties": {"sum": {"type": "integer"}, "checked_by": {"const": "qwen-labs"}},
                   "required": ["sum", "checked_by"], "additionalProperties": False}
VLLM_FLAGS = "--reasoning-parser qwen3 --enable-auto-tool-choice --tool-call-parser hermes"


@dataclass
class Line:
    name: str
    status: str        # "PASS", "FAIL" or "NOTE"
    detail: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.status:<4}  {self.name}: {self.detail}"
        return text + (f"\n      fix: {self.fix}" if self.fix and self.status != "PASS" else "")


def _thinking(on: bool) -> dict:
    return {"chat_template_kwargs": {"enable_thinking": on}}


def _reasoning(message: Any) -> str:
    extra = getattr(message, "model_extra", None) or {}
    return (getattr(message, "reasoning_content", None) or extra.get("reasoning_content")
            or extra.get("reasoning") or "")


def _status(exc: Exception) -> str:
    code = getattr(exc, "status_code", None)
    return f"HTTP {code}: {str(exc)[:160]}" if code else f"{type(exc).__name__}: {str(exc)[:160]}"


def _reachable(url: str, key: str) -> tuple[list[Line], list[str] | None]:
    try:
        status, models, text = endpoint.fetch_models(url, key)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return [Line("the URL answers", "FAIL", f"{url}: {type(exc).__name__}: {exc}",
                     f"check {endpoint.URL_VAR} (http://SERVER:PORT/v1), that the server runs and that this machine "
                     "can reach it (a firewall, a private address)")], None
    if status in (401, 403):
        return [Line("the URL answers", "PASS", f"{url} (HTTP {status})"),
                Line("the key is accepted", "FAIL", f"HTTP {status}: the server refused the key"
                     + ("" if key != endpoint.NO_KEY else f" (no key set: ${endpoint.KEY_VAR} is empty)"),
                     f"set {endpoint.KEY_VAR} to the learner's key (vLLM: the value of its --api-key; a proxy: the "
                     "learner's virtual key)")], None
    if status != 200:
        return [Line("the URL answers", "FAIL", f"GET {url}/models answered HTTP {status}: {text[:120]}",
                     f"{endpoint.URL_VAR} must be the OpenAI API address, ending in /v1")], None
    if models is None:
        return [Line("the URL answers", "FAIL", f"GET {url}/models answered HTTP 200 without an OpenAI model list: "
                     f"{text[:80]!r}", f"{endpoint.URL_VAR} must be the OpenAI API address, ending in /v1")], None
    lines = [Line("the URL answers", "PASS", f"{url} (GET /models: HTTP 200)"),
             Line("the key is accepted", "PASS", "HTTP 200 with this key")]
    try:
        open_door = endpoint.fetch_models(url, "qwen-labs-wrong-key")[0] == 200
    except httpx.HTTPError:
        open_door = False
    if open_door:
        lines.append(Line("keys are required", "NOTE", "the server also answered a wrong key: anyone who reaches it "
                          "can use it", "start vLLM with --api-key, or put a proxy with per-learner keys in front "
                          "(python -m labkit.classroom plan)"))
    return lines, models


def _one(name: str, fix: str, probe: Callable[[], tuple[bool, str]]) -> Line:
    try:
        ok, detail = probe()
    except Exception as exc:  # noqa: BLE001 (a refused request is the answer to the check)
        return Line(name, "FAIL", f"the request failed ({_status(exc)})", fix)
    return Line(name, "PASS" if ok else "FAIL", detail, fix)


def _capabilities(client, model: str, burst: int, timeout: float) -> list[Line]:
    from labkit.lessons import structured, tools

    ask = [{"role": "user", "content": QUESTION}]

    def reasoning_apart():
        msg = client.chat.completions.create(model=model, messages=ask, max_tokens=400, temperature=0,
                                             extra_body=_thinking(True)).choices[0].message
        content, thought = msg.content or "", _reasoning(msg)
        if "<think>" in content or "</think>" in content:
            return False, f"the thinking came back inside the answer: {content[:70]!r}"
        if not thought:
            return False, "no reasoning field came back with thinking on"
        return True, f"reasoning ({len(thought)} characters) apart from the answer {content.strip()[:40]!r}"

    def thinking_off():
        msg = client.chat.completions.create(model=model, messages=ask, max_tokens=60, temperature=0,
                                             extra_body=_thinking(False)).choices[0].message
        content, thought = msg.content or "", _reasoning(msg)
        if thought.strip() or "<think>" in content:
            return False, f"it still thought with enable_thinking=False: {(thought or content)[:70]!r}"
        return True, f"answer without thinking: {content.strip()[:50]!r}"

    def tool_call():
        msg = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": TOOL_QUESTION}], max_tokens=200, temperature=0,
            tools=[tools.calculator_schema()], extra_body=_thinking(False)).choices[0].message
        if msg.tool_calls:
            fn = msg.tool_calls[0].function
            args = json.loads(fn.arguments or "{}")
            return isinstance(args, dict), f"{fn.name}({json.dumps(args, ensure_ascii=False)}), id {msg.tool_calls[0].id}"
        if "<tool_call>" in (msg.content or ""):
            return False, f"the call came back as text, not parsed: {msg.content[:70]!r}"
        return False, f"no tool call came back (the model answered {str(msg.content)[:60]!r})"

    def json_schema():
        msg = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": QUESTION}], max_tokens=60, temperature=0,
            extra_body=_thinking(False),
            response_format={"type": "json_schema", "json_schema": {"name": "checked_sum", "schema": ENFORCED_SCHEMA}}
        ).choices[0].message
        is_json, conforms = structured.validate(msg.content or "", ENFORCED_SCHEMA)
        verdict = "follows the schema" if conforms else ("is JSON, not the schema's" if is_json else "is not JSON")
        return conforms, f"{(msg.content or '')[:60]!r} {verdict}"

    def responses_api():
        r = client.responses.create(model=model, input=QUESTION, max_output_tokens=300, temperature=0,
                                    extra_body={"stream": False})   # transformers serve streams unless told not to
        text = (r.output_text or "").strip()
        return bool(text), f"POST /responses: {[item.type for item in r.output]} {text[:40]!r}"

    def no_429():
        with ThreadPoolExecutor(1) as pool:   # its own event loop, also where one already runs (a notebook)
            return pool.submit(asyncio.run, _burst(str(client.base_url), client.api_key, model, burst, timeout)).result()

    return [
        _one("thinking comes back apart", f"start the server with a reasoning parser (vLLM: {VLLM_FLAGS.split(' --e')[0]})",
             reasoning_apart),
        _one("thinking can be switched off", "the server must pass chat_template_kwargs to the chat template per "
             "request (vLLM, SGLang and transformers serve do; llama.cpp's server only at start-up)", thinking_off),
        _one("a tool call comes back parsed", "start vLLM with --enable-auto-tool-choice --tool-call-parser hermes "
             "(Qwen3's JSON form; Qwen3.5's XML form: --tool-call-parser qwen3_coder)", tool_call),
        _one("a JSON-schema response is enforced", "use a server with structured outputs (vLLM has them on by "
             "default); transformers serve accepts response_format and ignores it", json_schema),
        _one("the Responses API answers", "serve POST /v1/responses (vLLM and transformers serve do; a proxy must "
             "forward it): notebook 10's tool runner uses it", responses_api),
        _one(f"a burst of {burst} is not rate-limited", f"allow each learner {burst} requests in flight (LiteLLM: "
             f"max_parallel_requests >= {burst} and an rpm_limit above it), or lower {endpoint.PARALLEL_VAR}", no_429),
    ]


async def _burst(url: str, key: str, model: str, n: int, timeout: float) -> tuple[bool, str]:
    """``n`` requests at once through notebook 08's load test (one client, ``n`` connections): all answered, none 429."""
    burst_client = endpoint.client(url, key, timeout=timeout, cap=n, asynchronous=True)
    async with burst_client:
        r = await load_test_async(url, model, n_clients=n, requests_per_client=1, timeout=timeout, max_tokens=8,
                                  client=burst_client, in_flight=n)
    refused = sum(e.startswith("RateLimitError") for e in r.errors)
    others = [e for e in r.errors if not e.startswith("RateLimitError")]
    detail = f"{r.ok}/{n} answered in {r.wall_s:.1f} s"
    if refused:
        detail += f", {refused} refused with 429"
    if others:
        detail += f", failed: {others[0]}"
    return r.ok == n, detail


def run_check(url: str | None = None, key: str | None = None, model: str | None = None, *, burst: int | None = None,
              timeout: float = 120.0) -> list[Line]:
    """Every line of the check against ``url`` (default ``$OPENAI_BASE_URL``) with ``key`` (``$OPENAI_API_KEY``)."""
    url = (url or endpoint.base_url()).rstrip("/")
    key = key or endpoint.api_key()
    burst = endpoint.max_parallel() if burst is None else burst
    if burst < 1:
        raise LabError(f"burst={burst} is not a positive number of requests.", "use --burst 1 or more.")
    lines, models = _reachable(url, key)
    if models is None:
        return lines
    model = model or endpoint.named_model() or (models[0] if models else "")
    if not model:
        return lines + [Line("the model is listed", "FAIL", "the server lists no model and none was named",
                             f"serve a model, or name the one it serves: {endpoint.MODEL_VAR} or --model")]
    listed = model in models
    lines.append(Line("the model is listed", "PASS" if listed else "FAIL",
                      f"{model!r} {'is' if listed else 'is not'} among {models or 'none (an empty list)'}",
                      f"serve {model} under that id and list it in GET /v1/models (vLLM: --served-model-name), "
                      f"or ask for a listed id ({endpoint.MODEL_VAR})"))
    with endpoint.client(url, key, timeout=timeout, cap=burst) as client:
        return lines + _capabilities(client, model, burst, timeout)


def report(lines: list[Line]) -> str:
    failed = sum(line.status == "FAIL" for line in lines)
    verdict = "the class server meets the course's contract" if not failed else f"{failed} line(s) failed"
    return "\n".join([*map(str, lines), f"=> {verdict}"])


def main(url: str | None = None, key: str | None = None, model: str | None = None, burst: int | None = None) -> int:
    try:
        lines = run_check(url, key, model, burst=burst)
    except LabError as exc:
        print(f"FAIL  {exc}")
        return 1
    print(report(lines))
    return 1 if any(line.status == "FAIL" for line in lines) else 0
