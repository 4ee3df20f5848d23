"""Deliveries to the "SMS Gateway for Android" API's webhook endpoints: the app's envelope and
signature.

Knows: the envelope `{deviceId, event, id, payload, webhookId}`, the Android event names and
payload fields for ours (sms.received → sms:received, message.sent and message.ambiguous →
sms:sent, message.delivered → sms:delivered, message.failed and message.expired →
sms:failed), and the signature: `X-Timestamp` (Unix seconds) and `X-Signature`, the hex
HMAC-SHA256 of the body followed by that timestamp, keyed with the endpoint's secret.
Must not know: HTTP clients, the queue, the store. The deliverer calls `body` and `headers`
for a row of an endpoint whose format is 'android'; the stored payload is ours
(store.webhooks), rendered here at sending time.

`messageId` of a message event is its Android id (the client_ref the Android API gave it) or,
for a message that came through another door, our id as a string. `simNumber` is not given:
our SIMs have no slot numbers (the API's `simNumber` counts them by ICCID, which can change as
SIMs come and go).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from appliance.store.android import ID_REF_PREFIX

DEVICE_ID = "cardgate"  # the app names the phone; the whole box is our one "device"
EVENT_OF = {"sms.received": "sms:received", "message.sent": "sms:sent",
            "message.ambiguous": "sms:sent", "message.delivered": "sms:delivered",
            "message.failed": "sms:failed", "message.expired": "sms:failed"}
OUR_EVENTS = {"sms:received": ["sms.received"],
              "sms:sent": ["message.sent", "message.ambiguous"],
              "sms:delivered": ["message.delivered"],
              "sms:failed": ["message.failed", "message.expired"]}
TIMESTAMP_HEADER = "X-Timestamp"
SIGNATURE_HEADER = "X-Signature"


def _message_id(data: dict[str, Any]) -> str:
    ref = data.get("client_ref") or ""
    return ref[len(ID_REF_PREFIX):] if ref.startswith(ID_REF_PREFIX) else str(data.get("id"))


def payload(event: str, data: dict[str, Any]) -> dict[str, Any]:
    """The Android payload of one of our events' payloads."""
    if event == "sms.received":
        return {"messageId": str(data["id"]), "message": data["text"],
                "phoneNumber": data["sender"], "sender": data["sender"],
                "receivedAt": data["received_at"]}
    name = EVENT_OF.get(event)
    if name is None:  # no Android event (webhook.test, message.cancelled): ours, as it is
        return data
    out: dict[str, Any] = {"messageId": _message_id(data), "phoneNumber": data["recipient"]}
    if name == "sms:sent":
        out.update(partsCount=data.get("parts"), sentAt=data.get("time"))
    elif name == "sms:delivered":
        out["deliveredAt"] = data.get("time")
    else:
        out.update(failedAt=data.get("time"), reason=data.get("error") or event)
    return out


def body(*, event: str, payload_json: str, delivery_id: int, webhook_ref: str) -> bytes:
    """The request body of one delivery."""
    data = json.loads(payload_json)
    return json.dumps({"deviceId": DEVICE_ID, "event": EVENT_OF.get(event, event),
                       "id": str(delivery_id), "payload": payload(event, data),
                       "webhookId": webhook_ref},
                      ensure_ascii=False, separators=(",", ":")).encode()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), body + str(timestamp).encode(), hashlib.sha256).hexdigest()


def headers(body: bytes, timestamp: int, secret: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "User-Agent": "cardgate-webhooks/1",
            TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, body, timestamp)}
