"""Review: the Android door's listing parameters at their edges are 400s, never a 500."""

from __future__ import annotations

import pytest

from tests.api.conftest import Gateway, wait_for
from tests.compat.test_android_api import basic


@pytest.mark.parametrize("path", [
    "/messages?limit=%C2%B2",  # "²": str.isdigit() is true, int() raises
    "/messages?offset=%C2%B2",
    "/inbox?limit=%C2%B2",
    "/messages?limit=" + "9" * 5000,  # int() refuses over 4,300 digits
    "/messages?from=9999-12-31T23:59:59-23:59",  # no UTC equivalent
    "/messages?to=0001-01-01T00:00%2B14:00",
    "/inbox?from=9999-12-31T23:59:59-23:59",
    "/inbox?to=0001-01-01T00:00%2B14:00",
])
async def test_a_listing_parameter_out_of_range_is_a_400(gateway: Gateway, path: str) -> None:
    answer = await gateway.client.get(path, headers=basic(gateway))
    assert answer.status_code == 400, answer.text


async def test_get_messages_lists_no_json_api_message_as_an_android_one(
        gateway: Gateway) -> None:
    # SQL LIKE (peewee's startswith) ignores case: client_ref "ANDROID:x", sent through the
    # JSON API by the same key, is no Android message and must not be listed as one.
    r = await gateway.post("/api/v1/messages", key="full", json={
        "to": "+8613800138000", "text": "json api", "client_ref": "ANDROID:x"})
    assert r.status_code == 202, r.text
    listed = await gateway.client.get("/messages", headers=basic(gateway))
    assert listed.status_code == 200
    assert listed.json() == [], listed.json()


async def test_to_is_inclusive_on_the_inbox_as_on_messages(gateway: Gateway) -> None:
    """`from` and `to` both take a message at that very time, on /inbox as on /messages."""
    gateway.fleet.modems[0].inject_sms("+8613900139000", "at the edge")

    async def listed() -> list | None:
        got = (await gateway.client.get("/inbox", headers=basic(gateway))).json()
        return got or None
    [item] = await wait_for(listed, "the SMS in the inbox")
    at = item["createdAt"]
    edge = await gateway.client.get("/inbox", params={"from": at, "to": at},
                                    headers=basic(gateway))
    assert [m["id"] for m in edge.json()] == [item["id"]], edge.text
    sent = await gateway.client.post("/messages", headers=basic(gateway), json={
        "id": "edge", "phoneNumbers": ["+8613800138000"], "textMessage": {"text": "x"}})
    created = sent.json()["createdAt"]
    edge = await gateway.client.get("/messages", params={"from": created, "to": created},
                                    headers=basic(gateway))
    assert [m["id"] for m in edge.json()] == ["edge"], edge.text
