"""JSON errors for the HTTP API: `{"error": {"code", "message"}}` with a 4xx/5xx status.

Knows: how a failure is shown to an HTTP client, and which of sanic's own errors mean what.
Must not know: why it failed.
Never a stack trace: an unexpected exception is logged and answered with a plain 500.

Two of sanic's errors say less than they should:
- a client that stops sending its body half way is cut off by sanic's RESPONSE_TIMEOUT (the
  body is read once the handler stage has begun) as "503 Response Timeout", which tells the
  client the server is at fault; it is answered 408, naming the timeout;
- a header section over REQUEST_MAX_HEADER_SIZE is raised as the same PayloadTooLarge as a body
  over REQUEST_MAX_SIZE; it is answered 431 (RFC 6585 §5), naming the header limit.
"""

from __future__ import annotations

import logging

from sanic import Request, Sanic
from sanic.exceptions import PayloadTooLarge, SanicException, ServiceUnavailable
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
                429: "too_many_requests", 431: "headers_too_large", 503: "unavailable"}


def _body_unfinished(request: Request) -> bool:
    """Whether the request's body was still being received (sanic's HTTP/1 stream says)."""
    stream = getattr(request, "stream", None)
    return bool(getattr(stream, "request_body", None))


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
        config = request.app.config
        if isinstance(exc, ServiceUnavailable) and _body_unfinished(request):
            status = 408
            message = (f"the request body did not arrive within {config.RESPONSE_TIMEOUT} s "
                       f"(sent more slowly than the server waits, or not finished)")
        elif isinstance(exc, PayloadTooLarge) and "header" in message.lower():
            status = 431
            message = (f"the request headers are too large: at most "
                       f"{config.REQUEST_MAX_HEADER_SIZE} bytes in all")
        elif status == 404:
            message = f"no such resource: {request.method} {request.path}"
        elif status == 413:
            limit = config.REQUEST_MAX_SIZE
            message = f"the request is too large: at most {limit} bytes ({message})"
        elif status == 405:
            allowed = sorted(getattr(exc, "allowed_methods", None)
                             or _allowed_methods(request))
            if allowed:
                exc.headers = {**(getattr(exc, "headers", None) or {}),
                               "Allow": ", ".join(allowed)}
            message = f"{request.method} is not allowed on {request.path}" + (
                f" (allowed: {', '.join(allowed)})" if allowed else "")
        page = await _page_for(request, status, message)
        response = page or error_response(status, _SANIC_CODES.get(status, "error"), message)
        for name, value in (getattr(exc, "headers", None) or {}).items():
            response.headers[name] = value  # Allow on a 405, as RFC 9110 §15.5.6 requires
        return response

    @app.exception(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.path)
        page = await _page_for(request, 500, "internal error; see the appliance log")
        return page or error_response(500, "internal", "internal error; see the appliance log")


async def _page_for(request: Request, status: int, message: str):
    """The web console's own error page for its paths (`app.ctx.error_page`, set by the
    console), so a browser never lands on JSON; None elsewhere."""
    page = getattr(request.app.ctx, "error_page", None)
    return await page(request, status, message) if page is not None else None
