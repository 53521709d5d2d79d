"""``python -m llama_cpp.server`` with one fix: a malformed request gets a 4xx, not a 500.

llama-cpp-python 0.3.36 wraps every route in ``RouteErrorHandler``, whose error path
calls ``await request.json()`` again: for a broken body that raises a second time and
the client sees ``500 Internal Server Error``.  Here such a request goes to FastAPI's
own handler instead, which answers ``422`` with the position of the error, as
``transformers serve`` and vLLM do.  A chat request without messages (which the server
accepts and then fails on, with a 500) gets a 422 too.  Everything else is llama-cpp-python's server,
with its own command line (``--model``, ``--n_threads``, ``--chat_template_kwargs`` ...).
"""
from __future__ import annotations

import json
import runpy

from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from llama_cpp.server import errors

_llama_route_handler = errors.RouteErrorHandler.get_route_handler


def _get_route_handler(self):
    llama_handler = _llama_route_handler(self)
    fastapi_handler = APIRoute.get_route_handler(self)

    async def handler(request):
        body = await request.body()
        try:
            data = json.loads(body) if body else None
        except ValueError:  # FastAPI raises RequestValidationError: its 422 handler answers
            return await fastapi_handler(request)
        if request.url.path.endswith("/chat/completions") and not (isinstance(data, dict) and data.get("messages")):
            return JSONResponse({"error": {"message": "'messages' must be a non-empty list",
                                           "type": "invalid_request_error"}}, status_code=422)
        return await llama_handler(request)

    return handler


errors.RouteErrorHandler.get_route_handler = _get_route_handler

if __name__ == "__main__":
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
