"""`GET /api/v1/health`: no auth; counts match the simulated fleet."""

from __future__ import annotations

from tests.api.conftest import Gateway


async def test_health_needs_no_key_and_counts_the_fleet(gateway: Gateway) -> None:
    response = await gateway.get("/api/v1/health", key=None)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["modems"] == {"total": 2, "ready": 2}
    assert isinstance(body["version"], str) and body["version"]
    assert body["uptime_seconds"] >= 0
