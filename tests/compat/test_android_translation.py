"""The Android API's pure translation (compat.android_api) and its webhook rendering
(webhooks.android), from tables."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from appliance.compat import android_api as aa
from appliance.webhooks import android as hooks

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("states", "overall"), [
    (["Pending"], "Pending"),
    (["Pending", "Delivered"], "Pending"),
    (["Processed", "Pending"], "Pending"),
    (["Processed", "Sent"], "Processed"),
    (["Sent", "Delivered"], "Sent"),
    (["Delivered", "Delivered"], "Delivered"),
    (["Delivered", "Failed"], "Sent"),  # the app: Failed only when every recipient failed
    (["Failed", "Failed"], "Failed"),
    (["Sent", "Failed"], "Sent"),
    (["Cancelled", "Delivered"], "Delivered"),
    (["Cancelled", "Cancelled"], "Cancelled"),
    (["Failed", "Cancelled"], "Failed"),
])
def test_overall_state(states: list[str], overall: str) -> None:
    assert aa.overall_state(states) == overall


@pytest.mark.parametrize(("ours", "android"), [
    ("queued", "Pending"), ("sending", "Processed"), ("sent", "Sent"), ("ambiguous", "Sent"),
    ("delivered", "Delivered"), ("failed", "Failed"), ("expired", "Failed"),
    ("cancelled", "Cancelled"),
])
def test_every_state_of_ours_has_an_android_name(ours: str, android: str) -> None:
    assert aa.STATE_OF[ours] == android


def test_read_send_maps_priority_ttl_and_keeps_the_id() -> None:
    send = aa.read_send({"phoneNumbers": ["+8613800138000"], "textMessage": {"text": "hi"},
                         "id": "abc", "priority": 100, "simNumber": 2,
                         "validUntil": (NOW + timedelta(hours=1)).isoformat()}, NOW)
    assert (send.id, send.category, send.sim_number, send.ttl) == ("abc", "alert", 2, 3600.0)
    assert aa.read_send({"phoneNumbers": ["1"], "message": "x", "priority": -1},
                        NOW).category == "marketing"
    made = aa.read_send({"phoneNumbers": ["1"], "message": "x"}, NOW)
    assert len(made.id) == 21 and made.category == "notice" and made.ttl is None


def test_message_state_answer() -> None:
    rows = [{"recipient": "+1", "state": "delivered", "error": "", "created_at": NOW},
            {"recipient": "+2", "state": "failed", "error": "number not assigned",
             "created_at": NOW}]
    events = [("sending", NOW + timedelta(seconds=1)), ("sent", NOW + timedelta(seconds=2)),
              ("failed", NOW + timedelta(seconds=2)),
              ("delivered", NOW + timedelta(seconds=3))]
    assert aa.message_state("m", rows, events) == {
        "id": "m", "state": "Sent",
        "recipients": [{"phoneNumber": "+1", "state": "Delivered"},
                       {"phoneNumber": "+2", "state": "Failed",
                        "error": "number not assigned"}],
        "states": {"Pending": "2026-12-01T08:00:00Z", "Processed": "2026-12-01T08:00:01Z",
                   "Sent": "2026-12-01T08:00:02Z", "Failed": "2026-12-01T08:00:02Z",
                   "Delivered": "2026-12-01T08:00:03Z"},
        "isHashed": False, "isEncrypted": False, "createdAt": "2026-12-01T08:00:00Z"}


def test_refused_recipients_take_their_place_in_the_request() -> None:
    numbers = ["+1", "+2", "+3", "+2"]
    refused = aa.refused_in_order(numbers, ["+2", "+3"],
                                  [("+2", "duplicate"), ("+1", "blacklisted: TD")])
    assert refused == [(0, "+1", "blacklisted: TD"), (3, "+2", "duplicate")]
    rows = [{"recipient": "+2", "state": "queued", "error": "", "created_at": NOW},
            {"recipient": "+3", "state": "delivered", "error": "", "created_at": NOW}]
    answer = aa.message_state("m", rows, [], [
        {"position": p, "recipient": n, "error": e} for p, n, e in refused])
    assert answer["recipients"] == [
        {"phoneNumber": "+1", "state": "Failed", "error": "blacklisted: TD"},
        {"phoneNumber": "+2", "state": "Pending"},
        {"phoneNumber": "+3", "state": "Delivered"},
        {"phoneNumber": "+2", "state": "Failed", "error": "duplicate"}]
    assert answer["state"] == "Pending"


def test_a_message_whose_accepted_recipients_were_all_cancelled_is_cancelled() -> None:
    """Refusals stay Failed each, but do not outweigh the cancellation of the others."""
    rows = [{"recipient": "+2", "state": "cancelled", "error": "", "created_at": NOW}]
    refused = [{"position": 1, "recipient": "+2", "error": "duplicate"}]
    answer = aa.message_state("m", rows, [], refused)
    assert answer["state"] == "Cancelled"
    assert [r["state"] for r in answer["recipients"]] == ["Cancelled", "Failed"]
    rows.append({"recipient": "+3", "state": "failed", "error": "", "created_at": NOW})
    assert aa.message_state("m", rows, [], refused)["state"] == "Failed"


@pytest.mark.parametrize(("status", "problems", "ready", "android", "http"), [
    ("ok", [], 2, "pass", 200),
    ("degraded", ["SIM 8986 failing: no network"], 1, "warn", 200),
    ("degraded", ["SIM 8986 failing: no network"], 0, "fail", 503),
    ("starting", [], 0, "fail", 503),
])
def test_health_answer(status: str, problems: list[str], ready: int, android: str,
                       http: int) -> None:
    body, code = aa.health_answer({"status": status, "problems": problems,
                                   "version": "0.1.0", "uptime_seconds": 3.0,
                                   "modems": {"total": 2, "ready": ready}})
    assert (body["status"], code) == (android, http)
    assert body["version"] == "0.1.0" and body["releaseId"] == 100
    assert body["checks"]["modems:ready"]["observedValue"] == ready
    assert body["checks"]["gateway:problems"]["observedValue"] == len(problems)
    assert all(c["description"] for c in body["checks"].values())


def test_webhook_body_and_signature() -> None:
    data = {"id": 7, "recipient": "+8613800138000", "state": "delivered", "sim": "898600",
            "error": None, "client_ref": "android:abc", "parts": 1,
            "time": "2026-12-01T08:00:03+00:00"}
    body = hooks.body(event="message.delivered", payload_json=json.dumps(data),
                      delivery_id=12, webhook_ref="h1")
    assert json.loads(body) == {
        "deviceId": "cardgate", "event": "sms:delivered", "id": "12", "webhookId": "h1",
        "payload": {"messageId": "abc", "phoneNumber": "+8613800138000",
                    "deliveredAt": "2026-12-01T08:00:03+00:00"}}
    headers = hooks.headers(body, 1764576000, "s3cret")
    assert headers["X-Timestamp"] == "1764576000"
    assert headers["X-Signature"] == hmac.new(b"s3cret", body + b"1764576000",
                                              hashlib.sha256).hexdigest()
    # A message from another door: our id.
    other = hooks.payload("message.failed", {**data, "client_ref": None, "error": "boom"})
    assert other["messageId"] == "7" and other["reason"] == "boom"
