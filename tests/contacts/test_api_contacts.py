"""The address-book API over HTTP against the real appliance on simulated modems: contacts,
groups and members, the blacklist, and POST /messages' per-recipient refusals; bodies are
asserted, not only statuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.api.conftest import Gateway, running, wait_for

KEYS = {"admin": ["admin"], "reader": ["read"], "sender": ["send", "read"]}
A = "+8613800138000"
B = "+8613900139000"


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with running(tmp_path, modems=1, keys=KEYS) as gateway:
        await gateway.wait_ready()
        yield gateway


async def _call(gw: Gateway, method: str, path: str, key: str = "admin", **kw):
    return await gw.client.request(method, path, headers=gw.auth(key), **kw)


async def _wait_sent(gw: Gateway, message_id: int) -> None:
    async def sent() -> bool:
        r = await _call(gw, "GET", f"/api/v1/messages/{message_id}", key="sender")
        return r.json().get("state") in ("sent", "delivered")

    await wait_for(sent, f"message {message_id} sent")


async def test_contact_crud_with_normalised_numbers_and_fields(gw: Gateway):
    r = await _call(gw, "POST", "/api/v1/contacts", json={
        "name": "张三", "numbers": ["138 0013 8000", "+86-139-0013-9000"], "note": "VIP",
        "fields": {"city": "杭州", "orders": 3}})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["name"] == "张三" and made["numbers"] == [A, B]
    assert made["fields"] == {"city": "杭州", "orders": 3} and made["note"] == "VIP"
    assert made["groups"] == [] and made["created_at"]
    cid = made["id"]

    got = (await _call(gw, "GET", f"/api/v1/contacts/{cid}", key="reader")).json()
    assert got == made

    r = await _call(gw, "PATCH", f"/api/v1/contacts/{cid}", json={"name": "Zhang San"})
    assert r.status_code == 200
    assert r.json()["name"] == "Zhang San" and r.json()["numbers"] == [A, B]
    assert r.json()["note"] == "VIP"  # PATCH keeps what it was not given

    r = await _call(gw, "PUT", f"/api/v1/contacts/{cid}", json={"name": "Z", "numbers": [A]})
    assert r.json()["numbers"] == [A] and r.json()["note"] == "" and r.json()["fields"] == {}

    listed = (await _call(gw, "GET", "/api/v1/contacts?q=8000", key="reader")).json()
    assert listed["total"] == 1 and listed["contacts"][0]["id"] == cid

    r = await _call(gw, "DELETE", f"/api/v1/contacts/{cid}")
    assert r.json() == {"id": cid, "deleted": True}
    r = await _call(gw, "GET", f"/api/v1/contacts/{cid}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_a_number_of_another_contact_is_a_409_naming_both(gw: Gateway):
    first = (await _call(gw, "POST", "/api/v1/contacts",
                         json={"name": "Alice", "numbers": [A]})).json()
    r = await _call(gw, "POST", "/api/v1/contacts",
                    json={"name": "Bob", "numbers": ["13800138000"]})
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "number_taken" and error["number"] == A
    assert error["contact_id"] == first["id"] and "Alice" in error["message"]
    assert (await _call(gw, "GET", "/api/v1/contacts")).json()["total"] == 1


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "numbers": ["12345"]}, None),  # a short code is a valid sender: accepted
    ({"name": "x", "numbers": ["1380013800"]}, "numbers[0]"),
    ({"name": "x", "numbers": [13800138000]}, "numbers[0]"),
    ({"name": 5}, "name"),
    ({"name": "x", "fields": [1, 2]}, "fields"),
    ({"name": "x", "fields": {"k": {"nested": 1}}}, "fields.k"),
    ({"name": "x\x00"}, "name"),
    ({"name": "x", "colour": "red"}, "colour"),
    ({"name": "x", "groups": [999]}, "groups"),
])
async def test_bad_contact_input_is_a_400_naming_the_field(gw: Gateway, body, field):
    r = await _call(gw, "POST", "/api/v1/contacts", json=body)
    if field is None:
        assert r.status_code == 201 and r.json()["numbers"] == ["12345"]
        return
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field
    assert field.split("[")[0].split(".")[0] in r.json()["error"]["message"]


async def test_writes_need_admin_and_reads_need_read(gw: Gateway):
    r = await _call(gw, "POST", "/api/v1/contacts", key="reader", json={"name": "x"})
    assert r.status_code == 403 and "admin" in r.json()["error"]["message"]
    r = await _call(gw, "POST", "/api/v1/blacklist", key="sender", json={"number": A})
    assert r.status_code == 403
    r = await gw.client.get("/api/v1/groups")
    assert r.status_code == 401


async def test_ids_beyond_any_integer_key_are_404_not_500(gw: Gateway):
    # Found by the OpenAPI fuzz (tests/api/test_openapi.py): SQLite overflowed, a 500.
    for method, path in [("GET", "/api/v1/contacts/{}"), ("DELETE", "/api/v1/contacts/{}"),
                         ("GET", "/api/v1/groups/{}"), ("DELETE", "/api/v1/groups/{}"),
                         ("DELETE", "/api/v1/groups/{}/members?number=10086")]:
        for huge in (2**63, 10**30):
            r = await _call(gw, method, path.format(huge))
            assert r.status_code == 404, (method, path, r.text)
            assert r.json()["error"]["code"] == "not_found"


async def test_groups_and_members_by_number_or_contact(gw: Gateway):
    r = await _call(gw, "POST", "/api/v1/groups", json={"name": "vip", "note": "best"})
    assert r.status_code == 201
    group = r.json()
    assert group["name"] == "vip" and group["members"] == 0
    r = await _call(gw, "POST", "/api/v1/groups", json={"name": "vip"})
    assert r.status_code == 409 and r.json()["error"]["group_id"] == group["id"]

    alice = (await _call(gw, "POST", "/api/v1/contacts",
                         json={"name": "Alice", "numbers": [A]})).json()
    r = await _call(gw, "POST", f"/api/v1/groups/{group['id']}/members",
                    json={"contact_ids": [alice["id"]], "numbers": ["139-0013-9000"]})
    assert r.status_code == 200
    members = r.json()
    assert members["members"] == 2
    by_name = {c["name"]: c for c in members["contacts"]}
    assert by_name["Alice"]["numbers"] == [A]
    assert by_name[""]["numbers"] == [B]  # a number nobody had: a nameless contact
    got = (await _call(gw, "GET", f"/api/v1/contacts/{alice['id']}")).json()
    assert got["groups"] == [{"id": group["id"], "name": "vip"}]

    r = await _call(gw, "DELETE", f"/api/v1/groups/{group['id']}/members?number={A[1:]}")
    assert r.status_code == 200 and r.json()["members"] == 1
    r = await _call(gw, "DELETE", f"/api/v1/groups/{group['id']}/members",
                    json={"numbers": [B]})
    assert r.json()["members"] == 0 and r.json()["contacts"] == []
    r = await _call(gw, "POST", f"/api/v1/groups/{group['id']}/members",
                    json={"contact_ids": [424242]})
    assert r.status_code == 400 and r.json()["error"]["field"] == "contact_ids"

    r = await _call(gw, "PATCH", f"/api/v1/groups/{group['id']}", json={"name": "gold"})
    assert r.json()["name"] == "gold" and r.json()["note"] == "best"
    listed = (await _call(gw, "GET", "/api/v1/groups", key="reader")).json()
    assert [g["name"] for g in listed["groups"]] == ["gold"]
    r = await _call(gw, "DELETE", f"/api/v1/groups/{group['id']}")
    assert r.json() == {"id": group["id"], "deleted": True}
    assert (await _call(gw, "GET", f"/api/v1/groups/{group['id']}")).status_code == 404


async def test_blacklist_api_and_sends_that_skip_it(gw: Gateway):
    r = await _call(gw, "POST", "/api/v1/blacklist",
                    json={"number": "138 0013 8000", "reason": "complained"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["number"] == A and body["reason"] == "complained" and body["source"] == "api"
    assert body["added"] is True and body["cancelled"] == []
    again = await _call(gw, "POST", "/api/v1/blacklist", json={"number": A, "reason": "x"})
    assert again.status_code == 200 and again.json()["added"] is False
    assert again.json()["reason"] == "complained"
    r = await _call(gw, "POST", "/api/v1/blacklist", json={"number": "nope!"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "number"
    r = await _call(gw, "POST", "/api/v1/blacklist", json={"number": B, "source": "sms"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "source"

    listed = (await _call(gw, "GET", "/api/v1/blacklist", key="reader")).json()
    assert listed["total"] == 1 and listed["blacklist"][0]["number"] == A

    # One recipient blacklisted: the other goes, and the response says who was left out.
    r = await _call(gw, "POST", "/api/v1/messages", key="sender",
                    json={"to": ["13800138000", B], "text": "hello"})
    assert r.status_code == 202, r.text
    sent = r.json()
    assert [m["to"] for m in sent["messages"]] == [B]
    assert sent["rejected"] == [{"to": A, "reason": "blacklisted: complained"}]
    assert sent["parts"] == 1 and sent["encoding"] == "gsm7"
    await _wait_sent(gw, sent["messages"][0]["id"])
    assert [a.submit.to for m in gw.fleet.modems for a in m.accepted] == [B]

    # All blacklisted: 422, naming the field, the number and the reason.
    r = await _call(gw, "POST", "/api/v1/messages", key="sender",
                    json={"to": A, "text": "hello"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "blacklisted" and error["field"] == "to"
    assert A in error["message"] and "complained" in error["message"]
    assert error["rejected"] == [{"to": A, "reason": "blacklisted: complained"}]

    r = await _call(gw, "DELETE", "/api/v1/blacklist/%2B8613800138000")
    assert r.status_code == 200 and r.json() == {"number": A, "removed": True}
    r = await _call(gw, "DELETE", "/api/v1/blacklist/13800138000")
    assert r.status_code == 404 and A in r.json()["error"]["message"]
    r = await _call(gw, "POST", "/api/v1/messages", key="sender", json={"to": A, "text": "ok"})
    assert r.status_code == 202 and r.json()["rejected"] == []


async def test_blacklisting_by_api_cancels_a_scheduled_message(gw: Gateway):
    r = await _call(gw, "POST", "/api/v1/messages", key="sender", json={
        "to": B, "text": "tomorrow",
        "send_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()})
    [message] = r.json()["messages"]
    r = await _call(gw, "POST", "/api/v1/blacklist", json={"number": B, "reason": "TD"})
    assert r.json()["cancelled"] == [message["id"]]
    got = (await _call(gw, "GET", f"/api/v1/messages/{message['id']}")).json()
    assert got["state"] == "cancelled" and got["events"][-1]["detail"] == "blacklisted: TD"
