"""The content rules end to end: through the JSON API and the Kannel adapter of a running
appliance on simulated modems.

The `[policy]` and `[consent]` settings are read by the checks at each request, so a test sets
them on the running appliance's config (`configure`) instead of restarting it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest

from appliance.pdu import count_parts
from tests.api.conftest import Gateway, running, wait_for
from tests.api.test_openapi import check

pytestmark = pytest.mark.slow

KEYS = {"full": ["send", "read"], "reader": ["read"], "sender": ["send"],
        "admin": ["send", "read", "admin"]}
A, B, C = "+8613800000001", "+8613800000002", "+8613800000003"


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with running(tmp_path, keys=KEYS) as gw:
        await gw.wait_ready()
        yield gw


def configure(gw: Gateway, section: str, **settings: object) -> None:
    config = getattr(gw.appliance.config, section)
    for key, value in settings.items():
        setattr(config, key, value)
    config.validate()


def sent_texts(gw: Gateway, number: str) -> list[str]:
    digits = number.lstrip("+")
    return [a.submit.text for m in gw.fleet.modems for a in m.accepted
            if a.submit.to.lstrip("+") == digits]


async def test_a_forbidden_word_is_refused_naming_it(gateway: Gateway) -> None:
    gw = gateway
    response = await gw.post("/api/v1/policy/words", key="admin", json={"word": "发票"})
    assert response.status_code == 201, response.text
    check(response, "/api/v1/policy/words")
    word_id = response.json()["added"][0]["id"]
    # A bulk import: one word a line; a word already listed once folded is reported.
    response = await gw.post("/api/v1/policy/words", key="admin", content="赌博\n\n发 票\nVPN\n",
                             headers={"Content-Type": "text/plain; charset=utf-8"})
    assert response.status_code == 201, response.text
    assert [w["word"] for w in response.json()["added"]] == ["赌博", "VPN"]
    assert response.json()["already"] == ["发 票"]
    listed = await gw.get("/api/v1/policy/words", key="admin")
    assert [w["word"] for w in check(listed, "/api/v1/policy/words")["words"]] == [
        "发票", "赌博", "VPN"]
    assert (await gw.get("/api/v1/policy/words", key="full")).status_code == 403

    response = await gw.post("/api/v1/messages", json={"to": A, "text": "本店可开发.票，欢迎咨询"})
    assert response.status_code == 422
    error = check(response, "/api/v1/messages")["error"]
    assert error == {"code": "forbidden_word", "field": "text", "word": "发票", "found": "发.票",
                     "position": 4,
                     "message": "text: the text contains the forbidden word “发票” (as “发.票” "
                                "at position 4)"}

    kannel = (f"/cgi-bin/sendsms?username=sender&password={gw.keys['sender']}&to=13800000001"
              f"&text={quote('翻墙用ｖｐｎ')}")
    response = await gw.client.get(kannel)
    assert response.status_code == 403
    assert response.text == ("the text contains the forbidden word “VPN” (as “ｖｐｎ” at "
                             "position 3) (forbidden_word), rejected")

    # Taken off the list, the word no longer stops a message.
    response = await gw.delete(f"/api/v1/policy/words/{word_id}", key="admin")
    assert response.status_code == 200 and response.json()["deleted"] is True
    response = await gw.post("/api/v1/messages", json={"to": A, "text": "本店可开发.票，欢迎咨询"})
    assert response.status_code == 202, response.text
    response = await gw.delete("/api/v1/policy/words", key="admin", params={"word": "ＶＰＮ"})
    assert response.status_code == 200 and response.json()["word"] == "VPN"
    assert (await gw.client.get(kannel)).status_code == 202


@pytest.mark.parametrize(("body", "field"), [
    ({"word": "..."}, "word"), ({"words": ["ok", ""]}, "words[1]"), ({}, "words"),
    ({"word": "a", "words": ["b"]}, "words"), ({"words": "发票"}, "words"),
])
async def test_bad_words_are_refused_naming_the_field(gateway: Gateway, body: dict,
                                                      field: str) -> None:
    response = await gateway.post("/api/v1/policy/words", key="admin", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field


async def test_the_signature_is_added_and_counted_in_parts(gateway: Gateway) -> None:
    gw = gateway
    configure(gw, "policy", signature="市政务中心")
    text = "停" * 67  # one UCS2 part alone; with 【市政务中心】 (7 characters) two
    assert count_parts(text).parts == 1
    response = await gw.post("/api/v1/messages", json={"to": A, "text": text})
    assert response.status_code == 202, response.text
    body = check(response, "/api/v1/messages")
    assert (body["parts"], body["encoding"]) == (2, "ucs2")
    message = (await gw.get(f"/api/v1/messages/{body['messages'][0]['id']}")).json()
    assert message["text"] == "【市政务中心】" + text and message["parts_count"] == 2
    await gw.wait_message(message["id"], {"sent", "delivered"})
    assert "".join(sent_texts(gw, A)) == "【市政务中心】" + text

    # Kannel's callers too; a forged signature is replaced, or refused when so set.
    response = await gw.client.get(
        f"/cgi-bin/sendsms?username=sender&password={gw.keys['sender']}&to=13800000002"
        f"&text={quote('【某某银行】您的验证码1234')}")
    assert response.status_code == 202, response.text
    await wait_for(lambda: sent_texts(gw, B), "the Kannel message")
    assert sent_texts(gw, B) == ["【市政务中心】您的验证码1234"]
    configure(gw, "policy", on_forged="refuse", on_missing="refuse")
    # The box's own messages carry its signature, and are never refused for it.
    gw.fleet.modems[0].inject_sms(C, "TD")
    await wait_for(lambda: sent_texts(gw, C), "the unsubscribe confirmation")
    assert sent_texts(gw, C)[0].startswith("【市政务中心】您已成功退订")
    response = await gw.post("/api/v1/messages", json={"to": A, "text": "〖某某银行〗验证码"})
    assert response.status_code == 422
    assert check(response, "/api/v1/messages")["error"] | {"message": ""} == {
        "code": "signature_forged", "field": "text", "found": "〖某某银行〗",
        "expected": "【市政务中心】", "message": ""}


async def test_department_signatures_over_the_api(gateway: Gateway) -> None:
    gw = gateway
    path = "/api/v1/policy/signatures"
    unknown = await gw.client.put(path, headers=gw.auth("admin"),
                                  json={"department_id": 4, "signature": "【税务局】"})
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (400, "department_id")
    assert "no department with id 4" in unknown.json()["error"]["message"]
    for name in ("办公室", "档案馆", "园林局", "税务局"):  # ids 1 to 4
        made = await gw.client.post("/api/v1/departments", headers=gw.auth("admin"),
                                    json={"name": name})
        assert made.status_code == 201, made.text
    response = await gw.client.put(path, headers=gw.auth("admin"),
                                   json={"department_id": 4, "signature": "【税务局】",
                                         "placement": "end"})
    assert response.status_code == 200, response.text
    assert check(response, path)["signature"] == "税务局"
    signature_check = next(c for c in gw.appliance.policy.checks if c.name == "signature")
    assert signature_check.departments == {4: ("税务局", "end")}
    listed = check(await gw.get(path, key="admin"), path)
    assert listed["default"]["signature"] == "" and listed["default"]["placement"] == "start"
    assert [(d["department_id"], d["signature"], d["placement"])
            for d in listed["departments"]] == [(4, "税务局", "end")]
    for body, field in [({"department_id": 4, "signature": "税"}, "signature"),
                        ({"department_id": 4, "signature": "一二三四五六七八九"}, "signature"),
                        ({"department_id": 0, "signature": "税务局"}, "department_id"),
                        ({"department_id": 4, "signature": "税务局", "placement": "middle"},
                         "placement"),
                        ({"department_id": 4}, "signature")]:
        response = await gw.client.put(path, headers=gw.auth("admin"), json=body)
        assert (response.status_code, response.json()["error"]["field"]) == (400, field), body
    response = await gw.client.put(path, headers=gw.auth("admin"),
                                   json={"department_id": 4, "signature": None})
    assert response.status_code == 200 and response.json()["signature"] is None
    assert signature_check.departments == {}


async def test_marketing_without_consent_is_left_out_and_a_subscribe_reply_grants_it(
        gateway: Gateway) -> None:
    gw = gateway
    configure(gw, "consent", required_for_marketing=True)
    response = await gw.post("/api/v1/contacts", key="admin", json={
        "name": "张三", "numbers": [A], "consent": "granted"})
    assert response.status_code == 201, response.text
    contact = check(response, "/api/v1/contacts")
    assert (contact["consent"]["state"], contact["consent"]["source"]) == ("granted", "staff")
    made = await gw.post("/api/v1/contacts", key="admin", json={"name": "李四", "numbers": [B]})
    assert made.json()["consent"]["state"] == "unknown"

    response = await gw.post("/api/v1/messages",
                             json={"to": [A, B], "text": "双十一大促", "category": "marketing"})
    assert response.status_code == 202, response.text
    body = check(response, "/api/v1/messages")
    assert [m["to"] for m in body["messages"]] == [A]
    assert body["rejected"] == [{"to": B, "reason": "no marketing consent"}]
    message = (await gw.get(f"/api/v1/messages/{body['messages'][0]['id']}")).json()
    assert message["text"] == "双十一大促 回T退订"  # the hint, counted in the parts too
    response = await gw.post("/api/v1/messages",
                             json={"to": B, "text": "双十一大促", "category": "marketing"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "no_recipient_left"
    # A notice needs no consent.
    response = await gw.post("/api/v1/messages", json={"to": B, "text": "明天停水"})
    assert response.status_code == 202 and response.json()["rejected"] == []

    # B replies 订阅: consent granted, from the reply; marketing now reaches B.
    gw.fleet.modems[0].inject_sms(B, "订阅")

    async def consent_of_b() -> str | None:
        shown = (await gw.get(f"/api/v1/contacts/{made.json()['id']}")).json()["consent"]
        return shown["source"] if shown["state"] == "granted" else None

    assert await wait_for(consent_of_b, "B's consent from its reply") == "reply"
    response = await gw.post("/api/v1/messages",
                             json={"to": B, "text": "双十一大促，回T退订", "category": "marketing"})
    assert response.status_code == 202 and response.json()["rejected"] == []

    # TD withdraws it; taking B off the blacklist by hand does not bring marketing back,
    # even with consent no longer required.
    gw.fleet.modems[0].inject_sms(B, "TD")
    await wait_for(lambda: gw.appliance.blacklist.blocked(B), "B on the blacklist")

    async def withdrawn_by() -> str | None:
        # Written by the rules engine after the blacklist add, in its own transaction: the
        # blacklist showing B does not mean the consent is written yet.
        shown = (await gw.get(f"/api/v1/contacts/{made.json()['id']}")).json()["consent"]
        return shown["source"] if shown["state"] == "withdrawn" else None

    assert await wait_for(withdrawn_by, "B's consent withdrawn by its reply") == "reply"
    assert (await gw.delete(f"/api/v1/blacklist/{B}", key="admin")).status_code == 200
    configure(gw, "consent", required_for_marketing=False)
    response = await gw.post("/api/v1/messages", json={"to": [B, C], "text": "大促",
                                                       "category": "marketing"})
    assert response.status_code == 202
    assert response.json()["rejected"] == [{"to": B, "reason": "no marketing consent: withdrawn"}]
    # Staff may record a new consent (say, signed on paper): source "staff".
    response = await gw.client.patch(f"/api/v1/contacts/{made.json()['id']}",
                                     headers=gw.auth("admin"), json={"consent": "granted"})
    assert (response.json()["consent"]["state"], response.json()["consent"]["source"]) == (
        "granted", "staff")
    response = await gw.client.patch(f"/api/v1/contacts/{made.json()['id']}",
                                     headers=gw.auth("admin"), json={"consent": "maybe"})
    assert (response.status_code, response.json()["error"]["field"]) == (400, "consent")


async def test_the_number_quality_report(gateway: Gateway) -> None:
    gw = gateway
    for name, numbers in [("张三", [A]), ("前台", ["010-12345678"]), ("银行", ["BANK"]),
                          ("银行2", ["bank"])]:
        response = await gw.post("/api/v1/contacts", key="admin",
                                 json={"name": name, "numbers": numbers})
        assert response.status_code == 201, response.text
    path = "/api/v1/reports/number-quality"
    report = check(await gw.get(path, key="reader"), path)
    assert report["contacts"] == 4
    assert {(i["name"], i["number"]) for i in report["invalid"]} == {
        ("前台", "+861012345678"), ("银行", "BANK"), ("银行2", "bank")}
    assert [sorted(c["name"] for c in s["contacts"]) for s in report["shared"]] == [
        ["银行", "银行2"]]
    assert (await gw.get(path, key="sender")).status_code == 403
