"""GET /api/v1/inbox: paging by id, filters, order, scopes, and 400s naming the parameter.

Messages are put in the inbox through the store's own write path (store.inbox.receive_part
in the appliance's writer), with chosen arrival times, so filters can be checked exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from appliance.store import inbox as inbox_store
from tests.inbox.conftest import InboxRig

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def fill(rig: InboxRig, count: int = 6) -> list[int]:
    """`count` messages: sender alternating between two numbers, SIM A for the first half,
    arriving one hour apart from T0."""
    ids = []
    for n in range(count):
        sender = f"+861390000000{n % 2}"

        def job(n: int = n, sender: str = sender) -> int:
            got = inbox_store.receive_part(
                iccid="A" if n < count // 2 else "B", modem="", sender=sender, number=sender,
                text=f"m{n}", smsc_at=T0 + timedelta(seconds=n),
                arrived_at=T0 + timedelta(hours=n), concat_ref=None, concat_count=1,
                concat_index=1, smsc=None, pdu=f"PDU{n}")
            assert got.message is not None
            return got.message["id"]

        ids.append(await rig.appliance.store.write(job))
    return ids


async def texts(rig: InboxRig, **params) -> list[str]:
    return [m["text"] for m in await rig.inbox_list(**params)]


async def test_since_pages_forward_oldest_first(rig: InboxRig):
    ids = await fill(rig)
    response = await rig.get("/api/v1/inbox", params={"since": 0, "limit": 4})
    body = response.json()
    assert [m["id"] for m in body["messages"]] == ids[:4]
    assert body["next_since"] == ids[3]
    body = (await rig.get("/api/v1/inbox", params={"since": body["next_since"]})).json()
    assert [m["id"] for m in body["messages"]] == ids[4:]
    body = (await rig.get("/api/v1/inbox", params={"since": body["next_since"]})).json()
    assert body == {"messages": [], "next_since": ids[-1]}


async def test_without_since_the_newest_come_first_and_before_pages_back(rig: InboxRig):
    ids = await fill(rig)
    body = (await rig.get("/api/v1/inbox", params={"limit": 2})).json()
    assert [m["id"] for m in body["messages"]] == [ids[5], ids[4]]
    body = (await rig.get("/api/v1/inbox", params={"limit": 2,
                                                   "before": body["next_before"]})).json()
    assert [m["id"] for m in body["messages"]] == [ids[3], ids[2]]
    assert await texts(rig, order="asc", limit=2) == ["m0", "m1"]


async def test_filters_by_number_sim_and_arrival_time(rig: InboxRig):
    await fill(rig)
    assert await texts(rig, number="+8613900000001", order="asc") == ["m1", "m3", "m5"]
    assert await texts(rig, number="13900000001", order="asc") == ["m1", "m3", "m5"]
    assert await texts(rig, sim="B", order="asc") == ["m3", "m4", "m5"]
    assert await texts(rig, sim="B", number="+8613900000000", order="asc") == ["m4"]
    window = {"from": (T0 + timedelta(hours=1)).isoformat(),
              "to": (T0 + timedelta(hours=3)).isoformat().replace("+00:00", "Z"),
              "order": "asc"}
    assert await texts(rig, **window) == ["m1", "m2"]
    assert await texts(rig, **{"from": "2026-11-01T17:00:00"}) == ["m5"]  # no offset: UTC


async def test_a_message_has_every_documented_field(rig: InboxRig):
    await fill(rig, 1)
    [message] = await rig.inbox_list()
    assert set(message) == {"id", "sender", "number", "contact", "text", "sim", "modem",
                            "smsc_at", "received_at", "updated_at", "partial", "parts",
                            "parts_received", "handled_at"}
    assert message["contact"] is None and message["modem"] is None
    assert datetime.fromisoformat(message["received_at"]) == T0


@pytest.mark.parametrize(("params", "named"), [
    ({"since": "-1"}, "since"),
    ({"since": "abc"}, "since"),
    ({"since": "١٢"}, "since"),  # Arabic-Indic digits are not an id
    ({"since": "99999999999999999999"}, "since"),
    ({"before": "0"}, "before"),
    ({"limit": "0"}, "limit"),
    ({"limit": "5000"}, "limit"),
    ({"from": "yesterday"}, "from"),
    ({"to": "2026-13-01"}, "to"),
    ({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "to"),
    ({"order": "sideways"}, "order"),
    ({"number": " "}, "number"),
    ({"sim": "8" * 30}, "sim"),
    ({"sice": "3"}, "sice"),
    ([("limit", "1"), ("limit", "2")], "limit"),
])
async def test_a_bad_parameter_is_a_400_naming_it(rig: InboxRig, params, named):
    response = await rig.get("/api/v1/inbox", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert error["message"].startswith(f"{named}:")
    assert error["field"] == named


async def test_the_read_scope_is_needed(rig: InboxRig):
    assert (await rig.get("/api/v1/inbox", key=None)).status_code == 401
    assert (await rig.get("/api/v1/inbox", key="sender")).status_code == 403
    assert (await rig.get("/api/v1/inbox", key="reader")).status_code == 200
