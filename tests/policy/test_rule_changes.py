"""Nothing already accepted is lost when a rule changes (issue 10): messages waiting (held for
approval, queued behind maintenance) when a forbidden word is added keep their place and go
out as accepted once what holds them ends; the new rule applies to what is submitted after.
Through the JSON API, on simulated modems."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import ApprovalConfig, Config
from tests.api.conftest import running
from tests.api.test_openapi import check

pytestmark = pytest.mark.slow

MESSAGES = "/api/v1/messages"
KEYS = {"full": ["send", "read"], "boss": ["send", "read", "admin"],
        "chief": ["read", "approve", "admin"]}
A, B = "+8613800138000", "+8613900139000"


def marketing_needs_approval(config: Config) -> None:
    config.approval = ApprovalConfig(mode="category", categories=["marketing"])


async def test_waiting_messages_survive_rule_changes_and_then_go(tmp_path: Path):
    async with running(tmp_path, keys=KEYS, configure=marketing_needs_approval) as gw:
        await gw.wait_ready()
        on = await gw.client.put("/api/v1/maintenance", headers=gw.auth("boss"),
                                 json={"on": True, "reason": "SIM swap"})
        assert on.status_code == 200, on.text
        queued = await gw.post(MESSAGES, "full", json={"to": [A], "text": "周五消防演练通知"})
        assert queued.status_code == 202, queued.text
        queued_id = queued.json()["messages"][0]["id"]
        held = await gw.post(MESSAGES, "full", json={
            "to": [B], "text": "年终优惠演练活动", "category": "marketing"})
        assert held.status_code == 202, held.text
        approval = held.json()["policy"]["approval"]
        held_id = held.json()["messages"][0]["id"]
        assert approval["state"] == "pending_approval"

        # The rules change while both wait.
        word = await gw.post("/api/v1/policy/words", key="boss", json={"word": "演练"})
        assert word.status_code in (200, 201), word.text
        refused = await gw.post(MESSAGES, "full", json={"to": [A], "text": "下周演练取消"})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "forbidden_word"  # new requests: the new rule

        for mid, state in ((queued_id, "queued"), (held_id, "pending_approval")):
            body = check(await gw.get(f"{MESSAGES}/{mid}", "full"), f"{MESSAGES}/{{message_id}}")
            assert body["state"] == state, body  # still waiting, not cancelled or failed

        off = await gw.client.put("/api/v1/maintenance", headers=gw.auth("boss"),
                                  json={"on": False})
        assert off.status_code == 200, off.text
        approved = await gw.post(f"/api/v1/approvals/{approval['id']}/approve", key="chief")
        assert approved.status_code == 200, approved.text
        for mid in (queued_id, held_id):
            await gw.wait_message(mid, {"sent", "delivered"})
        sent = {a.submit.to: a.submit.text for m in gw.fleet.modems for a in m.accepted}
        assert sent[A] == "周五消防演练通知"  # as accepted, before the word was forbidden
        assert sent[B].startswith("年终优惠演练活动") and "退订" in sent[B]  # + the hint
        assert len(sent) == 2
