"""labkit.serving.llamacpp_server: llama-cpp-python's error handler answers 4xx for the request's own faults.

Run on a small FastAPI app that uses llama-cpp-python's own ``RouteErrorHandler`` (no model needed);
``tests/serving/test_engines.py`` sends the same requests to the real server.
"""
from __future__ import annotations

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: `bash run.sh engines`")

from typing import Literal  # noqa: E402

from fastapi import APIRouter, FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from llama_cpp.server import errors  # noqa: E402
from pydantic import BaseModel  # noqa: E402

import labkit.serving.llamacpp_server  # noqa: E402,F401  (patches RouteErrorHandler)


class Format(BaseModel):
    type: Literal["text", "json_object"]


class Body(BaseModel):
    messages: list[dict]
    response_format: Format | None = None


@pytest.fixture(scope="module")
def client():
    router = APIRouter(route_class=errors.RouteErrorHandler)

    @router.post("/v1/chat/completions")
    async def chat(body: Body):
        if body.messages[0].get("content") == "boom":
            raise RuntimeError("the model failed")
        return {"ok": True}

    app = FastAPI()
    app.include_router(router)
    return TestClient(app, raise_server_exceptions=False)


def test_a_field_of_the_wrong_shape_is_a_422_naming_the_field(client):
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}],
                                                  "response_format": {"type": "json_schema", "json_schema": {}}})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and "response_format.type" in err["message"], err


def test_broken_json_and_missing_messages_are_422(client):
    assert client.post("/v1/chat/completions", content=b'{"messages": [',
                       headers={"content-type": "application/json"}).status_code == 422
    assert client.post("/v1/chat/completions", json={"model": "x"}).status_code == 422


def test_a_valid_request_and_a_server_fault_are_unchanged(client):
    assert client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}).json() == {
        "ok": True}
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "boom"}]})
    assert r.status_code == 500 and "the model failed" in r.json()["error"]["message"]
