"""No single request can hurt the gateway: out-of-range times and non-finite numbers are refused
naming the field with nothing stored, what is accepted reads back and can be cancelled, and the
HTTP edges (HEAD, a stalled body, oversized headers, replays with other options) answer as a
client can act on."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from appliance.dispatch import intake
from appliance.store.apikeys import create_api_key
from tests.api.conftest import Gateway
from tests.api.test_messages import _error, message_count

MESSAGES = "/api/v1/messages"
TO = "+8613800138000"


def _raw(**fields: str) -> bytes:
    """A body whose listed fields are written as raw JSON text (NaN is not valid JSON)."""
    base = {"to": f'"{TO}"', "text": '"x"', **fields}
    return ("{" + ", ".join(f'"{k}": {v}' for k, v in base.items()) + "}").encode()


REFUSED = [
    (_raw(send_at='"0001-01-01T00:00:00+00:00"'), "send_at", "out of range"),
    (_raw(send_at='"0001-01-01T00:00:00+14:00"'), "send_at", "out of range"),
    (_raw(send_at='"9999-12-31T23:59:59-14:00"'), "send_at", "out of range"),
    (_raw(send_at='"9999-12-31T23:59:59+00:00"'), "send_at", "a year ahead"),
    (_raw(send_at='"1999-12-31T23:59:59+00:00"'), "send_at", "before 2000"),
    (_raw(send_at='"2026-01-01T00:00:00+24:00"'), "send_at", "ISO 8601"),
    (_raw(send_at='"' + "9" * 5000 + '"'), "send_at", "ISO 8601"),
    (_raw(ttl="NaN"), "ttl", "finite"),
    (_raw(ttl="Infinity"), "ttl", "finite"),
    (_raw(ttl="-Infinity"), "ttl", "finite"),
    (_raw(ttl="1e999"), "ttl", "finite"),
    (_raw(ttl="0"), "ttl", "> 0"),
    (_raw(ttl="-5"), "ttl", "> 0"),
    (_raw(ttl="1e300"), "ttl", "63 weeks"),
    (_raw(ttl=str(10**30)), "ttl", "63 weeks"),
    (_raw(ttl="true"), "ttl", "seconds"),
    (_raw(priority="NaN"), "priority", "finite"),
    (_raw(priority="5.0"), "priority", "whole number"),
    (_raw(priority=str(2**70)), "priority", "whole number"),
    (_raw(to=f'["{TO}", NaN]'), "to", "to[1]"),
    (_raw(text='{"a": [1, Infinity]}'), "text", "text.a[1]"),
]


@pytest.mark.parametrize(("body", "field", "says"), REFUSED,
                         ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(REFUSED)])
async def test_out_of_range_and_non_finite_values_are_400_naming_the_field(
        gateway: Gateway, body: bytes, field: str, says: str) -> None:
    response = await gateway.post(MESSAGES, content=body,
                                  headers={"Content-Type": "application/json"})
    error = _error(response, 400)
    assert error["field"] == field and says in error["message"], error
    assert message_count(gateway) == 0


async def test_a_past_send_at_is_sent_now_not_silently_expired(gateway: Gateway) -> None:
    past = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    response = await gateway.post(MESSAGES, json={"to": TO, "text": "late", "send_at": past,
                                                  "ttl": 600})
    assert response.status_code == 202, response.text
    (msg,) = response.json()["messages"]
    view = (await gateway.get(f"{MESSAGES}/{msg['id']}")).json()
    assert view["send_at"] == datetime.fromisoformat(past).isoformat()  # kept as asked
    expires = datetime.fromisoformat(view["expires_at"])
    assert expires > datetime.now(UTC) + timedelta(seconds=500)  # counted from acceptance
    done = await gateway.wait_message(msg["id"], {"sent", "delivered", "expired"})
    assert done["state"] in ("sent", "delivered")


@pytest.mark.parametrize("when", ["earliest", "latest-west", "latest-east"])
async def test_the_extreme_accepted_times_read_back_and_cancel(gateway: Gateway,
                                                              when: str) -> None:
    now = datetime.now(UTC)
    if when == "earliest":
        send_at = intake.SEND_AT_EARLIEST.isoformat()
    else:
        offset = timedelta(hours=-14 if when == "latest-west" else 14)
        latest = now + intake.MAX_SCHEDULE_AHEAD - timedelta(minutes=1)
        send_at = latest.astimezone(__import__("datetime").timezone(offset)).isoformat()
    body = {"to": TO, "text": "edge", "send_at": send_at, "ttl": intake.MAX_TTL}
    if when != "earliest":
        body["client_ref"] = f"edge-{when}"
    response = await gateway.post(MESSAGES, json=body)
    assert response.status_code == 202, response.text
    (msg,) = response.json()["messages"]
    got = await gateway.get(f"{MESSAGES}/{msg['id']}")
    assert got.status_code == 200, got.text
    view = got.json()
    assert datetime.fromisoformat(view["send_at"]) == datetime.fromisoformat(send_at)
    assert datetime.fromisoformat(view["expires_at"]) > now
    if when != "earliest":  # the same again is a replay (the same id), not a conflict
        again = await gateway.post(MESSAGES, json=body)
        assert again.status_code == 202 and again.json()["messages"] == [msg]
        cancelled = await gateway.delete(f"{MESSAGES}/{msg['id']}")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    # Stored padded and in time order as text (SQLite compares the strings).
    with contextlib.closing(sqlite3.connect(gateway.db_path)) as conn:
        stored = conn.execute("SELECT send_at FROM message WHERE id = ?", (msg["id"],)).fetchone()
    assert len(stored[0]) == len("2026-01-02 03:04:05.000000")


# -- replays --------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "field"), [
    ({"priority": 15}, "priority"),
    ({"category": "alert"}, "category"),
    ({"ttl": 7200}, "ttl"),
    ({"send_at": "2099-01-01T00:00:00+00:00"}, "send_at"),
])
async def test_a_replayed_client_ref_with_other_options_is_409(gateway: Gateway, change: dict,
                                                               field: str) -> None:
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    body = {"to": TO, "text": "same text", "client_ref": f"opt-{field}", "send_at": later,
            "ttl": 3600, "priority": 10}
    first = await gateway.post(MESSAGES, json=body)
    assert first.status_code == 202, first.text
    if field == "send_at":
        change = {"send_at": (datetime.now(UTC) + timedelta(hours=3)).isoformat()}
    error = _error(await gateway.post(MESSAGES, json={**body, **change}), 409)
    assert error["code"] == "client_ref_conflict" and field in error["message"]
    again = await gateway.post(MESSAGES, json=body)  # the very same request: a replay
    assert again.status_code == 202 and again.json()["messages"] == first.json()["messages"]
    assert message_count(gateway) == 1


# -- health and HEAD ------------------------------------------------------------------------

async def test_health_is_503_degraded_with_the_reasons_when_the_dispatcher_has_problems(
        gateway: Gateway) -> None:
    dispatcher = gateway.appliance.dispatcher
    dispatcher.problems = lambda: ["scheduling round failing: ValueError: boom (x12)"]
    response = await gateway.get("/api/v1/health", key=None)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["problems"] == ["scheduling round failing: ValueError: boom (x12)"]
    head = await gateway.client.head("/api/v1/health")
    assert head.status_code == 503 and head.content == b""
    dispatcher.problems = lambda: []
    response = await gateway.get("/api/v1/health", key=None)
    assert response.status_code == 200 and response.json()["problems"] == []


async def test_head_works_on_every_get_route(gateway: Gateway) -> None:
    posted = await gateway.post(MESSAGES, json={"to": TO, "text": "head",
                                                "send_at": (datetime.now(UTC) + timedelta(
                                                    hours=1)).isoformat()})
    msg_id = posted.json()["messages"][0]["id"]
    # Kannel's GET /cgi-bin/sendsms and playSMS's GET /index.php?app=ws&op=pv send a message:
    # HEAD must not, so it is not offered there.
    # The web console's pages (`/`, console/..., static/...) are the browser's, tested in
    # tests/web: they answer a stranger with a redirect to the login page.
    routes = [route for route in gateway.app.router.routes if "GET" in route.methods
              and not route.path.startswith(("cgi-bin/", "console", "static"))
              and route.path not in ("index.php", "")]
    assert len(routes) >= 3
    # Some listings are the admin's alone (the forbidden-word list, signatures).
    # Through the appliance's own writer: a second connection opened on the event loop would
    # block it, and wait on a write lock the writer may hold meanwhile ("database is locked").
    admin = await gateway.appliance.store.write(
        lambda: create_api_key("head-admin", ["admin"]))
    for route in routes:
        path = "/" + route.path.replace("<message_id:int>", str(msg_id))
        # Other ids name nothing here (404 to both); a number names an empty thread (200).
        path = re.sub(r"<[a-z_]+:int>", "424242", path).replace("<number:str>", TO)
        # The Android API's message ids are strings, and its login is HTTP Basic.
        path = path.replace("<android_id:str>", "424242")
        auth = gateway.auth()
        if getattr(route.handler, "required_scope", None) == "admin":
            auth = {"Authorization": f"Bearer {admin}"}
        if route.path.split("/")[0] in ("messages", "webhooks", "inbox", "health"):
            basic = base64.b64encode(f"full:{gateway.keys['full']}".encode()).decode()
            auth = {"Authorization": f"Basic {basic}"}
        got = await gateway.client.get(path, headers=auth)
        head = await gateway.client.head(path, headers=auth)
        assert head.status_code == got.status_code == (404 if "424242" in path else 200), path
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]


# -- raw HTTP: a stalled body, oversized headers ----------------------------------------------

async def _exchange(gateway: Gateway, data: bytes, *, then_wait: float = 10.0) -> bytes:
    host, port = gateway.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), then_wait)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _status_and_body(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


async def test_a_client_that_stops_sending_its_body_gets_408(gateway: Gateway) -> None:
    gateway.app.config.RESPONSE_TIMEOUT = 1  # read by each new connection
    key = gateway.keys["full"]
    head = (f"POST {MESSAGES} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n").encode()
    raw = await _exchange(gateway, head + b'{"to": "+86138')  # ... and nothing more
    status, body = _status_and_body(raw)
    assert status == 408
    assert body["error"]["code"] == "timeout" and "did not arrive" in body["error"]["message"]


async def test_oversized_headers_are_431_naming_the_header_limit(gateway: Gateway) -> None:
    limit = gateway.app.config.REQUEST_MAX_HEADER_SIZE
    request = (f"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Junk: {'a' * (limit + 100)}"
               "\r\n\r\n").encode()
    status, body = _status_and_body(await _exchange(gateway, request))
    assert status == 431
    assert f"at most {limit} bytes" in body["error"]["message"]
    assert "header" in body["error"]["message"]
    assert str(gateway.app.config.REQUEST_MAX_SIZE) not in body["error"]["message"]
