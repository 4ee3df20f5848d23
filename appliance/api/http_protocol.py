"""sanic's HTTP/1 protocol, also reading request heads whose lines end in a bare LF.

RFC 9112 §2.2 lets a recipient recognise a single LF as a line terminator, and Kannel does:
devices written for it (a PLC's hand-built request, `printf 'GET ...\\n\\n' | nc`) send heads
that way. sanic looks only for CRLF CRLF, so it waited for the end of such a head until the
request timed out, and the device never got its answer.

Here the rewrite happens where sanic starts reading each request head (`Http.
http1_request_header`), on the bytes it holds for that head: when the head's first line ends
in a bare LF, its line ends become CRLF once its blank line is in, and sanic parses it as
usual. At that point, and only there, the bytes are a head: the body of the request before
(one sanic drains unread) and anything after the head are never touched, a request pipelined
behind another is seen when its turn comes, and the bytes arrive through sanic's own
`data_received`, which keeps its timeouts.

Knows: where sanic reads a request head, and line ends.
Must not know: anything of routes or doors.

A well-formed request costs one search for its first LF.
"""

from __future__ import annotations

from sanic.http import Http
from sanic.server.protocols.http_protocol import HttpProtocol


class LenientHttp(Http):
    """sanic's HTTP/1 connection handler, normalising a bare-LF head before parsing it.

    No `__touchup__` here: sanic rewrites the methods a class lists there at start-up, by
    their source; this one is left as written and calls the (rewritten) original."""

    __slots__ = ()

    async def http1_request_header(self):  # noqa: ANN201 - sanic's signature
        await self._bare_lf_head_to_crlf()
        await Http.http1_request_header(self)

    async def _bare_lf_head_to_crlf(self) -> None:
        buffer = self.recv_buffer
        limit = self.HEADER_MAX_SIZE
        while (lf := buffer.find(b"\n")) < 0:
            if len(buffer) >= limit:
                return  # sanic refuses it (431)
            await self._receive_more()
        if lf and buffer[lf - 1] == 0x0D:
            return  # CRLF: sanic's own
        while (end := _blank_line_end(buffer)) < 0:
            if len(buffer) >= limit:
                return
            await self._receive_more()
        buffer[:end] = bytes(buffer[:end]).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class LenientHttpProtocol(HttpProtocol):
    """HttpProtocol whose connections are handled by LenientHttp."""

    __slots__ = ()
    HTTP_CLASS = LenientHttp


def _blank_line_end(buffer: bytearray) -> int:
    """The index just past a bare-LF head's blank line (LF LF, or LF CR LF), or -1."""
    ends = [i for i in (buffer.find(b"\n\n"), buffer.find(b"\n\r\n")) if i >= 0]
    if not ends:
        return -1
    first = min(ends)
    return first + (2 if buffer.startswith(b"\n\n", first) else 3)
