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

    def __init__(self, status: int, code: str, message: str, *,
                 headers: dict[str, str] | None = None, **extra: object):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}  # e.g. Retry-After on a 429 (RFC 6585 §4)
        self.extra = extra


def error_response(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    body: dict = {"code": code, "message": message}
    body.update(extra)
    return json({"error": body}, status=status)


_SANIC_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 408: "timeout", 413: "too_large",
                429: "too_many_requests", 503: "unavailable"}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """The methods a path answers to (sanic-routing names them only for static paths)."""
    allowed = []
    for method in _METHODS:
        try:
            request.app.router.get(request.path, method, request.headers.get("host"))
        except Exception:  # NotFound / MethodNotAllowed: not this one
            continue
        allowed.append(method)
    return allowed


def install_error_handlers(app: Sanic) -> None:
    @app.exception(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        response = error_response(exc.status, exc.code, exc.message, **exc.extra)
        for name, value in exc.headers.items():
            response.headers[name] = value
        return response

    @app.exception(SanicException)
    async def _sanic_error(request: Request, exc: SanicException) -> JSONResponse:
        status = getattr(exc, "status_code", 500) or 500
        message = str(exc) or "error"
        if status == 404:
            message = f"no such resource: {request.method} {request.path}"
        elif status == 413:
            limit = request.app.config.REQUEST_MAX_SIZE
            message = f"the request is too large: at most {limit} bytes ({message})"
        elif status == 405:
            allowed = sorted(getattr(exc, "allowed_methods", None)
                             or _allowed_methods(request))
            if allowed:
                exc.headers = {**(getattr(exc, "headers", None) or {}),
                               "Allow": ", ".join(allowed)}
            message = f"{request.method} is not allowed on {request.path}" + (
                f" (allowed: {', '.join(allowed)})" if allowed else "")
        response = error_response(status, _SANIC_CODES.get(status, "error"), message)
        for name, value in (getattr(exc, "headers", None) or {}).items():
            response.headers[name] = value  # Allow on a 405, as RFC 9110 §15.5.6 requires
        return response

    @app.exception(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; see the appliance log")
