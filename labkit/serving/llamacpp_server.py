"""``python -m llama_cpp.server`` with one fix: a malformed request gets a 4xx, not a 500.

llama-cpp-python 0.3.36 wraps every route in ``RouteErrorHandler``, whose error path
calls ``await request.json()`` again: for a broken body that raises a second time and
the client sees ``500 Internal Server Error``.  Here such a request goes to FastAPI's
own handler instead, which answers ``422`` with the position of the error, as
``transformers serve`` and vLLM do.  A chat request without messages (which the server
accepts and then fails on, with a 500) gets a 422 too.  A well-formed body with a field of the
wrong shape (OpenAI's ``response_format={"type": "json_schema", ...}``, which this server does not
take) fails FastAPI's validation inside ``RouteErrorHandler``, which also answers 500; here it is a
422 that names the field, the way FastAPI answers it.  Everything else is llama-cpp-python's server,
with its own command line (``--model``, ``--n_threads``, ``--chat_template_kwargs`` ...).

Used by the command `python -m labkit.serving.llamacpp_server`.
"""
from __future__ import annotations

import json
import runpy

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from llama_cpp.server import errors

_llama_route_handler = errors.RouteErrorHandler.get_route_handler
_llama_error_wrapper = errors.RouteErrorHandler.error_message_wrapper


def validation_message(error: RequestValidationError) -> str:
    """One line per failed field, ``body.response_format.type: Input should be 'text' or 'json_object'``."""
    return "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in error.errors())


def _error_message_wrapper(self, error, body=None):
    if isinstance(error, RequestValidationError):  # the request's fault: 422, not llama-cpp-python's 500
        return 422, errors.ErrorResponse(message=validation_message(error), type="invalid_request_error",
                                         param=None, code=None)
    return _llama_error_wrapper(self, error, body)


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
errors.RouteErrorHandler.error_message_wrapper = _error_message_wrapper

if __name__ == "__main__":
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
