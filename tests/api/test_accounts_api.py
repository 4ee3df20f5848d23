"""Users, departments and the audit log through the real HTTP API of a running appliance."""

from __future__ import annotations

import base64
import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from appliance.accounts.service import LoginRefused
from appliance.store.accounts import create_department
from appliance.store.apikeys import create_api_key
from appliance.store.service import run_in_database
from tests.api.conftest import running

KEYS = {"admin": ["send", "read", "admin"], "full": ["send", "read"]}


@pytest.fixture
async def gw(tmp_path: Path):
    async with running(tmp_path, modems=1, keys=KEYS) as gateway:
        yield gateway


async def test_users_and_departments_end_to_end(gw):
    post, get = gw.post, gw.get
    r = await post("/api/v1/departments", "admin", json={"name": "办公室", "short_name": "市政办"})
    assert r.status_code == 201, r.text
    office = r.json()
    assert office["name"] == "办公室" and office["short_name"] == "市政办"
    r = await post("/api/v1/departments", "admin", json={"name": "办公室"})
    assert r.status_code == 409 and r.json()["error"]["field"] == "name"

    r = await post("/api/v1/users", "admin", json={
        "name": "zhang.san", "role": "operator", "password": "first-pass-1",
        "display_name": "张三", "department_id": office["id"]})
    assert r.status_code == 201, r.text
    user = r.json()
    assert {k: user[k] for k in ("name", "display_name", "role", "department", "disabled",
                                 "must_change_password")} == {
        "name": "zhang.san", "display_name": "张三", "role": "operator", "department": "办公室",
        "disabled": False, "must_change_password": True}
    assert "first-pass-1" not in r.text and "scrypt" not in r.text and "hash" not in r.text

    for body, field in [({"name": "li si", "role": "viewer", "password": "long-enough"}, "name"),
                        ({"name": "lisi", "role": "boss", "password": "long-enough"}, "role"),
                        ({"name": "lisi", "role": "viewer", "password": "short"}, "password"),
                        ({"name": "lisi", "role": "viewer", "password": "LISI"}, "password"),
                        ({"name": "lisi", "role": "viewer"}, "password"),
                        ({"name": "lisi", "role": "viewer", "password": "long-enough",
                          "department_id": 999}, "department_id"),
                        ({"name": "lisi", "role": "viewer", "password": "long-enough",
                          "admin": True}, "admin")]:
        r = await post("/api/v1/users", "admin", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["field"] == field, (body, r.text)
    r = await post("/api/v1/users", "admin", json={"name": "zhang.san", "role": "viewer",
                                                   "password": "long-enough"})
    assert r.status_code == 409

    r = await post("/api/v1/users", "full", json={"name": "x", "role": "viewer",
                                                  "password": "long-enough"})
    assert r.status_code == 403  # only admin keys manage users
    assert (await get("/api/v1/users", "full")).status_code == 403

    uid = user["id"]
    accounts = gw.appliance.accounts
    first = await accounts.authenticate("zhang.san", "first-pass-1", "10.0.0.2")
    await accounts.change_password(first, "first-pass-1", "second-pass-2")
    r = await gw.client.patch(f"/api/v1/users/{uid}", headers=gw.auth("admin"),
                              json={"role": "approver", "password": "reset-pass-3"})
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "approver" and r.json()["must_change_password"] is True
    with pytest.raises(LoginRefused):
        await accounts.authenticate("zhang.san", "second-pass-2", "10.0.0.2")
    assert (await accounts.authenticate("zhang.san", "reset-pass-3", "10.0.0.2")).role == \
        "approver"

    for _ in range(5):  # lock the user out
        with pytest.raises(LoginRefused):
            await accounts.authenticate("zhang.san", "wrong-wrong", "10.0.0.3")
    with pytest.raises(LoginRefused) as refused:
        await accounts.authenticate("zhang.san", "reset-pass-3", "10.0.0.4")
    assert refused.value.reason == "locked"
    r = await post(f"/api/v1/users/{uid}/unlock", "admin")
    assert r.json() == {"id": uid, "name": "zhang.san", "unlocked": True}
    assert (await accounts.authenticate("zhang.san", "reset-pass-3", "10.0.0.4")).id == uid

    listed = (await get("/api/v1/users", "admin")).json()["users"]
    assert [u["name"] for u in listed] == ["zhang.san"]
    assert (await get(f"/api/v1/users/{uid + 100}", "admin")).status_code == 404
    r = await gw.delete(f"/api/v1/departments/{office['id']}", "admin")
    assert r.status_code == 409 and "still has 1 user" in r.json()["error"]["message"]

    r = await get("/api/v1/audit?action=user&order=asc", "admin")
    assert [e["action"] for e in r.json()["entries"]] == ["user.create", "user.change",
                                                         "user.unlock"]
    r = await get("/api/v1/audit?action=password&order=asc", "admin")
    assert [e["action"] for e in r.json()["entries"]] == ["password.change", "password.reset"]
    lockouts = (await get("/api/v1/audit?action=login.lockout", "admin")).json()["entries"]
    assert lockouts and lockouts[-1]["target"] == "user:zhang.san"
    assert "reset-pass-3" not in (await get("/api/v1/audit?limit=500", "admin")).text


async def test_admin_changes_and_sends_are_audited_and_the_chain_verifies(tmp_path):
    url = f"sqlite:///{tmp_path / 'cg.db'}"  # the file `running` serves (before it starts)
    department = run_in_database(url, lambda: create_department("运维部", "运维"))
    key = run_in_database(url, lambda: create_api_key(
        "plc-7", ["send"], department_id=department["id"]))
    async with running(tmp_path, modems=1, keys=KEYS) as gw:
        await _audited_end_to_end(gw, department, key)


async def _audited_end_to_end(gw, department, key):
    # A send and a change on the same routes before the ones looked at below: each request
    # gets its own entry (the trail remembers per route only that sends are not its own).
    r = await gw.client.post("/api/v1/messages", headers={"Authorization": f"Bearer {key}"},
                             json={"to": "+8613800138000", "text": "水泵 2 号复位"})
    assert r.status_code == 202, r.text
    r = await gw.post("/api/v1/blacklist", "admin", json={"number": "+8613700137001"})
    assert r.status_code == 201, r.text
    r = await gw.client.post("/api/v1/messages", headers={"Authorization": f"Bearer {key}"},
                             json={"to": ["+8613800138000", "+8613900139000"],
                                   "text": "水泵 3 号过热"})
    assert r.status_code == 202, r.text
    ids = [m["id"] for m in r.json()["messages"]]

    r = await gw.post("/api/v1/blacklist", "admin", json={"number": "+8613700137000",
                                                          "reason": "asked"})
    assert r.status_code == 201
    r = await gw.post("/api/v1/webhooks", "admin", json={
        "url": "http://127.0.0.1:9/hook", "events": ["sms.received"]})
    assert r.status_code == 201, r.text
    webhook_id = r.json()["id"]

    basic = base64.b64encode(f"full:{gw.keys['full']}".encode()).decode()
    r = await gw.client.post("/webhooks", headers={"Authorization": f"Basic {basic}"},
                             json={"url": "http://127.0.0.1:9/android", "event": "sms:received"})
    assert r.status_code == 201, r.text

    entries = (await gw.get("/api/v1/audit?order=asc", "admin")).json()["entries"]
    by_action = {e["action"]: e for e in entries}
    actions = [e["action"] for e in entries]
    assert actions.count("message.send") == 2 and actions.count("blacklist.create") == 2
    assert not {"message.create", "android.message.create"} & set(actions)
    send = by_action["message.send"]
    assert send["actor"]["kind"] == "api_key" and send["door"] == "api"
    assert send["detail"]["department_id"] == department["id"]  # the key's binding: Origin
    assert send["detail"]["recipients"] == 2 and send["detail"]["parts"] == 1
    assert send["detail"]["first_recipients"] == ["+8613800138000", "+8613900139000"]
    assert send["detail"]["first_id"] == min(ids)
    assert len(send["detail"]["text_sha256"]) == 64 and "水泵" not in json.dumps(send)
    assert by_action["blacklist.create"]["actor"]["name"] == "admin"
    assert by_action["blacklist.create"]["detail"]["body"]["number"] == "+8613700137000"
    hook = by_action["webhook.create"]
    assert hook["target"] == f"webhooks:{webhook_id}"
    assert "secret" not in hook["detail"]["body"] or hook["detail"]["body"]["secret"] == "***"

    android = by_action["android.webhook.create"]
    assert (android["door"], android["actor"]["name"]) == ("android", "full")
    assert android["target"] == f"webhooks:{r.json()['id']}"

    r = await gw.get("/api/v1/audit/verify", "admin")
    assert r.json() == {"ok": True, "entries": len(entries), "first_bad": None,
                        "last_hash": entries[-1]["hash"]}

    r = await gw.get("/api/v1/audit/export?format=csv", "admin")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:3] == ["seq", "at", "actor_kind"] and len(rows) == len(entries) + 1
    r = await gw.get("/api/v1/audit/export?format=jsonl", "admin")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [e["seq"] for e in lines] == [e["seq"] for e in entries]
    r = await gw.get("/api/v1/audit/export?format=xml", "admin")
    assert r.status_code == 400 and r.json()["error"]["field"] == "format"

    page = (await gw.get("/api/v1/audit?limit=1", "admin")).json()
    assert len(page["entries"]) == 1 and page["next_before"] == entries[-1]["seq"]

    # someone with the file: drop the trigger, edit an entry
    con = sqlite3.connect(gw.db_path)
    con.execute("DROP TRIGGER audit_entry_no_update")
    con.execute("UPDATE audit_entry SET detail = '{}' WHERE seq = ?", (send["seq"],))
    con.commit()
    con.close()
    r = await gw.get("/api/v1/audit/verify", "admin")
    assert r.json()["ok"] is False
    assert r.json()["first_bad"] == {"seq": send["seq"],
                                     "reason": "its contents do not match its hash (it was "
                                               "edited)"}
