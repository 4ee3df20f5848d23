"""GET /api/v1/conversations/{number} over HTTP on simulated modems: a message sent, replies
injected into the simulated modems and read by the real inbox, one thread in time order with
the SIM used and the contact's name; a contact's numbers as one thread; paging; visibility."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.store import inbox as inbox_store
from tests.api.conftest import Gateway, running, wait_for

KEYS = {"admin": ["admin"], "reader": ["read"], "sender": ["send", "read"],
        "other": ["send", "read"]}
A = "+8613800138000"
A2 = "+8613900139000"


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with running(tmp_path, modems=2, keys=KEYS) as gateway:
        await gateway.wait_ready()
        yield gateway


async def _call(gw: Gateway, method: str, path: str, key: str = "admin", **kw):
    return await gw.client.request(method, path, headers=gw.auth(key), **kw)


async def _send(gw: Gateway, to: str, text: str, key: str = "sender") -> int:
    r = await _call(gw, "POST", "/api/v1/messages", key=key, json={"to": to, "text": text})
    assert r.status_code == 202, r.text
    [message] = r.json()["messages"]

    async def sent() -> bool:
        got = await _call(gw, "GET", f"/api/v1/messages/{message['id']}", key=key)
        return got.json().get("state") in ("sent", "delivered")

    await wait_for(sent, f"message {message['id']} sent")
    return message["id"]


async def _receive(gw: Gateway, modem: int, sender: str, text: str) -> None:
    before = await gw.appliance.store.read(inbox_store.count_messages)
    gw.fleet.modems[modem].inject_sms(sender, text)

    async def stored() -> bool:
        return await gw.appliance.store.read(inbox_store.count_messages) > before

    await wait_for(stored, f"the SMS from {sender} in the inbox")


async def test_a_thread_has_both_directions_in_order_with_sims_and_the_contact(gw: Gateway):
    out_id = await _send(gw, "13800138000", "Your parcel is on its way")
    await _receive(gw, 1, "13800138000", "谢谢 <b>thanks</b>")
    await _receive(gw, 0, A2, "from my other phone")
    await _receive(gw, 0, "+8613700000000", "someone else")

    # Not a contact yet: only that number's thread, no name.
    r = await _call(gw, "GET", "/api/v1/conversations/138-0013-8000", key="sender")
    assert r.status_code == 200, r.text
    thread = r.json()
    assert thread["number"] == A and thread["contact"] is None
    items = thread["items"]
    assert [(i["direction"], i["text"]) for i in items] == [
        ("out", "Your parcel is on its way"), ("in", "谢谢 <b>thanks</b>")]
    assert items[0]["id"] == out_id and items[0]["state"] in ("sent", "delivered")
    sent_sim = (await _call(gw, "GET", f"/api/v1/messages/{out_id}")).json()["sim"]
    assert items[0]["sim"] == sent_sim
    assert items[1]["sim"] == gw.fleet.modems[1].profile.iccid
    assert items[1]["sender"] == "13800138000" and items[1]["number"] == A
    assert items[0]["at"] <= items[1]["at"]
    assert thread["next_before"] is None

    # A contact with both numbers: one thread, named; the inbox listing names it too.
    contact = (await _call(gw, "POST", "/api/v1/contacts",
                           json={"name": "王五", "numbers": [A, A2]})).json()
    thread = (await _call(gw, "GET", f"/api/v1/conversations/%2B{A2[1:]}")).json()
    assert thread["contact"] == {"id": contact["id"], "name": "王五", "numbers": [A, A2]}
    assert [i["text"] for i in thread["items"]] == [
        "Your parcel is on its way", "谢谢 <b>thanks</b>", "from my other phone"]
    listing = (await _call(gw, "GET", f"/api/v1/inbox?number=%2B{A[1:]}")).json()
    assert [m.get("contact") for m in listing["messages"]] == ["王五"]

    # Paging backwards: two, then the one before them, then nothing.
    page = (await _call(gw, "GET", f"/api/v1/conversations/{A}?limit=2")).json()
    assert [i["text"] for i in page["items"]] == ["谢谢 <b>thanks</b>", "from my other phone"]
    older = (await _call(gw, "GET", f"/api/v1/conversations/{A}?limit=2&before="
                                    f"{page['next_before']}")).json()
    assert [i["text"] for i in older["items"]] == ["Your parcel is on its way"]
    assert older["next_before"] is None


async def test_another_keys_outbound_messages_are_not_shown(gw: Gateway):
    await _send(gw, A, "mine", key="sender")
    await _send(gw, A, "theirs", key="other")
    mine = (await _call(gw, "GET", f"/api/v1/conversations/{A}", key="sender")).json()
    assert [i["text"] for i in mine["items"]] == ["mine"]
    everything = (await _call(gw, "GET", f"/api/v1/conversations/{A}")).json()
    assert [i["text"] for i in everything["items"]] == ["mine", "theirs"]


@pytest.mark.parametrize("path, field", [
    ("/api/v1/conversations/12345678901234567", "number"),
    ("/api/v1/conversations/13800138000?limit=0", "limit"),
    ("/api/v1/conversations/13800138000?before=yesterday", "before"),
    ("/api/v1/conversations/13800138000?befor=x", "befor"),
])
async def test_bad_parameters_are_a_400_naming_them(gw: Gateway, path: str, field: str):
    r = await _call(gw, "GET", path, key="reader")
    assert r.status_code == 400 and r.json()["error"]["field"] == field
