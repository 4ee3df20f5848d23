"""The running appliance (HTTP, simulated modems) for the rules tests: an admin key, and the
[rules] section set per test (cooldown, loop bound)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.api.http_protocol import LenientHttpProtocol
from appliance.app import Appliance, create_app
from appliance.config import RulesConfig
from appliance.sim import SimFleet
from appliance.store.service import create_api_key_sync
from tests.api.conftest import Gateway, make_config, wait_for

KEYS = {"full": ["send", "read"], "reader": ["read"], "admin": ["send", "read", "admin"]}

__all__ = ["Gateway", "KEYS", "rules_gateway", "wait_for"]


@contextlib.asynccontextmanager
async def rules_gateway(tmp: Path, *, modems: int = 2, before_start=None,  # noqa: ANN001
                        **rules: Any) -> AsyncIterator[Gateway]:
    """A running gateway (as tests.api.conftest.running) whose [rules] are `rules` over the
    defaults; `before_start(db_url)` may prepare the database first."""
    ports_dir = tmp / "ports"
    config = make_config(tmp, ports_dir)
    config.rules = RulesConfig(**rules)
    config.validate()
    plain = {name: create_api_key_sync(config.database.url, name, scopes)
             for name, scopes in KEYS.items()}
    if before_start is not None:
        before_start(config.database.url)
    async with SimFleet(modems, ports_dir, latency=0.0, record=True) as fleet:
        appliance = Appliance(config)
        app = create_app(appliance)
        server = await app.create_server(host=config.http.host, port=config.http.port,
                                         return_asyncio_server=True, access_log=False,
                                         protocol=LenientHttpProtocol)
        assert server is not None
        await server.startup()
        await server.before_start()
        await server.after_start()
        base = f"http://{config.http.listen}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=10.0) as client:
                gateway = Gateway(appliance=appliance, fleet=fleet, client=client,
                                  base_url=base, db_url=config.database.url,
                                  db_path=tmp / "cg.db", keys=plain, app=app)
                await gateway.wait_ready()
                yield gateway
        finally:
            await server.before_stop()
            closing = server.close()
            if closing is not None:
                await closing
            await server.after_stop()


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with rules_gateway(tmp_path) as gateway:
        yield gateway


async def add_rule(gw: Gateway, **rule: Any) -> dict:
    response = await gw.post("/api/v1/rules", key="admin", json=rule)
    assert response.status_code == 201, response.text
    return response.json()


def sent_to(gw: Gateway, number: str) -> list[tuple[int, str]]:
    """(modem index, text) of every PDU the simulated modems took for `number` (the
    simulator's own record: what actually left)."""
    digits = number.lstrip("+")
    return [(i, a.submit.text) for i, m in enumerate(gw.fleet.modems) for a in m.accepted
            if a.submit.to.lstrip("+") == digits]
