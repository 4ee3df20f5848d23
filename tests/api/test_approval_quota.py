"""Approval and quotas end to end: the JSON API over simulated modems on ptys, a real SQLite
file, the appliance's own policy layer, and API keys bound to real users and a department
(made with the accounts' own functions before the appliance starts): a key's sends come from
its user and department as `auth.origin_of` gives them, and it may do no more than its user's
role allows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.accounts import manage
from appliance.api import auth
from appliance.audit import Actor
from appliance.dispatch.intake import SendRequest
from appliance.hub import ApprovalDecided
from appliance.pdu import count_parts
from appliance.policy.approval import ApprovalCheck
from appliance.policy.layer import Check, Draft
from appliance.policy.origin import Origin
from appliance.policy.quota import QuotaCheck
from appliance.store import approvals
from appliance.store.apikeys import create_api_key
from appliance.store.db import open_database
from appliance.store.messages import NewMessage
from appliance.store.migrations import migrate
from appliance.store.models import WebhookDelivery
from appliance.store.service import run_in_database
from appliance.store.writer import Store
from tests.api.conftest import FakeClock, Gateway, running, wait_for
from tests.api.test_openapi import check

A = "/api/v1/approvals"
ONE, APPROVE, REJECT = f"{A}/{{approval_id}}", f"{A}/{{approval_id}}/approve", \
    f"{A}/{{approval_id}}/reject"

USERS = {"alice": "approver", "bob": "approver", "carol": "operator", "vera": "viewer"}
BOUND = {  # key name -> (its user, its scopes)
    "alice": ("alice", ["send", "read", "approve"]),
    "bob": ("bob", ["read", "approve"]),
    "carol": ("carol", ["send", "read"]),
    "carol-2": ("carol", ["send", "read", "approve"]),  # more than an operator may use
    "vera": ("vera", ["read", "approve"]),  # ditto for a viewer
    "otto": ("otto", ["read", "approve"]),  # an approver of another department
}
KEYS = {"full": ["admin"]}  # bound to nobody
TO = ["+8613800000001", "+8613800000002", "+8613800000003"]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DEPT = 1  # the first department made (办公室)
IDS = {"alice": 1, "bob": 2, "carol": 3, "vera": 4, "otto": 5}  # the users, in the order made
OTHER_DEPT = 2  # 财务科: otto approves its requests, not 办公室's


def make_accounts(url: str) -> dict[str, str]:
    """The department, its users and their bound keys; the plaintext keys by name."""

    def make() -> dict[str, str]:
        actor = Actor.command_line()
        department = manage.add_department(actor, "办公室")
        assert department["id"] == DEPT
        for name, role in USERS.items():
            user = manage.add_user(actor, name, role, "-", department_id=DEPT)
            assert user.id == IDS[name]
        other = manage.add_department(actor, "财务科")
        assert other["id"] == OTHER_DEPT
        otto = manage.add_user(actor, "otto", "approver", "-", department_id=OTHER_DEPT)
        assert otto.id == IDS["otto"]
        return {key: create_api_key(key, scopes, user_id=IDS[user])
                for key, (user, scopes) in BOUND.items()}

    return run_in_database(url, make)


@contextlib.asynccontextmanager
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    bound = make_accounts(f"sqlite:///{tmp_path / 'cg.db'}")
    async with running(tmp_path, keys=KEYS) as gw:
        gw.keys.update(bound)
        await gw.wait_ready()
        yield gw


def check_of(gw: Gateway, kind: type) -> Check:
    return next(c for c in gw.appliance.dispatcher.policy.checks if isinstance(c, kind))


async def send(gw: Gateway, key: str, to: list[str], text: str = "hello", **body) -> dict:
    response = await gw.post("/api/v1/messages", key=key, json={"to": to, "text": text, **body})
    assert response.status_code == 202, response.text
    return response.json()


async def set_quota(gw: Gateway, account: str, monthly: int | None, **more) -> dict:
    response = await gw.client.put(f"/api/v1/quotas/{account}", headers=gw.auth("full"),
                                   json={"monthly": monthly, **more})
    assert response.status_code == 200, response.text
    return check(response, "/api/v1/quotas/{account}")


# -- approval --------------------------------------------------------------------------------


async def test_the_approval_cycle_through_the_json_api(tmp_path: Path):
    async with gateway(tmp_path) as gw:
        await gw.appliance.store.write(lambda: approvals.set_rule(DEPT, approvals.Rule("all")))
        hooked = await gw.post("/api/v1/webhooks", key="full", json={
            "url": "http://127.0.0.1:9/hook", "events": ["approval.decided"]})
        assert hooked.status_code == 201, hooked.text
        heard = gw.appliance.hub.subscribe("test", [ApprovalDecided])

        answer = await send(gw, "alice", TO[:2], "季度报告已发布")
        held = answer["policy"]["approval"]
        assert held["state"] == "pending_approval"
        first = answer["messages"][0]["id"]
        message = check(await gw.get(f"/api/v1/messages/{first}", key="full"),
                        "/api/v1/messages/{message_id}")
        assert message["state"] == "pending_approval"
        await asyncio.sleep(0.3)  # the modems are idle: nothing may leave while it waits
        assert (await gw.get(f"/api/v1/messages/{first}", key="full")).json()["state"] == \
            "pending_approval"

        listing = check(await gw.get("/api/v1/approvals?state=pending", key="bob"), A)
        (shown,) = listing["approvals"]
        assert (shown["id"], shown["recipients"], shown["parts"], shown["text"]) == (
            held["id"], 2, 1, "季度报告已发布")
        assert shown["first_recipients"] == TO[:2]
        assert shown["submitter"]["user_id"] == IDS["alice"]
        assert shown["submitter"]["department_id"] == DEPT

        own = await gw.post(f"/api/v1/approvals/{held['id']}/approve", key="alice")
        check(own, APPROVE)
        assert own.status_code == 403
        assert own.json()["error"]["code"] == "own_request"
        assert (await gw.get(f"/api/v1/messages/{first}", key="full")).json()["state"] == \
            "pending_approval"
        # Keys with the approve scope bound to an operator and a viewer: their roles say no.
        for key, role in (("carol-2", "operator"), ("vera", "viewer")):
            denied = await gw.post(f"/api/v1/approvals/{held['id']}/approve", key=key)
            assert denied.status_code == 403, denied.text
            assert denied.json()["error"]["code"] == "forbidden"
            assert f"role ({role}) does not allow 'approve'" in \
                denied.json()["error"]["message"]

        approved = await gw.post(f"/api/v1/approvals/{held['id']}/approve", key="bob")
        assert approved.status_code == 200, approved.text
        check(approved, APPROVE)
        assert (approved.json()["state"], approved.json()["decided_by"]) == ("approved", "bob")
        for item in answer["messages"]:
            await gw.wait_message(item["id"], {"sent", "delivered"})
        event = await asyncio.wait_for(heard.get(), 5)
        assert (event.approval_id, event.state, event.decided_by) == (held["id"], "approved",
                                                                      "bob")
        assert sorted(event.message_ids) == sorted(m["id"] for m in answer["messages"])
        again = await gw.post(f"/api/v1/approvals/{held['id']}/reject", key="bob",
                              json={"reason": "too late"})
        check(again, REJECT)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "already_decided"

        # Another request, rejected with a reason: cancelled, and the submitter sees why.
        second = await send(gw, "carol", TO[2:], "促销")
        other = second["policy"]["approval"]["id"]
        waiting = check(await gw.get("/api/v1/messages", key="carol"), "/api/v1/messages")
        assert [m["state"] for m in waiting["messages"]] == ["pending_approval"]
        # The state the listing shows is one it can be filtered by.
        filtered = check(await gw.get("/api/v1/messages?state=pending_approval,queued",
                                      key="carol"), "/api/v1/messages")
        assert filtered["messages"] == waiting["messages"]
        assert (await gw.get("/api/v1/messages?state=sent",
                             key="carol")).json()["messages"] == []
        no_reason = await gw.post(f"/api/v1/approvals/{other}/reject", key="bob", json={})
        check(no_reason, REJECT)
        assert no_reason.status_code == 400
        assert no_reason.json()["error"]["field"] == "reason"
        rejected = await gw.post(f"/api/v1/approvals/{other}/reject", key="alice",
                                 json={"reason": "未经审批的促销内容"})
        assert rejected.status_code == 200, rejected.text
        check(rejected, REJECT)
        assert (rejected.json()["state"], rejected.json()["reason"]) == ("rejected",
                                                                         "未经审批的促销内容")
        mid = second["messages"][0]["id"]
        seen = (await gw.get(f"/api/v1/messages/{mid}", key="carol")).json()
        assert seen["state"] == "cancelled"
        assert seen["error"] == "rejected by alice: 未经审批的促销内容"
        mine = check(await gw.get(f"/api/v1/approvals/{other}", key="carol"), ONE)
        assert (mine["state"], mine["decided_by"]) == ("rejected", "alice")
        assert mine["messages"] == [{"id": mid, "to": TO[2], "state": "cancelled"}]
        # carol has no approve scope: she sees her own approvals only.
        hers = (await gw.get("/api/v1/approvals", key="carol")).json()["approvals"]
        assert [a["id"] for a in hers] == [other]
        assert (await gw.get(f"/api/v1/approvals/{held['id']}", key="carol")).status_code == 404
        event = await asyncio.wait_for(heard.get(), 5)
        assert (event.state, event.reason, event.message_ids) == ("rejected", "未经审批的促销内容",
                                                                 (mid,))
        heard.close()

        def deliveries() -> list[str]:
            return [d.event for d in WebhookDelivery.select()]

        async def both_queued() -> bool:
            got = await gw.appliance.store.read(deliveries)
            return got.count("approval.decided") == 2

        await wait_for(both_queued, "two approval.decided webhook deliveries")

        # A request whose every message was cancelled meanwhile: nothing to approve (409);
        # rejecting it closes it.
        gone = await send(gw, "alice", ["+8613800000009"], "已取消的通知")
        gone_id = gone["policy"]["approval"]["id"]
        cancelled = await gw.delete(f"/api/v1/messages/{gone['messages'][0]['id']}",
                                    key="alice")
        assert cancelled.status_code == 200, cancelled.text
        empty = await gw.post(f"/api/v1/approvals/{gone_id}/approve", key="bob")
        check(empty, APPROVE)
        assert empty.status_code == 409
        assert empty.json()["error"]["code"] == "nothing_held"
        closed = await gw.post(f"/api/v1/approvals/{gone_id}/reject", key="bob",
                               json={"reason": "withdrawn"})
        assert closed.status_code == 200, closed.text
        assert closed.json()["state"] == "rejected"


async def test_a_users_other_key_cannot_decide_their_own_request(tmp_path: Path):
    # carol (an operator) submits with one key; promoted to approver by an admin, her other
    # key may approve, but not her own request: the users are compared, not the keys.
    async with gateway(tmp_path) as gw:
        clock = FakeClock()
        gw.appliance.key_cache = auth.KeyCache(clock=clock)
        await gw.appliance.store.write(lambda: approvals.set_rule(DEPT, approvals.Rule("all")))
        answer = await send(gw, "carol", TO[:1], "停水通知")
        held = answer["policy"]["approval"]
        assert held["state"] == "pending_approval"
        before = await gw.post(f"/api/v1/approvals/{held['id']}/approve", key="carol-2")
        assert before.status_code == 403
        assert before.json()["error"]["code"] == "forbidden"  # an operator's key
        # ... that sees the approvals of its user's requests, whichever key submitted them.
        seen = check(await gw.get("/api/v1/approvals", key="carol-2"), A)["approvals"]
        assert [a["id"] for a in seen] == [held["id"]]
        assert check(await gw.get(f"{A}/{held['id']}", key="carol-2"), ONE)["state"] == \
            "pending_approval"
        assert (await gw.get(f"{A}/{held['id']}", key="vera")).status_code == 404
        promoted = await gw.client.patch(f"/api/v1/users/{IDS['carol']}",
                                         headers=gw.auth("full"), json={"role": "approver"})
        assert promoted.status_code == 200, promoted.text
        clock.now += auth.REVALIDATE_SECONDS  # the cached key's role is read again
        own = await gw.post(f"/api/v1/approvals/{held['id']}/approve", key="carol-2")
        assert own.status_code == 403, own.text
        assert own.json()["error"]["code"] == "own_request"
        approved = await gw.post(f"/api/v1/approvals/{held['id']}/approve", key="bob")
        assert approved.status_code == 200, approved.text
        (item,) = answer["messages"]
        await gw.wait_message(item["id"], {"sent", "delivered"})
        assert [a.submit.to for m in gw.fleet.modems for a in m.accepted] == TO[:1]


async def test_an_approver_decides_only_their_own_departments_requests(tmp_path: Path):
    async with gateway(tmp_path) as gw:
        await gw.appliance.store.write(lambda: approvals.set_rule(DEPT, approvals.Rule("all")))
        held = (await send(gw, "carol", TO[:1], "停水通知"))["policy"]["approval"]
        other = await gw.post(f"/api/v1/approvals/{held['id']}/approve", key="otto")
        assert other.status_code == 403, other.text
        error = other.json()["error"]
        assert error["code"] == "other_department"
        assert "another department's request" in error["message"]
        assert check(await gw.get(f"{A}/{held['id']}", key="full"), ONE)["state"] == \
            "pending_approval"  # nothing decided
        by_admin = await gw.post(f"/api/v1/approvals/{held['id']}/approve", key="full")
        assert by_admin.status_code == 200, by_admin.text  # an admin decides for every one


async def test_only_what_the_rule_names_waits(tmp_path: Path):
    async with gateway(tmp_path) as gw:
        check_of(gw, ApprovalCheck).default = approvals.Rule("category", 0, ("marketing",))
        rules = "/api/v1/approval-rules/{department_id}"
        bad = await gw.client.put(f"/api/v1/approval-rules/{DEPT}", headers=gw.auth("full"),
                                  json={"mode": "category", "categories": ["spam"]})
        assert check(bad, rules)["error"]["field"] == "categories"
        put = await gw.client.put(f"/api/v1/approval-rules/{DEPT}", headers=gw.auth("full"),
                                  json={"mode": "above", "above": 2})
        assert check(put, rules) == {"department_id": DEPT, "mode": "above", "above": 2,
                                     "categories": []}
        listed = check(await gw.get("/api/v1/approval-rules", key="bob"),
                       "/api/v1/approval-rules")
        assert listed["departments"] == [{"department_id": DEPT, "mode": "above", "above": 2,
                                          "categories": []}]
        plain = await send(gw, "full", TO[:1], "广告", category="marketing")  # box default
        assert plain["policy"]["approval"]["state"] == "pending_approval"
        notice = await send(gw, "full", TO[:1], "通知")
        assert "approval" not in notice.get("policy", {})
        small = await send(gw, "alice", TO[:2], "广告", category="marketing")  # department rule
        assert "approval" not in small.get("policy", {})
        # Another text: the same to TO[0] again would be a duplicate (dedupe leaves it out
        # before approval counts the recipients).
        large = await send(gw, "alice", TO, "通知（全体）")
        assert large["policy"]["approval"]["state"] == "pending_approval"


@pytest.mark.parametrize(("door", "waits"), [("api", True), ("kannel", True), ("console", True),
                                             ("system", False), ("rules", False)])
async def test_the_appliances_own_messages_never_wait(tmp_path: Path, door: str, waits: bool):
    db = open_database(f"sqlite:///{tmp_path / 'cg.db'}")
    migrate(db)
    store = Store(db)
    await store.start()
    try:
        check = ApprovalCheck(store, clock=lambda: NOW, default=approvals.Rule("all"))
        request = SendRequest(to=TO[:1], text="退订成功", origin=Origin(door=door))
        draft = Draft(request=request, rows=[NewMessage(TO[0], "退订成功")],
                      count=count_parts("退订成功"), now=NOW)
        await check.admit(draft)
        assert draft.rows[0].hold is waits
        assert ("approval" in draft.notes) is waits
    finally:
        await store.stop()


@pytest.mark.parametrize(("rule", "recipients", "category", "waits"), [
    (approvals.Rule("none"), 500, "marketing", False),
    (approvals.Rule("all"), 1, "alert", True),
    (approvals.Rule("above", 10), 10, "notice", False),
    (approvals.Rule("above", 10), 11, "notice", True),
    (approvals.Rule("category", 0, ("marketing",)), 1, "marketing", True),
    (approvals.Rule("category", 0, ("marketing",)), 900, "notice", False),
])
def test_which_requests_need_approval(rule: approvals.Rule, recipients: int, category: str,
                                      waits: bool):
    assert rule.needs_approval(recipients, category) is waits


# -- quotas ----------------------------------------------------------------------------------


async def test_an_over_quota_campaign_is_refused_whole(tmp_path: Path):
    async with gateway(tmp_path) as gw:
        await set_quota(gw, f"department:{DEPT}", 5)
        long_text = "长" * 80  # UCS2: two parts each
        refused = await gw.post("/api/v1/messages", key="alice",
                                json={"to": TO, "text": long_text})
        assert refused.status_code == 422
        check(refused, "/api/v1/messages")
        error = refused.json()["error"]
        assert (error["code"], error["field"], error["needed"], error["left"]) == (
            "over_quota", "to", 6, 5)
        assert error["message"] == (
            "to: this send needs 6 parts; 5 left of the department's monthly quota "
            "(department:1 “办公室”: 5 parts a month, 0 sent this month, 0 reserved by "
            "messages waiting)")
        assert (error["account"], error["holder"]) == ("department:1", "办公室")
        listed = (await gw.get("/api/v1/messages", key="full")).json()["messages"]
        assert listed == []  # nothing of it was stored
        fits = await send(gw, "alice", TO[:2], long_text)
        assert fits["policy"]["quota"]["left"] == 1
        for item in fits["messages"]:
            await gw.wait_message(item["id"], {"sent", "delivered"})
        ledger = check(await gw.get(f"/api/v1/ledger?account=department:{DEPT}", key="full"),
                       "/api/v1/ledger")
        assert [e["kind"] for e in ledger["entries"]] == ["charge"] * 4
        assert ledger["balance"] == sum(e["delta"] for e in ledger["entries"]) == -4
        (quota,) = check(await gw.get("/api/v1/quotas", key="full"), "/api/v1/quotas")["quotas"]
        assert (quota["used_this_month"], quota["reserved"], quota["left"]) == (4, 0, 1)
        # Another text of two parts: long_text to TO[0] again would be a duplicate (dedupe
        # leaves it out before the quota is looked at).
        refused = await gw.post("/api/v1/messages", key="carol",
                                json={"to": TO[:1], "text": "短" + long_text[1:]})
        assert refused.json()["error"]["left"] == 1  # the department's, whoever sends


async def test_split_mode_sends_to_those_that_fit(tmp_path: Path):
    async with gateway(tmp_path) as gw:
        check_of(gw, QuotaCheck).on_excess = "split"
        topped = await gw.post("/api/v1/ledger", key="full", json={
            "account": f"user:{IDS['alice']}", "kind": "topup", "parts": 2, "note": "试用"})
        assert topped.status_code == 201, topped.text
        check(topped, "/api/v1/ledger")
        assert (topped.json()["balance"], topped.json()["by"]) == (2, "api key full")
        answer = await send(gw, "alice", TO, "hi")
        assert [m["to"] for m in answer["messages"]] == TO[:2]
        assert answer["rejected"] == [{"to": TO[2], "reason": "over quota"}]
        for item in answer["messages"]:
            await gw.wait_message(item["id"], {"sent", "delivered"})
        ledger = (await gw.get(f"/api/v1/ledger?account=user:{IDS['alice']}", key="full")).json()
        assert [(e["kind"], e["delta"]) for e in ledger["entries"]] == [
            ("charge", -1), ("charge", -1), ("topup", 2)]
        assert ledger["balance"] == 0
        nothing = await gw.post("/api/v1/messages", key="alice", json={"to": TO, "text": "hi"})
        assert nothing.status_code == 422
        assert nothing.json()["error"]["code"] == "over_quota"


async def test_concurrent_requests_cannot_both_take_the_last_parts(tmp_path: Path):
    async with gateway(tmp_path) as gw:
        await set_quota(gw, f"department:{DEPT}", 3)
        answers = await asyncio.gather(*(
            gw.post("/api/v1/messages", key="alice", json={"to": TO[:2], "text": "x"})
            for _ in range(3)))
        assert sorted(a.status_code for a in answers) == [202, 422, 422]


async def test_a_retry_under_its_client_ref_is_answered_though_it_took_the_last_parts(
        tmp_path: Path):
    async with gateway(tmp_path) as gw:
        await set_quota(gw, f"department:{DEPT}", 2)
        body = {"to": TO[:2], "text": "x", "client_ref": "erp-42"}
        first = await send(gw, "alice", **body)
        again = await send(gw, "alice", **body)  # its answer was lost: the same ids
        assert [m["id"] for m in again["messages"]] == [m["id"] for m in first["messages"]]
        more = await gw.post("/api/v1/messages", key="alice", json={**body, "to": TO})
        assert more.json()["error"]["code"] == "over_quota"  # a third recipient is new


async def test_quota_and_ledger_input_is_checked(tmp_path: Path):
    async with gateway(tmp_path) as gw:
        cases = [
            (gw.client.put("/api/v1/quotas/dept:2", headers=gw.auth("full"),
                           json={"monthly": 3}), "account"),
            (gw.client.put("/api/v1/quotas/user:3", headers=gw.auth("full"),
                           json={"monthly": -1}), "monthly"),
            (gw.client.put("/api/v1/quotas/user:3", headers=gw.auth("full"), json={}),
             "monthly"),
            (gw.post("/api/v1/ledger", key="full", json={"account": "user:3", "kind": "charge",
                                                          "parts": 3}), "kind"),
            (gw.post("/api/v1/ledger", key="full", json={"account": "user:3", "parts": "3"}),
             "parts"),
            (gw.get("/api/v1/ledger?account=nobody", key="full"), "account"),
        ]
        for call, field in cases:
            response = await call
            assert response.status_code == 400, response.text
            assert response.json()["error"]["field"] == field
        denied = await gw.post("/api/v1/ledger", key="alice",
                               json={"account": "user:1", "parts": 100})
        assert denied.status_code == 403  # only an admin tops up


async def test_only_an_admin_sees_every_account(tmp_path: Path):
    # A key bound to bob sees bob's account and his department's, no other.
    alice, bob = f"user:{IDS['alice']}", f"user:{IDS['bob']}"
    async with gateway(tmp_path) as gw:
        for account in (alice, bob, f"department:{DEPT}", "department:9"):
            await set_quota(gw, account, 100)
        await gw.post("/api/v1/ledger", key="full", json={"account": alice, "parts": 5})
        everything = check(await gw.get("/api/v1/quotas", key="full"), "/api/v1/quotas")
        assert len(everything["quotas"]) == 4
        seen = check(await gw.get("/api/v1/quotas", key="bob"), "/api/v1/quotas")
        assert sorted(q["account"] for q in seen["quotas"]) == [f"department:{DEPT}", bob]
        assert (await gw.get("/api/v1/ledger", key="bob")).json()["entries"] == []
        other = await gw.get(f"/api/v1/ledger?account={alice}", key="bob")
        check(other, "/api/v1/ledger")
        assert other.status_code == 404


async def test_over_quota_through_the_kannel_and_playsms_doors(tmp_path: Path):
    async with gateway(tmp_path) as gw:
        await set_quota(gw, f"department:{DEPT}", 1)
        kannel = await gw.client.get("/cgi-bin/sendsms", params={
            "username": "alice", "password": gw.keys["alice"], "to": " ".join(TO[:2]),
            "text": "hello"})
        assert kannel.status_code == 403
        assert kannel.text.startswith("this send needs 2 parts; 1 left of the department's "
                                      "monthly quota")
        assert kannel.text.endswith("(over_quota), rejected")
        playsms = await gw.client.get("/index.php", params={
            "app": "ws", "op": "pv", "u": "carol", "h": gw.keys["carol"],
            "to": ",".join(TO[:2]), "msg": "hello"})
        assert playsms.json()["error"] == "103"  # playSMS: not enough credit
        listed = (await gw.get("/api/v1/messages", key="full")).json()["messages"]
        assert listed == []
