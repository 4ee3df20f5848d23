"""/api/v1/rules: create, list in order, change, reorder, delete; scopes; 400s naming the field;
and the dry run's answers."""

from __future__ import annotations

import pytest

from tests.rules.conftest import add_rule

REPLY = [{"type": "reply", "template": "{name}您好，收到：{text}"}]


async def test_crud_and_order(gw):
    a = await add_rule(gw, name="a", match="exact", pattern="价格", actions=REPLY)
    b = await add_rule(gw, name="b", match="any", actions=REPLY)
    c = await add_rule(gw, name="c", match="prefix", pattern="地址", actions=REPLY, position=1)
    listed = (await gw.get("/api/v1/rules", key="reader")).json()["rules"]
    assert [(r["name"], r["position"]) for r in listed] == [("c", 1), ("a", 2), ("b", 3)]

    patched = await gw.client.patch(f"/api/v1/rules/{a['id']}", headers=gw.auth("admin"),
                                    json={"pattern": "ＰＲＩＣＥ", "stop": False, "position": 3})
    assert patched.status_code == 200, patched.text
    assert patched.json()["pattern"] == "ＰＲＩＣＥ" and patched.json()["stop"] is False
    assert patched.json()["actions"] == REPLY  # what the patch did not name stays
    listed = (await gw.get("/api/v1/rules")).json()["rules"]
    assert [r["name"] for r in listed] == ["c", "b", "a"]

    order = await gw.post("/api/v1/rules/order", key="admin",
                          json={"ids": [a["id"], b["id"], c["id"]]})
    assert [r["name"] for r in order.json()["rules"]] == ["a", "b", "c"]
    # The engine took the change at once (no polling): its rules are in the new order.
    assert [r.name for r in gw.appliance.rules.rules] == ["a", "b", "c"]
    assert gw.appliance.rules.rules[0].matcher.normalized == "price"

    put = await gw.client.put(f"/api/v1/rules/{b['id']}", headers=gw.auth("admin"),
                              json={"name": "b2", "match": "contains", "pattern": "hi",
                                    "actions": [{"type": "blacklist"}]})
    assert put.status_code == 200 and put.json()["match"] == "contains"

    deleted = await gw.delete(f"/api/v1/rules/{a['id']}", key="admin")
    assert deleted.status_code == 200
    assert (await gw.get(f"/api/v1/rules/{a['id']}")).status_code == 404
    listed = (await gw.get("/api/v1/rules")).json()["rules"]
    assert [(r["name"], r["position"]) for r in listed] == [("b2", 1), ("c", 2)]
    assert [r.name for r in gw.appliance.rules.rules] == ["b2", "c"]


async def test_scopes(gw):
    rule = {"name": "x", "match": "any", "actions": REPLY}
    assert (await gw.post("/api/v1/rules", key="full", json=rule)).status_code == 403
    assert (await gw.post("/api/v1/rules", key=None, json=rule)).status_code == 401
    assert (await gw.get("/api/v1/rules", key="reader")).status_code == 200
    assert (await gw.post("/api/v1/rules/dry-run", key="reader",
                          json={"sender": "+8613800138000", "text": "x"})).status_code == 200


# (case, body, field named)
BAD = [
    ("bad regex", {"name": "r", "match": "regex", "pattern": "(x", "actions": REPLY},
     "pattern"),
    ("missing placeholder", {"name": "r", "match": "any",
                             "actions": [{"type": "reply", "template": "{nom}"}]},
     "actions[0].template"),
    ("no actions", {"name": "r", "match": "any", "actions": []}, "actions"),
    ("unknown field", {"name": "r", "match": "any", "actions": REPLY, "colour": 1}, "colour"),
    ("bad position", {"name": "r", "match": "any", "actions": REPLY, "position": 0},
     "position"),
    ("bad window", {"name": "r", "match": "any", "actions": REPLY,
                    "conditions": {"time": {"from": "25:00", "to": "01:00"}}},
     "conditions.time.from"),
]


