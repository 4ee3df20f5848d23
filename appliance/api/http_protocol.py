"""sanic's HTTP/1 protocol, also reading request heads whose lines end in a bare LF.

RFC 9112 §2.2 lets a recipient recognise a single LF as a line terminator, and Kannel does:
devices written for it (a PLC's hand-built request, `printf 'GET ...\\n\\n' | nc`) send heads
that way. sanic looks only for CRLF CRLF, so it waited for the end of such a head until the
request timed out, and the device never got its answer. Here, a head whose first line ends in a
bare LF is held back until its blank line arrives, then handed to sanic with its line ends as
CRLF; what follows the head (a body) is handed on unchanged, byte for byte.

Knows: where in a connection a request head starts (sanic's stage), and line ends.
Must not know: anything of routes or doors.

A head is only ever rewritten when its first line ends in a bare LF: a well-formed request
costs one search for its first LF.
"""

from __future__ import annotations

from time import monotonic

from sanic.http import Stage
from sanic.server.protocols.http_protocol import HttpProtocol

_HEAD_STAGES = (Stage.IDLE, Stage.REQUEST)
"""sanic's stages in which arriving bytes begin (or continue) a request head."""


class LenientHttpProtocol(HttpProtocol):
    """HttpProtocol that also accepts request heads with bare-LF line ends."""

    __slots__ = ("_bare_head",)  # sanic's protocols have slots (no __dict__)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._bare_head: bytearray | None = None  # a bare-LF head's bytes, held back

    def data_received(self, data: bytes) -> None:
        if self._bare_head is not None:
            self._bare_head += data
            self._hand_on_bare_head()
            return
        # Not set until sanic's connection task first runs, which may be after bytes arrive.
        http = getattr(self, "_http", None)
        # IDLE with a request body left is sanic draining a body its handler did not read.
        at_head = http is None or (http.stage in _HEAD_STAGES and not http.request_body)
        if at_head and _starts_bare_head(self.recv_buffer, data):
            self._bare_head = bytearray(data)
            self._hand_on_bare_head()
            return
        super().data_received(data)

    def _hand_on_bare_head(self) -> None:
        """Hand the held head to sanic once its blank line is in (line ends as CRLF, what
        follows unchanged), or unchanged once it outgrows any head sanic would take."""
        held = self._bare_head
        assert held is not None
        self._time = monotonic()  # bytes came: sanic's timeouts count from them (as its own)
        end = _blank_line_end(held)
        if end < 0:
            if len(held) <= self.app.config.REQUEST_MAX_HEADER_SIZE:
                return  # wait for the rest of the head
            self._bare_head = None
            super().data_received(bytes(held))  # sanic refuses it (431)
            return
        self._bare_head = None
        head = bytes(held[:end]).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        super().data_received(head + bytes(held[end:]))


def _starts_bare_head(buffered: bytearray, data: bytes) -> bool:
    """Whether `data` holds the end of a head's first line and that end is a bare LF
    (`buffered`: the bytes sanic holds already; with an LF among them, the first line was
    handed on before and was not bare)."""
    if b"\n" in buffered:
        return False
    lf = data.find(b"\n")
    if lf < 0:
        return False
    before = data[lf - 1] if lf else (buffered[-1] if buffered else None)
    return before != 0x0D


def _blank_line_end(held: bytearray) -> int:
    """The index just past a head's blank line (LF LF, or LF CR LF), or -1."""
    ends = [i for i in (held.find(b"\n\n"), held.find(b"\n\r\n")) if i >= 0]
    if not ends:
        return -1
    first = min(ends)
    return first + (2 if held.startswith(b"\n\n", first) else 3)
