"""End to end through the JSON API, with simulated modems: a duplicate skipped and reported,
skip_dedupe honoured, quiet hours and maintenance held at claim time (fake clock), the
recipient cap refused naming the rule, submitted_by shown; answers checked against the
OpenAPI document."""

from __future__ import annotations

import asyncio
import json
import zoneinfo
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.config import Config, QuietHoursConfig
from tests.api.conftest import Gateway, running, wait_for
from tests.api.test_openapi import check

pytestmark = pytest.mark.slow

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
MESSAGES = "/api/v1/messages"
KEYS = {"full": ["send", "read"], "admin": ["send", "read", "admin"]}
A, B, C = "+8613800138000", "+8613900139000", "+8618600186000"


class WallClock:
    """The appliance's clock, moved by the test."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def quiet_on(config: Config) -> None:
    config.quiet_hours = QuietHoursConfig(enabled=True)


async def post(gw: Gateway, body: dict, key: str = "full"):
    response = await gw.post(MESSAGES, key, json=body)
    check(response, MESSAGES)
    return response


def on_air(gw: Gateway) -> list[dict]:
    """What the simulated modems sent (their durable records)."""
    out = []
    for i in range(gw.fleet.count):
        path = gw.fleet.record_path(i)
        if path.exists():
            out += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return out


async def wait_sent(gw: Gateway, mid: int, key: str = "full") -> dict:
    async def sent() -> dict | None:
        body = (await gw.get(f"{MESSAGES}/{mid}", key)).json()
        return body if body.get("state") in ("sent", "delivered") else None

    return await wait_for(sent, f"message {mid} sent")


async def view(gw: Gateway, mid: int) -> dict:
    response = await gw.get(f"{MESSAGES}/{mid}")
    return check(response, f"{MESSAGES}/{{message_id}}")


async def test_a_duplicate_is_skipped_and_reported_and_skip_dedupe_lifts_it(tmp_path: Path):
    async with running(tmp_path, keys=KEYS) as gw:
        await gw.wait_ready()
        text = "【办公室】周五下午三点消防演练"
        first = (await post(gw, {"to": [A, B], "text": text})).json()
        a_id = first["messages"][0]["id"]
        again = await post(gw, {"to": [A, C], "text": text})
        assert again.status_code == 202, again.text
        body = again.json()
        assert [m["to"] for m in body["messages"]] == [C]
        (rejected,) = body["rejected"]
        assert rejected["to"] == A
        assert rejected["reason"].startswith(f"duplicate of message {a_id} accepted at ")

        every = await post(gw, {"to": [A, B], "text": text})
        assert every.status_code == 422
        error = every.json()["error"]
        assert (error["code"], error["field"]) == ("no_recipient_left", "to")
        assert {r["to"] for r in error["rejected"]} == {A, B}

        refused = await post(gw, {"to": [A], "text": text, "skip_dedupe": True})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "skip_dedupe_not_allowed"
        assert refused.json()["error"]["field"] == "skip_dedupe"

        alert = await post(gw, {"to": [A], "text": text, "category": "alert",
                                "skip_dedupe": True})
        assert alert.status_code == 202 and alert.json()["rejected"] == []
        admin = await post(gw, {"to": [A], "text": text, "skip_dedupe": True}, key="admin")
        assert admin.status_code == 202
        bad = await post(gw, {"to": [A], "text": text, "skip_dedupe": "yes"})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "skip_dedupe"
        ids = [a_id, alert.json()["messages"][0]["id"], admin.json()["messages"][0]["id"]]
        for mid in ids:
            await wait_sent(gw, mid, key="admin")  # an admin key sees every message
        # On the air: the first notice, the alert and the admin's send; no duplicate.
        assert [r["text"] for r in on_air(gw) if r["to"] == A] == [text] * 3


async def test_bulk_accepted_at_22_waits_for_08_while_an_alert_goes_at_once(tmp_path: Path):
    async with running(tmp_path, configure=quiet_on) as gw:
        await gw.wait_ready()
        clock = WallClock(datetime(2026, 12, 7, 22, 0, tzinfo=SH).astimezone(UTC))
        gw.appliance.dispatcher.clock = clock
        notice = await post(gw, {"to": A, "text": "明早八点开会"})
        assert notice.status_code == 202
        waiting = notice.json()["policy"]["waiting"]
        morning = datetime(2026, 12, 8, 8, 0, tzinfo=SH)
        assert waiting["reason"] == "quiet_hours"
        assert datetime.fromisoformat(waiting["until"]) == morning
        assert "quiet hours" in waiting["message"]
        notice_id = notice.json()["messages"][0]["id"]
        alert = await post(gw, {"to": B, "text": "机房温度过高", "category": "alert"})
        assert "policy" not in alert.json()
        await gw.wait_message(alert.json()["messages"][0]["id"], {"sent", "delivered"})
        await asyncio.sleep(0.6)  # more than a scheduling round's longest sleep
        held = await view(gw, notice_id)
        assert held["state"] == "queued"
        assert held["waiting"]["reason"] == "quiet_hours"
        assert datetime.fromisoformat(held["waiting"]["until"]) == morning

        clock.now = (morning - timedelta(seconds=1)).astimezone(UTC)
        await asyncio.sleep(0.6)
        assert (await view(gw, notice_id))["state"] == "queued"
        clock.now = morning.astimezone(UTC)
        sent = await gw.wait_message(notice_id, {"sent", "delivered"})
        assert sent["waiting"] is None


async def test_maintenance_holds_everything_but_alerts_until_switched_off(tmp_path: Path):
    async with running(tmp_path, keys=KEYS) as gw:
        await gw.wait_ready()
        on = await gw.client.put("/api/v1/maintenance", headers=gw.auth("admin"),
                                 json={"on": True, "reason": "更换SIM卡"})
        state = check(on, "/api/v1/maintenance")
        assert state["on"] is True and state["reason"] == "更换SIM卡"
        assert set(state["held"]) == {"otp", "notice", "marketing"}
        denied = await gw.client.put("/api/v1/maintenance", headers=gw.auth("full"),
                                     json={"on": False})
        assert denied.status_code == 403
        otp = await post(gw, {"to": A, "text": "验证码 123456", "category": "otp"})
        assert otp.json()["policy"]["waiting"]["reason"] == "maintenance"
        otp_id = otp.json()["messages"][0]["id"]
        alert = await post(gw, {"to": B, "text": "UPS 断电", "category": "alert"})
        await gw.wait_message(alert.json()["messages"][0]["id"], {"sent", "delivered"})
        held = await view(gw, otp_id)
        assert held["state"] == "queued"
        assert held["waiting"] == {"reason": "maintenance", "until": None}

        off = await gw.client.put("/api/v1/maintenance", headers=gw.auth("admin"),
                                  json={"on": False})
        assert check(off, "/api/v1/maintenance")["held"] == {}
        await gw.wait_message(otp_id, {"sent", "delivered"})
        past = await gw.client.put("/api/v1/maintenance", headers=gw.auth("admin"),
                                   json={"on": True, "until": "2000-01-01T00:00+08:00"})
        assert past.status_code == 400 and past.json()["error"]["field"] == "until"


async def test_the_recipient_cap_is_refused_naming_the_rule(tmp_path: Path):
    def cap(config: Config) -> None:
        config.policy_limits.max_recipients_per_send = 2

    async with running(tmp_path, keys=KEYS, configure=cap) as gw:
        await gw.wait_ready()
        over = await post(gw, {"to": [A, B, C], "text": "通知"})
        assert over.status_code == 422
        error = over.json()["error"]
        assert (error["code"], error["field"]) == ("recipient_cap", "to")
        assert error["message"] == ("to: 3 recipients; at most 2 per send (the cap agreed "
                                    "with the provider)")
        assert (await post(gw, {"to": [A, B], "text": "通知"})).status_code == 202

        put = await gw.client.put("/api/v1/recipient-caps/7", headers=gw.auth("admin"),
                                  json={"max_recipients": 5})
        assert check(put, "/api/v1/recipient-caps/{department_id}") == {
            "department_id": 7, "max_recipients": 5}
        caps = check(await gw.get("/api/v1/recipient-caps"), "/api/v1/recipient-caps")
        assert caps == {"default": 2, "departments": [{"department_id": 7,
                                                        "max_recipients": 5}]}
        bad = await gw.client.put("/api/v1/recipient-caps/7", headers=gw.auth("admin"),
                                  json={"max_recipients": 0})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "max_recipients"
        gone = await gw.client.delete("/api/v1/recipient-caps/7", headers=gw.auth("admin"))
        assert check(gone, "/api/v1/recipient-caps/{department_id}")["removed"] is True


async def test_the_submitters_address_is_the_peers_or_behind_a_trusted_proxy_each_requests(
        tmp_path: Path):
    # The address is kept with a keep-alive connection only while sanic trusts no proxy
    # header: behind one, each request of the same connection names its own client.
    async with running(tmp_path, keys=KEYS) as gw:
        await gw.wait_ready()

        async def address(number: str, forwarded: str) -> str:
            response = await gw.post(MESSAGES, "full", json={"to": number, "text": number},
                                     headers={"X-Forwarded-For": forwarded})
            mid = response.json()["messages"][0]["id"]
            return (await view(gw, mid))["submitted_by"]["address"]

        assert await address(A, "192.0.2.1") == "127.0.0.1"
        assert await address(B, "192.0.2.2") == "127.0.0.1"
    async with running(tmp_path / "proxied", keys=KEYS) as gw:
        gw.app.config.PROXIES_COUNT = 1
        await gw.wait_ready()
        assert await address(A, "192.0.2.1") == "192.0.2.1"
        assert await address(B, "192.0.2.2") == "192.0.2.2"


async def test_submitted_by_is_shown_and_the_listing_filters_by_door(tmp_path: Path):
    async with running(tmp_path, keys=KEYS) as gw:
        await gw.wait_ready()
        accepted = await post(gw, {"to": A, "text": "谁发的"})
        mid = accepted.json()["messages"][0]["id"]
        shown = await view(gw, mid)
        key_id = shown["submitted_by"]["api_key_id"]
        assert isinstance(key_id, int)
        assert shown["submitted_by"] == {"door": "api", "address": "127.0.0.1",
                                         "api_key_id": key_id, "user_id": None,
                                         "department_id": None}
        listing = check(await gw.get(f"{MESSAGES}?door=api"), MESSAGES)
        assert [m["id"] for m in listing["messages"]] == [mid]
        assert listing["messages"][0]["submitted_by"]["door"] == "api"
        assert check(await gw.get(f"{MESSAGES}?door=kannel"), MESSAGES)["messages"] == []
        assert check(await gw.get(f"{MESSAGES}?department_id=3"), MESSAGES)["messages"] == []
        wrong = await gw.get(f"{MESSAGES}?door=fax")
        assert wrong.status_code == 400 and wrong.json()["error"]["field"] == "door"
