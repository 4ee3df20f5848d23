"""Signing a webhook body (see the package docstring for what a receiver does).

Knows: HMAC-SHA256 over "<timestamp>.<body>", and the header names.
Must not know: HTTP clients, the queue.
"""

from __future__ import annotations

import hashlib
import hmac

EVENT_HEADER = "X-Cardgate-Event"
DELIVERY_HEADER = "X-Cardgate-Delivery"
TIMESTAMP_HEADER = "X-Cardgate-Timestamp"
SIGNATURE_HEADER = "X-Cardgate-Signature"
REPLAY_WINDOW = 300  # seconds: what receivers are told to accept


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Cardgate-Signature value: `sha256=<hex>`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float,
           window: float = REPLAY_WINDOW) -> bool:
    """The receiver's check, as documented: signature matches, timestamp within `window`."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    expected = sign(secret, ts, body)
    return hmac.compare_digest(signature, expected) and abs(now - ts) <= window


def headers(event: str, delivery_id: int, timestamp: int, body: bytes,
            secret: str) -> dict[str, str]:
    out = {"Content-Type": "application/json", EVENT_HEADER: event,
           DELIVERY_HEADER: str(delivery_id), TIMESTAMP_HEADER: str(timestamp),
           "User-Agent": "cardgate-webhooks/1"}
    if secret:
        out[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    return out
