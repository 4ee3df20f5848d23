"""The admin socket's wire format: one JSON object per line, both ways.

Knows: framing (UTF-8 JSON, one object per line, bounded length), the request and answer
shapes, and the error codes. Must not know: what any operation does, sockets or asyncio.

A request is `{"op": "<name>", ...arguments}`. The answer is one line: `{"ok": true,
"result": ...}` or `{"ok": false, "error": {"code": ..., "message": ...}}`. A streaming
operation (`follow_*`) answers with any number of `{"event": ...}` lines and ends with an
ordinary answer; the client stops it early by closing the connection. One connection carries
requests one after the other; a follow takes its connection until it ends.
"""

from __future__ import annotations

import json
from typing import Any

MAX_LINE = 256 * 1024
"""The longest line either side accepts: a page of the inbox or of the modems fits easily."""


class ProtocolError(ValueError):
    """A line that is not a request or answer of this protocol; the message says why."""


class AdminError(Exception):
    """An operation refused or failed; `code` is for programs, the message for people."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": str(self), **self.details}


def encode(obj: dict[str, Any]) -> bytes:
    """One line: JSON without a raw newline in it (json escapes those inside strings)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    if len(line) > MAX_LINE:
        raise ProtocolError(f"line longer than {MAX_LINE} bytes")
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"not a JSON line: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("a line must be a JSON object")
    return obj


def answer(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


def failure(error: AdminError) -> dict[str, Any]:
    return {"ok": False, "error": error.as_dict()}


def event(data: Any) -> dict[str, Any]:
    return {"event": data}


__all__ = ["MAX_LINE", "AdminError", "ProtocolError", "answer", "decode", "encode", "event",
           "failure"]
