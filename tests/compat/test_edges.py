"""The compatibility doors (Kannel sendsms, playSMS webservices, the Android gateway's local
API) with their numeric and time parameters at the edges: never a 500.

As tests/api/test_boundaries.py for the JSON API: ids and numbers beyond what SQLite and
PostgreSQL keys hold (2**63 and more), negative, zero, not numbers at all; each door answers
in its own error language, but never with an internal error.
"""

from __future__ import annotations

import base64

import pytest

from tests.api.conftest import Gateway

pytestmark = pytest.mark.slow

EDGES = ["0", "-1", str(2**63 - 1), str(2**63), str(2**70), "1e3", "x", ""]
KANNEL_NUMBERS = ["coding", "mclass", "priority", "validity", "deferred", "dlr-mask", "mwi",
                  "compress", "alt-dcs", "rpi", "pid"]
PLAYSMS = [("ds", "smslog_id"), ("ds", "queue"), ("ds", "last"), ("ds", "c"), ("ds", "dt"),
           ("ix", "last"), ("ix", "c"), ("in", "last"), ("in", "c"), ("pv", "schedule"),
           ("pv", "unicode"), ("pv", "type")]


def _basic(gw: Gateway, key: str = "full") -> dict[str, str]:
    raw = f"{key}:{gw.keys[key]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def test_kannel_numbers_at_their_edges_never_get_a_500(gateway: Gateway) -> None:
    failures = []
    for name in KANNEL_NUMBERS:
        for edge in EDGES:
            response = await gateway.get("/cgi-bin/sendsms", key=None, params={
                "username": "full", "password": gateway.keys["full"],
                "to": "13800138000", "text": "edge", name: edge})
            if response.status_code >= 500 and response.status_code != 503:
                failures.append(f"{name}={edge!r}: {response.status_code} {response.text[:200]}")
            elif response.status_code >= 400:
                assert "Traceback" not in response.text
    assert not failures, "\n".join(failures)


async def test_playsms_parameters_at_their_edges_never_get_a_500(gateway: Gateway) -> None:
    failures = []
    for op, name in PLAYSMS:
        for edge in EDGES:
            params = {"app": "ws", "op": op, "u": "full", "h": gateway.keys["full"], name: edge}
            if op == "pv":
                params |= {"to": "13800138000", "msg": "edge"}
            response = await gateway.get("/index.php", key=None, params=params)
            if response.status_code >= 500:
                failures.append(f"op={op} {name}={edge!r}: {response.status_code} "
                                f"{response.text[:200]}")
    assert not failures, "\n".join(failures)


async def test_android_ids_and_numbers_at_their_edges_never_get_a_500(gateway: Gateway) -> None:
    failures = []
    headers = _basic(gateway)
    for edge in EDGES[:-1]:
        for method in ("GET", "DELETE"):
            response = await gateway.client.request(method, f"/messages/{edge}",
                                                    headers=headers)
            if response.status_code >= 500:
                failures.append(f"{method} /messages/{edge}: {response.status_code} "
                                f"{response.text[:200]}")
        for field in ("simNumber", "priority", "ttl"):
            value: object = int(edge) if edge.lstrip("-").isdigit() else edge
            response = await gateway.client.post("/messages", headers=headers, json={
                "phoneNumbers": ["13800138000"], "textMessage": {"text": "edge"},
                field: value})
            if response.status_code >= 500:
                failures.append(f"POST /messages {field}={value!r}: {response.status_code} "
                                f"{response.text[:200]}")
        response = await gateway.client.post("/messages", headers=headers, json={
            "phoneNumbers": ["13800138000"], "textMessage": {"text": "edge"},
            "validUntil": "9999-12-31T23:59:59-23:59"})
        if response.status_code >= 500:
            failures.append(f"POST /messages validUntil: {response.status_code}")
    assert not failures, "\n".join(failures)
