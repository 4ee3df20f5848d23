"""Fixtures for the compatibility adapters: the running appliance of tests/api, and a local
HTTP server that records the callbacks (Kannel's DLR GETs) it receives."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api.conftest import Gateway, running, wait_for

KEYS = {"full": ["send", "read"], "reader": ["read"], "sender": ["send"]}


@dataclass
class Callbacks:
    """Requests received by the test's HTTP server: (method, target) in arrival order."""

    base_url: str = ""
    received: list[tuple[str, str]] = field(default_factory=list)

    def queries(self, path: str | None = None) -> list[dict[str, str]]:
        """Each received request's query, decoded as a form (`+` is a space)."""
        out = []
        for _, target in self.received:
            parts = urlsplit(target)
            if path is None or parts.path == path:
                out.append({k: v[0] for k, v in
                            parse_qs(parts.query, keep_blank_values=True).items()})
        return out

    async def wait(self, count: int, what: str) -> list[dict[str, str]]:
        await wait_for(lambda: len(self.received) >= count, what)
        return self.queries()


@contextlib.asynccontextmanager
async def callback_server() -> AsyncIterator[Callbacks]:
    callbacks = Callbacks()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            callbacks.received.append((method, target))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    callbacks.base_url = f"http://127.0.0.1:{port}"
    try:
        yield callbacks
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def gateway(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Gateway]:
    """The appliance on simulated modems that report delivery soon after; its keys are the
    test module's own `KEYS` when it has them."""
    async with running(tmp_path, keys=getattr(request.module, "KEYS", KEYS)) as gw:
        await gw.wait_ready()
        for modem in gw.fleet.modems:
            modem.auto_status_report = 0.05  # the network reports delivery soon after
        yield gw


@pytest.fixture
async def callbacks() -> AsyncIterator[Callbacks]:
    async with callback_server() as server:
        yield server
