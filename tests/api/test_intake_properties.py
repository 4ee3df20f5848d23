"""Property: whatever body a client posts, the API answers 202 or a 4xx JSON error naming a
field, never a 500; and every message it accepted reads back and can be cancelled (or is past
cancelling: 409). The bodies are mostly valid requests with one or more fields made odd: odd
types, huge or non-finite numbers (written as NaN/Infinity literals, which Python's parsers
accept), times at the calendar's ends and at ±14:00, strings with surrogates and controls.

The gateway runs on its own event loop in a thread, so hypothesis drives plain synchronous
examples against the real server over HTTP.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Gateway, running_in_thread

pytestmark = pytest.mark.slow  # end to end: run with -m 'not slow' for the fast layer

MESSAGES = "/api/v1/messages"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, httpx.Client]]:
    tmp = tmp_path_factory.mktemp("properties")
    with running_in_thread(tmp, modems=1) as (gateway, _loop), \
            httpx.Client(base_url=gateway.base_url, headers=gateway.auth(), timeout=20) as client:
        yield gateway, client


_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-14)),
                          timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30))])
_ANY_TIME = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59),
                         timezones=_ZONES).map(lambda d: d.isoformat())
_NEAR_TIME = st.builds(lambda delta, zone: (datetime.now(UTC) + delta).astimezone(zone).isoformat(),
                       st.timedeltas(min_value=timedelta(days=-800), max_value=timedelta(days=800)),
                       _ZONES)
_NUMBERS = st.one_of(st.integers(min_value=-(2**80), max_value=2**80),
                     st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from([0, 1, -1, 0.5, 1e308, 10**20, 63 * 7 * 86400 + 1]))
_STRINGS = st.one_of(st.text(max_size=30), st.sampled_from(
    ["", " ", "\ud800", "a\x00b", "\x85", "长" * 700, "+8613800138000", "13800138000", "NaN",
     "2026-13-45T99:99", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+00:00"]))
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, _STRINGS, _ANY_TIME, _NEAR_TIME)
_ODD = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3),
                 st.dictionaries(st.text(max_size=5), _SCALARS, max_size=3))

_GOOD = {
    "to": st.one_of(st.just("+8613800138000"),
                    st.lists(st.sampled_from(["+8613800138001", "+8618600000002", "13900000003"]),
                             min_size=1, max_size=3)),
    "text": st.sampled_from(["hello", "长消息" * 30, "tab\tand\nnewline"]),
    "priority": st.integers(0, 20),
    "category": st.sampled_from(["notice", "alert", "bulk", "otp"]),
    "send_at": _NEAR_TIME,
    "ttl": st.one_of(st.integers(1, 86400), st.floats(1.0, 1e6)),
    "client_ref": st.text(st.characters(min_codepoint=48, max_codepoint=122), min_size=1,
                          max_size=8),
}


@st.composite
def bodies(draw: st.DrawFn) -> dict:
    body = {"to": draw(_GOOD["to"]), "text": draw(_GOOD["text"])}
    for name in draw(st.sets(st.sampled_from(sorted(_GOOD)), max_size=4)):
        body[name] = draw(_GOOD[name])
    for name in draw(st.sets(st.sampled_from([*sorted(_GOOD), "colour"]), max_size=2)):
        body[name] = draw(_ODD)
    return body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies())
def test_any_body_is_accepted_or_refused_naming_a_field_and_what_is_stored_reads_back(
        live: tuple[Gateway, httpx.Client], body: dict) -> None:
    _, client = live
    raw = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
    response = client.post(MESSAGES, content=raw, headers={"Content-Type": "application/json"})
    event(f"status {response.status_code}")
    assert response.status_code == 202 or 400 <= response.status_code < 500, response.text
    if response.status_code != 202:
        error = response.json()["error"]
        assert error["field"] and error["message"], error
        return
    for msg in response.json()["messages"]:
        got = client.get(f"{MESSAGES}/{msg['id']}")
        assert got.status_code == 200, got.text
        assert got.json()["to"] == msg["to"]
        cancelled = client.delete(f"{MESSAGES}/{msg['id']}")
        assert cancelled.status_code in (200, 409), cancelled.text


def test_after_the_hostile_bodies_the_gateway_still_sends(
        live: tuple[Gateway, httpx.Client]) -> None:
    gateway, client = live
    assert client.get("/api/v1/health").json()["status"] == "ok"
    posted = client.post(MESSAGES, json={"to": "+8613800138099", "text": "still here"})
    assert posted.status_code == 202
    msg_id = posted.json()["messages"][0]["id"]
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while datetime.now(UTC) < deadline:
        state = client.get(f"{MESSAGES}/{msg_id}").json()["state"]
        if state in ("sent", "delivered"):
            return
        threading.Event().wait(0.1)
    pytest.fail(f"message {msg_id} was not sent after the hostile bodies (state {state})")
