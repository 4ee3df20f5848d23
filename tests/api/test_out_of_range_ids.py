"""Ids and times a caller may type that no row can have: a 404 or a 400 naming the parameter,
never a 500 (SQLite's INTEGER is 64-bit signed: a bigger id overflowed in the driver; a time
with no UTC equivalent overflowed in the store's conversion)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.conftest import running

HUGE = "99999999999999999999"
JUST_OVER = str(2**63)


@pytest.mark.parametrize("huge", [HUGE, JUST_OVER])
@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/v1/approvals/{}", None),
    ("POST", "/api/v1/approvals/{}/approve", None),
    ("POST", "/api/v1/approvals/{}/reject", {"reason": "no"}),
    ("DELETE", "/api/v1/approval-rules/{}", None),
])
async def test_an_id_beyond_sqlite_integer_is_404(tmp_path: Path, huge: str, method: str,
                                                    path: str, body: dict | None) -> None:
    async with running(tmp_path, keys={"root": ["admin"]}) as gw:
        response = await gw.client.request(method, path.format(huge), json=body,
                                           headers=gw.auth("root"))
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(("path", "name"), [
    ("/api/v1/inbox", "from"), ("/api/v1/inbox", "to"), ("/api/v1/audit", "since_time"),
    ("/api/v1/messages", "created_to"),
])
@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00%2B14:00"])
async def test_a_time_with_no_utc_equivalent_is_400_naming_it(tmp_path: Path, path: str,
                                                              name: str, when: str) -> None:
    async with running(tmp_path, keys={"root": ["admin"]}) as gw:
        response = await gw.client.get(f"{path}?{name}={when}", headers=gw.auth("root"))
        assert response.status_code == 400, response.text
        assert response.json()["error"]["field"] == name