@pytest.mark.parametrize("case,body,field", BAD, ids=[c[0] for c in BAD])
async def test_bad_rules_are_400_naming_the_field(gw, case, body, field):
    response = await gw.post("/api/v1/rules", key="admin", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == field
    assert field in error["message"]
    assert (await gw.get("/api/v1/rules")).json()["rules"] == []  # nothing stored


async def test_patch_that_breaks_a_rule_is_refused_and_changes_nothing(gw):
    rule = await add_rule(gw, name="a", match="exact", pattern="x", actions=REPLY)
    response = await gw.client.patch(f"/api/v1/rules/{rule['id']}", headers=gw.auth("admin"),
                                     json={"match": "regex", "pattern": "[oops"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "pattern"
    assert (await gw.get(f"/api/v1/rules/{rule['id']}")).json()["pattern"] == "x"
    missing = await gw.client.patch("/api/v1/rules/999", headers=gw.auth("admin"),
                                    json={"name": "z"})
    assert missing.status_code == 404


async def test_reorder_must_list_every_rule(gw):
    a = await add_rule(gw, name="a", match="any", actions=REPLY)
    await add_rule(gw, name="b", match="any", actions=REPLY)
    response = await gw.post("/api/v1/rules/order", key="admin", json={"ids": [a["id"]]})
    assert response.status_code == 400 and "missing" in response.json()["error"]["message"]


async def test_dry_run_says_what_would_match_and_be_sent(gw):
    sim = gw.fleet.modems[0].profile.iccid
    await add_rule(gw, name="price", match="exact", pattern="价格", stop=False,
                   actions=[{"type": "reply", "template": "价格表：{date} {text}"},
                            {"type": "forward", "to": ["+8613900000009"]}])
    await add_rule(gw, name="office hours", match="any",
                   conditions={"time": {"from": "09:00", "to": "18:00"}},
                   actions=[{"type": "add_to_group", "group": 1}])
    await add_rule(gw, name="else", match="any", actions=[{"type": "reply", "template": "?"}])
    body = (await gw.post("/api/v1/rules/dry-run", json={
        "sender": "13800138000", "text": "价格 ", "sim": sim,
        "at": "2026-12-07T20:00:00+08:00"})).json()
    assert body["number"] == "+8613800138000"
    assert body["normalized_text"] == "价格"
    assert [(r["name"], r["matched"]) for r in body["rules"]] == [
        ("price", True), ("office hours", False), ("else", True)]
    assert "20:00 is outside 09:00-18:00" in body["rules"][1]["why"]
    assert body["stopped_by"] == body["rules"][2]["id"]
    # Only one reply per message: the first rule's goes; the catch-all's is held back by the
    # cooldown that first reply would start (what the dry run shows is what would happen).
    actions = body["actions"]
    assert actions[0] == {"rule_id": body["rules"][0]["id"], "rule": "price",
                          "action": "reply", "to": ["+8613800138000"],
                          "text": "价格表：2026-12-07 价格 ", "via_sim": sim}
    assert actions[1]["action"] == "forward" and actions[1]["to"] == ["+8613900000009"]
    assert actions[1]["text"] == "13800138000 : 价格 "
    assert [b["action"] for b in body["blocked"]] == ["reply"]
    assert "cooldown" in body["blocked"][0]["why"]
    # Nothing was sent or written.
    assert (await gw.get("/api/v1/rules/log")).json()["entries"] == []
    assert all(not m.accepted for m in gw.fleet.modems)


# (case, sender, text, what the body must say)
DRY = [
    ("unsubscribe", "+8613800138000", "ＴＤ", {"unsubscribe": "unsubscribe"}),
    ("resubscribe", "+8613800138000", "订阅", {"unsubscribe": "resubscribe"}),
    ("alphanumeric blocked", "ALIPAY", "hello", {"blocked_why": "alphanumeric"}),
    ("short code blocked", "10086", "hello", {"blocked_why": "service number"}),
]


@pytest.mark.parametrize("case,sender,text,expect", DRY, ids=[c[0] for c in DRY])
async def test_dry_run_unsubscribe_and_safety(gw, case, sender, text, expect):
    await add_rule(gw, name="else", match="any", actions=[{"type": "reply", "template": "?"}])
    body = (await gw.post("/api/v1/rules/dry-run",
                          json={"sender": sender, "text": text})).json()
    if "unsubscribe" in expect:
        assert body["unsubscribe"] == expect["unsubscribe"]
        assert body["rules"] == []  # the built-in runs first and ends it
        kinds = [a["action"] for a in body["actions"]]
        assert kinds == [expect["unsubscribe"], expect["unsubscribe"] + "_reply"]
        assert "订阅" in body["actions"][1]["text"] or "TD" in body["actions"][1]["text"]
    else:
        assert body["actions"] == []
        assert expect["blocked_why"] in body["blocked"][0]["why"]


# (case, body, field)
BAD_DRY = [
    ("no sender", {"text": "x"}, "sender"),
    ("text not string", {"sender": "1", "text": 5}, "text"),
    ("naive time", {"sender": "1", "text": "x", "at": "2026-12-07T10:00"}, "at"),
    ("unknown", {"sender": "1", "text": "x", "send": True}, "send"),
]


@pytest.mark.parametrize("case,body,field", BAD_DRY, ids=[c[0] for c in BAD_DRY])
async def test_bad_dry_run(gw, case, body, field):
    response = await gw.post("/api/v1/rules/dry-run", json=body)
    assert response.status_code == 400 and response.json()["error"]["field"] == field


async def test_dry_run_sender_with_a_lone_surrogate_is_a_400(gw):
    # Found by the OpenAPI fuzz (tests/api/test_openapi.py): it was a 500.
    response = await gw.post("/api/v1/rules/dry-run", content=_json(
        {"sender": "\ud800", "text": ""}), headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "sender"


async def test_head_answers_like_get(gw):
    rule = await add_rule(gw, name="a", match="any", actions=REPLY)
    for path in ("/api/v1/rules", "/api/v1/rules/log", f"/api/v1/rules/{rule['id']}"):
        got = await gw.get(path)
        head = await gw.client.head(path, headers=gw.auth())
        assert head.status_code == got.status_code == 200, path
        assert head.content == b""


HOSTILE = ["<script>alert(1)</script>", "'; DROP TABLE rule; --", "\u202eevil\u202c",
           "长" * 4000, "a\x00b", "x\ud800y"]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
async def test_dry_run_takes_hostile_text(gw, text):
    await add_rule(gw, name="echo", match="any",
                   actions=[{"type": "reply", "template": "您说：{text}"}])
    response = await gw.post("/api/v1/rules/dry-run", content=_json(
        {"sender": "+8613800138000", "text": text}),
        headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    (action,) = response.json()["actions"]
    assert action["text"].startswith("您说：")
    assert "\x00" not in action["text"]  # what would be sent is fit to send


def _json(body: dict) -> bytes:
    import json

    # ensure_ascii keeps a lone surrogate as the escape "\ud800", as a hostile client sends it.
    return json.dumps(body, ensure_ascii=True).encode()
