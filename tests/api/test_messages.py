"""`POST/GET/DELETE /api/v1/messages` against the real appliance and simulated modems."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import Gateway

MESSAGES = "/api/v1/messages"


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    assert "Traceback" not in response.text
    return error


def sent_to(gw: Gateway, recipient: str) -> list[tuple[int, Any]]:
    """(modem index, AcceptedPdu) for every PDU the simulators took for `recipient`."""
    return [(i, a) for i, modem in enumerate(gw.fleet.modems) for a in modem.accepted
            if a.submit.to == recipient]


def message_count(gw: Gateway) -> int:
    """Rows in the real SQLite file, read with sqlite3 beside the appliance (open_database would
    re-point the appliance's own models at a second handle)."""
    with contextlib.closing(sqlite3.connect(gw.db_path)) as conn:
        return conn.execute("SELECT COUNT(*) FROM message").fetchone()[0]


# -- accepting and sending ----------------------------------------------------------------------

async def test_single_recipient_is_accepted_sent_and_reported(gateway: Gateway) -> None:
    text = "你好，cardgate 🚀 测试"
    response = await gateway.post(MESSAGES, json={"to": "+8613800138000", "text": text})
    assert response.status_code == 202, response.text
    body = response.json()
    assert [m["to"] for m in body["messages"]] == ["+8613800138000"]
    assert body["parts"] == 1 and body["encoding"] == "ucs2"
    message_id = body["messages"][0]["id"]
    assert isinstance(message_id, int)

    view = await gateway.wait_message(message_id, {"sent", "delivered"})
    records = sent_to(gateway, "+8613800138000")
    assert len(records) == 1, "sent more or less than once"
    index, accepted = records[0]
    assert accepted.submit.text == text
    modem = gateway.fleet.modems[index]
    assert view["to"] == "+8613800138000" and view["text"] == text
    assert view["sim"] == modem.profile.iccid
    assert view["parts_count"] == 1
    assert len(view["parts"]) == 1
    part = view["parts"][0]
    assert part["message_reference"] == accepted.message_reference
    assert part["sim"] == modem.profile.iccid
    assert part["state"] in {"sent", "delivered"}
    assert view["sent_at"] is not None
    assert [e["to"] for e in view["events"]][0] == "queued"


async def test_list_of_recipients_gets_one_id_each_and_numbers_are_normalised(
        gateway: Gateway) -> None:
    to = ["13800138000", "+86 139 0013 9000", "008618600186000"]
    want = ["+8613800138000", "+8613900139000", "+8618600186000"]
    response = await gateway.post(MESSAGES, json={"to": to, "text": "group notice"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert [m["to"] for m in body["messages"]] == want
    ids = [m["id"] for m in body["messages"]]
    assert len(set(ids)) == 3
    for message_id, recipient in zip(ids, want, strict=True):
        view = await gateway.wait_message(message_id, {"sent", "delivered"})
        assert view["to"] == recipient
        assert [a.submit.text for _, a in sent_to(gateway, recipient)] == ["group notice"]


async def test_long_text_goes_in_parts_through_one_sim(gateway: Gateway) -> None:
    text = "长消息" * 50  # 150 UCS2 characters: 3 parts of at most 67
    response = await gateway.post(MESSAGES, json={"to": "+8613800138001", "text": text})
    assert response.status_code == 202
    body = response.json()
    assert body["parts"] == 3 and body["encoding"] == "ucs2"
    view = await gateway.wait_message(body["messages"][0]["id"], {"sent", "delivered"})
    records = sent_to(gateway, "+8613800138001")
    assert len(records) == 3
    assert {i for i, _ in records} == {records[0][0]}, "parts left through different SIMs"
    ordered = sorted((a.submit.concat.index, a.submit.text) for _, a in records)
    assert "".join(t for _, t in ordered) == text
    assert [p["index"] for p in view["parts"]] == [1, 2, 3]
    assert sorted(p["message_reference"] for p in view["parts"]) == sorted(
        a.message_reference for _, a in records)


async def test_client_ref_retry_returns_the_same_ids_and_sends_once(gateway: Gateway) -> None:
    request = {"to": ["+8613800138002", "+8613800138003"], "text": "once", "client_ref": "r-1"}
    first = await gateway.post(MESSAGES, json=request)
    second = await gateway.post(MESSAGES, json=request)
    assert first.status_code == second.status_code == 202
    assert first.json()["messages"] == second.json()["messages"]
    for m in first.json()["messages"]:
        await gateway.wait_message(m["id"], {"sent", "delivered"})
    third = await gateway.post(MESSAGES, json=request)  # a retry after sending, too
    assert third.json()["messages"] == first.json()["messages"]
    assert len(sent_to(gateway, "+8613800138002")) == 1
    assert len(sent_to(gateway, "+8613800138003")) == 1
    assert message_count(gateway) == 2


async def test_same_client_ref_with_other_text_is_409(gateway: Gateway) -> None:
    first = await gateway.post(MESSAGES, json={"to": "+8613800138004", "text": "a",
                                               "client_ref": "r-2"})
    assert first.status_code == 202
    error = _error(await gateway.post(MESSAGES, json={"to": "+8613800138004", "text": "b",
                                                      "client_ref": "r-2"}), 409)
    assert error["code"] == "client_ref_conflict"
    assert "r-2" in error["message"] and error["field"] == "client_ref"
    assert message_count(gateway) == 1


async def test_client_refs_are_per_key(gateway: Gateway) -> None:
    """Two devices that happen to pick the same client_ref are not each other's retries."""
    a = await gateway.post(MESSAGES, json={"to": "+8613800138005", "text": "x",
                                           "client_ref": "same"})
    b = await gateway.post(MESSAGES, key="sender", json={"to": "+8613800138005", "text": "y",
                                                         "client_ref": "same"})
    assert a.status_code == b.status_code == 202
    assert a.json()["messages"][0]["id"] != b.json()["messages"][0]["id"]


# -- validation: every error names the field, and nothing is stored -----------------------------

BAD_BODIES = [
    ({"to": "12", "text": "x"}, "to"),
    ({"to": ["+8613800138000", "not a number"], "text": "x"}, "to[1]"),
    ({"to": ["+8613800138000", 13800138000], "text": "x"}, "to[1]"),
    ({"to": [], "text": "x"}, "to"),
    ({"to": 13800138000, "text": "x"}, "to"),
    ({"text": "x"}, "to"),
    ({"to": "+8613800138000", "text": ""}, "text"),
    ({"to": "+8613800138000", "text": "   "}, "text"),
    ({"to": "+8613800138000"}, "text"),
    ({"to": "+8613800138000", "text": 5}, "text"),
    ({"to": "+8613800138000", "text": "长" * 700}, "text"),
    ({"to": "+8613800138000", "text": "x", "colour": "red"}, "colour"),
    ({"to": "+8613800138000", "text": "x", "send_at": "tomorrow"}, "send_at"),
    ({"to": "+8613800138000", "text": "x", "send_at": 1700000000}, "send_at"),
    ({"to": "+8613800138000", "text": "x", "send_at": "2030-01-01T09:00"}, "send_at"),
    ({"to": "+8613800138000", "text": "x", "category": "spam"}, "category"),
    ({"to": "+8613800138000", "text": "x", "category": ["alert"]}, "category"),
    ({"to": "+8613800138000", "text": "x", "priority": "high"}, "priority"),
    ({"to": "+8613800138000", "text": "x", "priority": 1000}, "priority"),
    ({"to": "+8613800138000", "text": "x", "ttl": "1h"}, "ttl"),
    ({"to": "+8613800138000", "text": "x", "client_ref": 7}, "client_ref"),
    ({"to": "+8613800138000", "text": "x", "client_ref": "r" * 101}, "client_ref"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES,
                         ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD_BODIES)])
async def test_invalid_request_is_400_naming_the_field(gateway: Gateway, body: dict,
                                                       field: str) -> None:
    error = _error(await gateway.post(MESSAGES, json=body), 400)
    assert error["field"] == field
    assert error["message"].startswith(f"{field}:") or repr(field) in error["message"]
    assert message_count(gateway) == 0


async def test_invalid_number_message_names_the_input(gateway: Gateway) -> None:
    error = _error(await gateway.post(MESSAGES, json={
        "to": ["+8613800138000", "+8613800138001", "12345"], "text": "x"}), 400)
    assert error["field"] == "to[2]" and "12345" in error["message"]


async def test_batch_with_one_bad_recipient_is_rejected_whole(gateway: Gateway) -> None:
    to = [f"+86138001380{i:02d}" for i in range(20)] + ["bogus"]
    error = _error(await gateway.post(MESSAGES, json={"to": to, "text": "all or none"}), 400)
    assert error["field"] == "to[20]"
    assert message_count(gateway) == 0
    assert all(not m.accepted for m in gateway.fleet.modems)


@pytest.mark.parametrize(("content", "headers", "expect"), [
    (b'{"to": "+8613800138000", "text": ', {"Content-Type": "application/json"}, "not valid JSON"),
    (b"to=%2B8613800138000&text=hi", {"Content-Type": "application/x-www-form-urlencoded"},
     "application/x-www-form-urlencoded"),
    (b"", {}, "JSON object"),
    (b'["+8613800138000", "hi"]', {"Content-Type": "application/json"}, "JSON object"),
    (b'"hello"', {"Content-Type": "application/json"}, "JSON object"),
    (b"\xff\xfe\x00", {"Content-Type": "application/json"}, "not valid JSON"),
])
async def test_body_that_is_not_a_json_object_is_400(gateway: Gateway, content: bytes,
                                                     headers: dict, expect: str) -> None:
    error = _error(await gateway.post(MESSAGES, content=content, headers=headers), 400)
    assert error["code"] == "invalid_json"
    assert expect in error["message"]
    assert message_count(gateway) == 0


async def test_json_body_without_content_type_is_still_accepted(gateway: Gateway) -> None:
    """`curl -d '{...}'` sends form encoding's Content-Type; the JSON body is what counts."""
    response = await gateway.post(
        MESSAGES, content=b'{"to": "+8613800138009", "text": "curl -d"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 202, response.text


async def test_too_large_body_is_413_json(gateway: Gateway) -> None:
    # Raw HTTP: the server answers from the headers and closes without reading 9 MB, which an
    # HTTP client still uploading sees as a broken connection rather than the answer.
    host, port = gateway.base_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    size = 9 * 1024 * 1024
    writer.write((f"POST {MESSAGES} HTTP/1.1\r\nHost: {host}\r\n"
                  f"Authorization: Bearer {gateway.keys['full']}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
                  '{"to": "+8613800138000", "text": "').encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split(b" ")[1] == b"413", head
    assert b"application/json" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "too_large"
    assert "too large" in error["message"].lower() or "size limit" in error["message"]
    assert message_count(gateway) == 0


# -- reading, routes and methods ----------------------------------------------------------------

async def test_unknown_message_id_is_404_json(gateway: Gateway) -> None:
    error = _error(await gateway.get(f"{MESSAGES}/424242"), 404)
    assert error["code"] == "not_found" and "424242" in error["message"]
    error = _error(await gateway.get(f"{MESSAGES}/{2**70}"), 404)
    assert str(2**70) in error["message"]
    error = _error(await gateway.delete(f"{MESSAGES}/424242"), 404)
    assert "424242" in error["message"]


async def test_unknown_route_is_404_json(gateway: Gateway) -> None:
    error = _error(await gateway.get("/api/v1/nothing-here"), 404)
    assert error["code"] == "not_found" and "/api/v1/nothing-here" in error["message"]
    error = _error(await gateway.get(f"{MESSAGES}/abc"), 404)
    assert "/api/v1/messages/abc" in error["message"]


async def test_the_listing_filters_pages_and_shows_only_the_callers_own(
        gateway: Gateway) -> None:
    ids = []
    for n, to in enumerate(("+8613800138001", "+8613800138002", "+8613800138001")):
        response = await gateway.post(MESSAGES, json={"to": to, "text": f"m{n}",
                                                      "client_ref": f"ref-{n}"})
        ids.append(response.json()["messages"][0]["id"])
    other = await gateway.post(MESSAGES, key="sender", json={"to": "+8613800138009",
                                                             "text": "another key's"})
    other_id = other.json()["messages"][0]["id"]
    for mid in ids:
        await gateway.wait_message(mid, {"sent", "delivered"})
    page = (await gateway.get(MESSAGES)).json()
    assert [m["id"] for m in page["messages"]] == ids[::-1]  # newest first, its own only
    assert page["next_before"] == ids[0]
    first = page["messages"][-1]
    assert (first["to"], first["text"], first["client_ref"]) == ("+8613800138001", "m0",
                                                                 "ref-0")
    assert first["state"] in ("sent", "delivered") and first["sim"]
    assert "parts" not in first and "events" not in first
    assert other_id not in [m["id"] for m in page["messages"]]
    got = (await gateway.get(f"{MESSAGES}?to=13800138001&order=asc")).json()
    assert [m["id"] for m in got["messages"]] == [ids[0], ids[2]]
    assert (await gateway.get(f"{MESSAGES}?client_ref=ref-1")).json()["messages"][0][
        "id"] == ids[1]
    paged = (await gateway.get(f"{MESSAGES}?since={ids[0]}&limit=1")).json()
    assert [m["id"] for m in paged["messages"]] == [ids[1]] and paged["next_since"] == ids[1]
    assert (await gateway.get(f"{MESSAGES}?state=queued,failed")).json()["messages"] == []
    assert (await gateway.get(f"{MESSAGES}?before={ids[0]}")).json() == {
        "messages": [], "next_before": ids[0]}


@pytest.mark.parametrize(("query", "field", "needle"), [
    ("state=sideways", "state", "sideways"), ("to=12", "to", "12"), ("limit=0", "limit", "1"),
    ("since=-1", "since", "-1"), ("sice=3", "sice", "unknown parameter"),
    ("created_from=yesterday", "created_from", "ISO 8601"), ("limit=1&limit=2", "limit", "once"),
    ("created_from=2026-12-02T00:00:00Z&created_to=2026-12-01T00:00:00Z", "created_to",
     "before"),
    # valid ISO 8601 with no UTC equivalent: was a 500 (OverflowError in the store)
    ("created_from=9999-12-31T23:59:59-23:59", "created_from", "range"),
    ("created_to=0001-01-01T00:00:00%2B14:00", "created_to", "range"),
])
async def test_a_bad_listing_parameter_is_a_400_naming_it(gateway: Gateway, query: str,
                                                          field: str, needle: str) -> None:
    error = _error(await gateway.get(f"{MESSAGES}?{query}"), 400)
    assert error["field"] == field and needle in error["message"]


async def test_wrong_method_is_405_json(gateway: Gateway) -> None:
    response = await gateway.client.put(MESSAGES, json={})
    error = _error(response, 405)
    assert error["code"] == "method_not_allowed"
    assert "PUT" in error["message"] and "POST" in error["message"]
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    response = await gateway.client.patch(f"{MESSAGES}/1")
    assert _error(response, 405)
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "DELETE"}


# -- cancelling ---------------------------------------------------------------------------------

async def test_cancel_a_scheduled_message_before_it_is_due(gateway: Gateway) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=2)
    later = soon + timedelta(seconds=1)
    first = await gateway.post(MESSAGES, json={
        "to": "+8613800138010", "text": "cancel me", "send_at": soon.isoformat()})
    assert first.status_code == 202
    message_id = first.json()["messages"][0]["id"]
    view = (await gateway.get(f"{MESSAGES}/{message_id}")).json()
    assert view["state"] == "queued"
    assert view["send_at"].startswith(soon.replace(microsecond=0).isoformat()[:19])

    response = await gateway.delete(f"{MESSAGES}/{message_id}")
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "cancelled"

    # A message due after the cancelled one: once it has gone, the cancelled one had its chance.
    second = await gateway.post(MESSAGES, json={
        "to": "+8613800138011", "text": "after", "send_at": later.isoformat().replace(
            "+00:00", "Z")})
    await gateway.wait_message(second.json()["messages"][0]["id"], {"sent", "delivered"})
    assert sent_to(gateway, "+8613800138010") == []
    view = (await gateway.get(f"{MESSAGES}/{message_id}")).json()
    assert view["state"] == "cancelled"
    assert view["final_at"] is not None


async def test_cancelling_a_sent_message_is_409(gateway: Gateway) -> None:
    response = await gateway.post(MESSAGES, json={"to": "+8613800138012", "text": "gone"})
    message_id = response.json()["messages"][0]["id"]
    await gateway.wait_message(message_id, {"sent", "delivered"})
    error = _error(await gateway.delete(f"{MESSAGES}/{message_id}"), 409)
    assert error["code"] == "not_cancellable" and str(message_id) in error["message"]
    view = (await gateway.get(f"{MESSAGES}/{message_id}")).json()
    assert view["state"] in {"sent", "delivered"}


async def test_cancelling_twice_is_409(gateway: Gateway) -> None:
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = await gateway.post(MESSAGES, json={"to": "+8613800138013", "text": "x",
                                                  "send_at": future})
    message_id = response.json()["messages"][0]["id"]
    assert (await gateway.delete(f"{MESSAGES}/{message_id}")).status_code == 200
    error = _error(await gateway.delete(f"{MESSAGES}/{message_id}"), 409)
    assert "cancelled" in error["message"]


# -- never a stack trace ------------------------------------------------------------------------

async def test_internal_error_is_a_json_500_without_a_trace(gateway: Gateway) -> None:
    await gateway.appliance.store.stop()  # every read and write now fails inside the handler
    for response in (await gateway.get(f"{MESSAGES}/1"),
                     await gateway.post(MESSAGES, json={"to": "+8613800138000", "text": "x"})):
        error = _error(response, 500)
        assert error["code"] == "internal"
        assert "Store" not in error["message"] and "RuntimeError" not in response.text
