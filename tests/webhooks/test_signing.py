"""The signature a receiver checks, with the recipe the package docstring gives."""

from __future__ import annotations

import hashlib
import hmac
import re

import appliance.webhooks
from appliance.webhooks.signing import headers, sign, verify


def documented_recipe() -> str:
    doc = appliance.webhooks.__doc__ or ""
    block = doc.split("Verifying, in the receiver", 1)[1].split("\n\n", 2)[1]
    return "\n".join(line[4:] for line in block.splitlines())


def run_recipe(hdrs: dict[str, str], body: bytes, secret: str, now: float) -> str:
    """Execute the documented receiver lines; returns "rejected", "duplicate" or "ok"."""
    outcome = {"v": "ok"}

    class Rejected(Exception):
        pass

    def reject():
        raise Rejected

    namespace = {"headers": hdrs, "body": body, "secret": secret, "hmac": hmac,
                 "hashlib": hashlib, "time": type("T", (), {"time": staticmethod(lambda: now)}),
                 "reject": reject, "seen": lambda delivery: delivery == "seen-before"}
    source = documented_recipe().replace("return 200", "outcome['v'] = 'duplicate'")
    namespace["outcome"] = outcome
    try:
        exec(compile(source, "recipe", "exec"), namespace)  # noqa: S102 - our own docstring
    except Rejected:
        return "rejected"
    return outcome["v"]


def test_the_recipe_is_five_lines():
    lines = [line for line in documented_recipe().splitlines() if line.strip()]
    assert len(lines) == 5


def test_a_signed_body_verifies_with_the_documented_recipe():
    body = b'{"id":1,"event":"sms.received","data":{"text":"\xe9\x80\x80\xe8\xae\xa2"}}'
    hdrs = headers("sms.received", 1, 1_700_000_000, body, "s3cret")
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", hdrs["X-Cardgate-Signature"])
    assert run_recipe(hdrs, body, "s3cret", now=1_700_000_010) == "ok"
    assert verify("s3cret", "1700000000", body, hdrs["X-Cardgate-Signature"], now=1_700_000_010)


def test_tampering_a_wrong_secret_and_an_old_timestamp_are_rejected():
    body = b'{"id":1}'
    hdrs = headers("message.sent", 1, 1_700_000_000, body, "s3cret")
    assert run_recipe(hdrs, body + b" ", "s3cret", now=1_700_000_000) == "rejected"
    assert run_recipe(hdrs, body, "other", now=1_700_000_000) == "rejected"
    assert run_recipe(hdrs, body, "s3cret", now=1_700_000_000 + 301) == "rejected"
    # the timestamp is signed: refreshing it without the secret breaks the signature
    fresh = hdrs | {"X-Cardgate-Timestamp": "1700000400"}
    assert run_recipe(fresh, body, "s3cret", now=1_700_000_400) == "rejected"
    assert run_recipe(hdrs | {"X-Cardgate-Delivery": "seen-before"}, body, "s3cret",
                      now=1_700_000_000) == "duplicate"


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    expected = hmac.new(b"k", b"42.hello", hashlib.sha256).hexdigest()
    assert sign("k", 42, b"hello") == "sha256=" + expected


def test_no_secret_means_no_signature_header():
    hdrs = headers("rule.matched", 9, 42, b"{}", "")
    assert "X-Cardgate-Signature" not in hdrs
    assert hdrs["X-Cardgate-Delivery"] == "9" and hdrs["X-Cardgate-Event"] == "rule.matched"
