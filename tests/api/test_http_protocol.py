"""The HTTP protocol (appliance.api.http_protocol) at the level of its events, where timing
cannot be arranged over a socket: bytes that arrive before sanic's connection task has run."""

from __future__ import annotations

import asyncio

from sanic import Sanic

from appliance.api.http_protocol import LenientHttpProtocol


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default)

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass

    def write(self, data) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


def _protocol(name: str) -> LenientHttpProtocol:
    app = Sanic(name)
    return LenientHttpProtocol(loop=asyncio.get_running_loop(), app=app, connections=set())


async def test_bytes_before_the_connection_task_are_kept_for_it() -> None:
    protocol = _protocol("protocol_early_bytes")
    protocol.connection_made(Transport())  # schedules the connection task; it has not run
    protocol.data_received(b"GET /x HTTP/1.1\r\nHost: box\r\n\r\n")
    assert bytes(protocol.recv_buffer) == b"GET /x HTTP/1.1\r\nHost: box\r\n\r\n"
    protocol._task.cancel()


async def test_a_bare_lf_head_before_the_connection_task_is_held_then_rewritten() -> None:
    protocol = _protocol("protocol_early_bare")
    protocol.connection_made(Transport())
    protocol.data_received(b"GET /x HTTP/1.0\nHost: box\n")
    assert bytes(protocol.recv_buffer) == b""  # held: its blank line has not come yet
    protocol.data_received(b"\nbody\n")
    assert bytes(protocol.recv_buffer) == b"GET /x HTTP/1.0\r\nHost: box\r\n\r\nbody\n"
    protocol._task.cancel()
