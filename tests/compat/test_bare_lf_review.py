"""Cases the bare-LF head handling (appliance.api.http_protocol) must not break, found in
review: a body sanic drains unread, pipelined requests, a head that arrives line by line."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from tests.api.conftest import Gateway


def _sendsms(gw: Gateway, text: str) -> str:
    return (f"/cgi-bin/sendsms?username=full&password={quote(gw.keys['full'])}"
            f"&to=13800138000&text={quote(text)}")


async def _talk(gw: Gateway, pieces: list[bytes], timeout: float = 10) -> bytes:
    host, port = gw.base_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.2)
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


async def test_an_ignored_body_with_lfs_does_not_break_the_next_request(gateway: Gateway) -> None:
    # The body of a request with no route is not read; sanic drains it after the answer, in its IDLE
    # stage: those bytes are not a request head, whatever line ends they hold.
    body = b"a\nb\nc\n"
    first = (f"POST /no/such/route HTTP/1.1\r\nHost: box\r\n"
             f"Authorization: Bearer {gateway.keys['full']}\r\n"
             f"Content-Length: {len(body)}\r\n\r\n").encode()
    second = f"GET {_sendsms(gateway, 'two')} HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n"
    answer = await _talk(gateway, [first, body, second.encode()])
    assert answer.startswith(b"HTTP/1.1 404 "), answer
    assert answer.count(b"0: Accepted for delivery") == 1, answer


async def test_a_bare_lf_request_pipelined_after_a_crlf_one_is_answered(gateway: Gateway) -> None:
    first = f"GET {_sendsms(gateway, 'p1')} HTTP/1.1\r\nHost: box\r\n\r\n"
    second = f"GET {_sendsms(gateway, 'p2')} HTTP/1.1\nHost: box\nConnection: close\n\n"
    answer = await _talk(gateway, [(first + second).encode()], timeout=3)
    assert answer.count(b"0: Accepted for delivery") == 2, answer


async def test_two_bare_lf_requests_in_one_packet_are_answered(gateway: Gateway) -> None:
    first = f"GET {_sendsms(gateway, 'b1')} HTTP/1.1\nHost: box\n\n"
    second = f"GET {_sendsms(gateway, 'b2')} HTTP/1.1\nHost: box\nConnection: close\n\n"
    answer = await _talk(gateway, [(first + second).encode()], timeout=3)
    assert answer.count(b"0: Accepted for delivery") == 2, answer


async def test_a_bare_lf_head_arriving_slowly_is_answered(gateway: Gateway) -> None:
    # Held bytes are bytes received: sanic's idle timer must hear of them, as it does of a
    # CRLF head's (there it is REQUEST_TIMEOUT since the last bytes).
    assert gateway.app is not None
    old = gateway.app.config.KEEP_ALIVE_TIMEOUT
    gateway.app.config.KEEP_ALIVE_TIMEOUT = 1  # read by each new connection
    try:
        lines = [f"GET {_sendsms(gateway, 'slow')} HTTP/1.0\n", "Host: box\n",
                 "User-Agent: plc\n", "Accept: */*\n", "X-A: 1\n", "X-B: 2\n", "\n"]
        answer = await _talk(gateway, [line.encode() for line in lines])  # 0.2 s apart
    finally:
        gateway.app.config.KEEP_ALIVE_TIMEOUT = old
    assert answer.endswith(b"0: Accepted for delivery"), answer
