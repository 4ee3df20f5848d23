"""The real appliance with its HTTP server on the test's event loop, over simulated modems.

`running(...)` starts: a SimFleet on real ptys in a tmp dir → Config (a real SQLite file,
static ports on the fleet's symlinks, no udev) → Appliance → sanic's AsyncioServer on a free
loopback port; tests talk to it with httpx over TCP. Teardown runs sanic's stop events, which
stop the appliance (pool, dispatcher, store) before the fleet goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sanic import Sanic

from appliance.api.http_protocol import LenientHttpProtocol
from appliance.app import Appliance, create_app
from appliance.config import (
    AdminConfig,
    Config,
    DatabaseConfig,
    DispatchConfig,
    HttpConfig,
    ModemsConfig,
    PolicyConfig,
    QuietHoursConfig,
)
from appliance.sim import SimFleet
from appliance.store.service import create_api_key_sync
from tests.ports import free_port

# Several apps start in one process here (one per test). sanic's TouchUp rewrites methods of the
# Sanic class at each app's startup; outside test mode the second rewrite fails (it re-reads
# the source of an already rewritten method: KeyError '_run_request_middleware'). sanic-testing
# sets the same flag. Production runs one app per process and never meets this.
Sanic.test_mode = True

WAIT_LIMIT = 20.0  # seconds a bounded wait may take before the test fails (never a pass)


class FakeClock:
    """A monotonic clock a test moves by hand (`clock.now += seconds`)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now




async def wait_for(check: Callable[[], Awaitable[Any] | Any], what: str,
                   limit: float = WAIT_LIMIT) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `limit`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class Gateway:
    """A running appliance: its fleet, HTTP client, DB url and keys."""

    appliance: Appliance
    fleet: SimFleet
    client: httpx.AsyncClient
    base_url: str
    db_url: str
    db_path: Path
    keys: dict[str, str] = field(default_factory=dict)
    app: Sanic | None = None

    def auth(self, key_name: str = "full") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[key_name]}"}

    async def get(self, path: str, key: str | None = "full", **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {}) | (self.auth(key) if key else {})
        return await self.client.get(path, headers=headers, **kw)

    async def post(self, path: str, key: str | None = "full", **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {}) | (self.auth(key) if key else {})
        return await self.client.post(path, headers=headers, **kw)

    async def delete(self, path: str, key: str | None = "full", **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {}) | (self.auth(key) if key else {})
        return await self.client.delete(path, headers=headers, **kw)

    async def wait_ready(self, count: int | None = None) -> None:
        want = self.fleet.count if count is None else count

        def ready() -> bool:
            pool = self.appliance.pool
            return pool is not None and len(pool.ready()) >= want

        await wait_for(ready, f"{want} ready modem(s)")

    async def wait_message(self, message_id: int, states: set[str]) -> dict:
        async def state() -> dict | None:
            response = await self.get(f"/api/v1/messages/{message_id}")
            body = response.json()
            return body if body.get("state") in states else None

        return await wait_for(state, f"message {message_id} in {sorted(states)}")


def make_config(tmp: Path, ports_dir: Path, policy: PolicyConfig | None = None,
                **dispatch: Any) -> Config:
    caps = {"per_sim_per_minute": 0, "per_sim_per_hour": 0, "per_sim_per_day": 0}
    caps.update(dispatch)
    return Config(
        http=HttpConfig(listen=f"127.0.0.1:{free_port()}"),
        database=DatabaseConfig(url=f"sqlite:///{tmp / 'cg.db'}"),
        modems=ModemsConfig(autodetect=False, ports=[str(ports_dir / "modem*")],
                            poll_interval=0.2, command_timeout=2.0, send_timeout=5.0),
        dispatch=DispatchConfig(**caps),
        admin=AdminConfig(socket=str(tmp / "admin.sock")),  # not the system's /run/cardgate
        policy=policy or PolicyConfig(),
        # Tests run at any hour on a real clock: quiet hours (on by default, 21:00-08:00
        # Shanghai) would hold their notices at night. tests/policy turns them on with a fake
        # clock.
        quiet_hours=QuietHoursConfig(enabled=False),
    )


DEFAULT_KEYS = {"full": ["send", "read"], "reader": ["read"], "sender": ["send"]}


@contextlib.asynccontextmanager
async def running(tmp: Path, *, modems: int = 2, keys: dict[str, list[str]] | None = None,
                  policy: PolicyConfig | None = None,
                  configure: Callable[[Config], None] | None = None,
                  **dispatch: Any) -> AsyncIterator[Gateway]:
    """`policy`: the [policy] section; `configure`: other changes to the config beyond
    [dispatch] (e.g. quiet hours, dedupe)."""
    ports_dir = tmp / "ports"
    config = make_config(tmp, ports_dir, policy, **dispatch)
    if configure is not None:
        configure(config)
        config.validate()
    plain = {name: create_api_key_sync(config.database.url, name, scopes)
             for name, scopes in (keys or DEFAULT_KEYS).items()}
    async with SimFleet(modems, ports_dir, latency=0.0, record=True) as fleet:
        appliance = Appliance(config)
        app = create_app(appliance)
        server = await app.create_server(host=config.http.host, port=config.http.port,
                                         return_asyncio_server=True, access_log=False,
                                         protocol=LenientHttpProtocol)
        assert server is not None
        await server.startup()
        # create_server has already bound the socket (asyncio serves at once); the events
        # below are what app.run() would fire: before_server_start starts the appliance.
        await server.before_start()
        await server.after_start()
        base = f"http://{config.http.listen}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
                yield Gateway(appliance=appliance, fleet=fleet, client=client, base_url=base,
                              db_url=config.database.url, db_path=tmp / "cg.db", keys=plain,
                              app=app)
        finally:
            await server.before_stop()
            closing = server.close()
            if closing is not None:
                await closing
            # What app.run's shutdown does: idle connections close, the rest are cut (a
            # browser's open event stream); else their tasks outlive the test's loop.
            for connection in list(server.connections):
                connection.close_if_idle()
            await asyncio.sleep(0.05)
            for connection in list(server.connections):
                connection.abort()
            await server.after_stop()  # stops the appliance: pool, dispatcher, store


@contextlib.contextmanager
def running_in_thread(tmp: Path, **kwargs: Any,
                      ) -> Iterator[tuple[Gateway, asyncio.AbstractEventLoop]]:
    """`running(tmp, **kwargs)` on its own event loop in a thread: for synchronous callers
    (hypothesis examples, a blocking HTTP client) that must leave the server's loop free.
    Yields the gateway and its loop."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict = {}

    async def serve() -> None:
        box["stop"] = asyncio.Event()
        try:
            async with running(tmp, **kwargs) as gateway:
                await gateway.wait_ready()
                box["gateway"] = gateway
                started.set()
                await box["stop"].wait()
        finally:
            started.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(60) and "gateway" in box, "the gateway did not start"
    try:
        yield box["gateway"], loop
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(60)
        loop.close()


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with running(tmp_path) as gw:
        await gw.wait_ready()
        yield gw
