"""`GET /api/v1/health`: no auth; counts match the simulated fleet."""

from __future__ import annotations

from tests.api.conftest import Gateway, wait_for


async def test_health_needs_no_key_and_counts_the_fleet(gateway: Gateway) -> None:
    response = await gateway.get("/api/v1/health", key=None)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["modems"] == {"total": 2, "ready": 2}
    assert isinstance(body["version"], str) and body["version"]
    assert body["uptime_seconds"] >= 0


async def test_health_is_503_degraded_when_no_modem_is_ready(gateway: Gateway) -> None:
    # Monitoring reads only the status code: a box that cannot send (every modem unplugged)
    # must not answer 200 "ok" with "ready": 0 (found by unplugging every modem of a run).
    for port in gateway.fleet.ports:
        port.unplug()

    async def none_ready() -> dict | None:
        response = await gateway.get("/api/v1/health", key=None)
        body = response.json()
        return {"code": response.status_code, **body} if body["modems"]["ready"] == 0 else None

    body = await wait_for(none_ready, "health to count no ready modem")
    assert body["code"] == 503 and body["status"] == "degraded", body
    assert any("no modem" in p for p in body["problems"]), body
    head = await gateway.client.head("/api/v1/health")
    assert head.status_code == 503
