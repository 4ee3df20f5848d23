"""Request heads whose lines end in a bare LF (RFC 9112 §2.2 lets a server accept them, and
Kannel does): a device's hand-built request is answered, HTTP/1.0 until the connection closes;
what follows the head is handed on byte for byte; keep-alive requests after it still work."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

from tests.api.conftest import Gateway, wait_for


async def _exchange(gw: Gateway, raw: bytes, *, chunks: int = 1) -> bytes:
    """Send `raw` (in `chunks` pieces, a pause between them) and read until the server closes."""
    host, port = gw.base_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        size = -(-len(raw) // chunks)
        for i in range(0, len(raw), size):
            writer.write(raw[i:i + size])
            await writer.drain()
            await asyncio.sleep(0.05)
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def _sendsms(gw: Gateway, text: str) -> str:
    return (f"/cgi-bin/sendsms?username=full&password={quote(gw.keys['full'])}"
            f"&to=13800138000&text={quote(text)}")


async def test_a_kannel_get_with_bare_lf_lines_is_accepted(gateway: Gateway) -> None:
    raw = f"GET {_sendsms(gateway, 'bare lf')} HTTP/1.0\nHost: box\n\n".encode()
    answer = await _exchange(gateway, raw)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 202 "), answer[:400]
    assert body == b"0: Accepted for delivery"
    await wait_for(lambda: _stored(gateway, "bare lf"), "the message stored")


async def test_a_bare_lf_head_split_over_packets_is_accepted(gateway: Gateway) -> None:
    raw = f"GET {_sendsms(gateway, 'split head')} HTTP/1.0\nHost: box\nUser-Agent: plc\n\n"
    answer = await _exchange(gateway, raw.encode(), chunks=5)
    assert answer.endswith(b"\r\n\r\n0: Accepted for delivery")


async def test_the_body_after_a_bare_lf_head_is_kept_byte_for_byte(gateway: Gateway) -> None:
    # Pretty-printed JSON holds LFs of its own: rewritten, Content-Length would no longer match.
    body = json.dumps({"to": "+8613800138000", "text": "line one\nline two"}, indent=2).encode()
    raw = (f"POST /api/v1/messages HTTP/1.0\nAuthorization: Bearer {gateway.keys['full']}\n"
           f"Content-Type: application/json\nContent-Length: {len(body)}\n\n").encode() + body
    answer = await _exchange(gateway, raw)
    head, _, reply = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 202 "), answer[:300]
    message_id = json.loads(reply)["messages"][0]["id"]
    stored = (await gateway.get(f"/api/v1/messages/{message_id}")).json()
    assert stored["text"] == "line one\nline two"


async def test_keep_alive_requests_after_a_bare_lf_head_are_answered(gateway: Gateway) -> None:
    first = f"GET {_sendsms(gateway, 'first')} HTTP/1.1\nHost: box\n\n"
    second = f"GET {_sendsms(gateway, 'second')} HTTP/1.1\r\nHost: box\r\n\r\n"
    third = (f"GET {_sendsms(gateway, 'third')} HTTP/1.1\nHost: box\nConnection: close\n\n")
    answer = await _exchange(gateway, (first + second + third).encode(), chunks=3)
    assert answer.count(b"0: Accepted for delivery") == 3, answer


async def _stored(gw: Gateway, text: str) -> bool:
    listing = (await gw.get("/api/v1/messages", params={"limit": 20})).json()
    return any(m["text"] == text for m in listing["messages"])


async def test_requests_arriving_with_their_connection_are_answered(gateway: Gateway) -> None:
    """A hundred connections opened at once, each writing its request at once: every one is
    answered (bytes may arrive before sanic's connection task has run)."""
    host, port = gateway.base_url.removeprefix("http://").rsplit(":", 1)

    async def one(n: int) -> bytes:
        raw = f"GET {_sendsms(gateway, f'at once {n}')} HTTP/1.0\r\nHost: box\r\n\r\n"
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(raw.encode())  # in the same tick as the connect
        try:
            return await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()

    answers = await asyncio.gather(*(one(n) for n in range(100)))
    assert all(a.endswith(b"\r\n\r\n0: Accepted for delivery") for a in answers), [
        a[:80] for a in answers if not a.endswith(b"0: Accepted for delivery")][:3]
