"""JSON errors for the HTTP API: `{"error": {"code", "message"}}` with a 4xx/5xx status.

Knows: how a failure is shown to an HTTP client. Must not know: why it failed.
Never a stack trace: an unexpected exception is logged and answered with a plain 500.
"""

from __future__ import annotations

import logging

from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import JSONResponse, json

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the client can act on: a status, a stable code and a message naming the problem."""

    def __init__(self, status: int, code: str, message: str, **extra: object):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def error_response(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    body: dict = {"code": code, "message": message}
    body.update(extra)
    return json({"error": body}, status=status)


_SANIC_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 408: "timeout", 413: "too_large",
                429: "too_many_requests", 503: "unavailable"}


def install_error_handlers(app: Sanic) -> None:
    @app.exception(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.exception(SanicException)
    async def _sanic_error(request: Request, exc: SanicException) -> JSONResponse:
        status = getattr(exc, "status_code", 500) or 500
        message = str(exc) or "error"
        if status == 404:
            message = f"no such resource: {request.method} {request.path}"
        return error_response(status, _SANIC_CODES.get(status, "error"), message)

    @app.exception(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; see the appliance log")
