"""Review: the Android door's listing parameters at their edges are 400s, never a 500."""

from __future__ import annotations

import pytest

from tests.api.conftest import Gateway
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
