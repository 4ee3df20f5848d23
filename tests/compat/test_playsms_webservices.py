"""playSMS webservices over HTTP against the running appliance on simulated modems: the
requests a playSMS client sends (GET with a query, POST forms), delivery status polled until
delivered, the inbox and the "incoming" a rule answered, every error code, every format, and
hostile text given back exactly."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote

import pytest

from tests.api.conftest import Gateway, wait_for

WS = "/index.php"
KEYS = {"full": ["send", "read"], "reader": ["read"], "sender": ["send"], "admin": ["admin"]}
HOSTILE = ('"},{"status":"OK"}]} </msg><x>&amp; <![CDATA[ ]]> \'; DROP TABLE message;-- '
           's:3:"a"; \\u0000 \\/ {{7*7}} ${jndi:x} \u202e退订 😀 é')



def target(gw: Gateway, op: str, key: str = "full", **fields: str) -> str:
    """The URL a playSMS client builds: app=ws, u, h, op, then the fields, urlencoded."""
    values = {"app": "ws", "u": key, "h": gw.keys[key], "op": op, **fields}
    return WS + "?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in values.items())


async def call(gw: Gateway, op: str, key: str = "full", **fields: str) -> dict[str, Any]:
    response = await gw.client.get(target(gw, op, key, **fields))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body.pop("timestamp"), int)
    return body


def err(code: str, text: str) -> dict[str, str]:
    return {"status": "ERR", "error": code, "error_string": text}


def sent(gw: Gateway, recipient: str) -> list:
    return [a for modem in gw.fleet.modems for a in modem.accepted if a.submit.to == recipient]


async def poll_ds(gw: Gateway, status: str, **fields: str) -> list[dict[str, str]]:
    """ds until every listed message has `status`, as a playSMS client polls."""
    got: list[dict[str, str]] = []

    async def done() -> bool:
        nonlocal got
        body = await call(gw, "ds", **fields)
        got = body.get("data", [])
        return bool(got) and all(item["status"] == status for item in got)

    await wait_for(done, f"ds status {status} for {fields}")
    return got


# -- pv and ds ---------------------------------------------------------------------------------

async def test_pv_by_get_then_ds_until_delivered(gateway: Gateway) -> None:
    before = int(time.time())
    await gateway.appliance.blacklist.add("+8613800138007", "TD", "sms")
    body = await call(gateway, "pv", to="13800138001,+8613800138002,@anton,13800138007,0,"
                      "13800138001", msg="hello from playSMS", **{"from": "ACME"})
    data = body.pop("data")
    assert body == {"error_string": None}
    queue = data[0]["queue"]
    assert len(queue) == 32 and int(queue, 16) >= 0
    ids = [int(data[0]["smslog_id"]), int(data[1]["smslog_id"])]
    assert data == [
        {"status": "OK", "error": "0", "smslog_id": str(ids[0]), "queue": queue,
         "to": "13800138001"},
        {"status": "OK", "error": "0", "smslog_id": str(ids[1]), "queue": queue,
         "to": "+8613800138002"},
        {"status": "ERR", "error": "201", "smslog_id": "", "queue": "", "to": "@anton"},
        {"status": "ERR", "error": "200", "smslog_id": "", "queue": "", "to": "13800138007"},
        {"status": "ERR", "error": "201", "smslog_id": "", "queue": "", "to": "0"},
    ]
    delivered = await poll_ds(gateway, "3", queue=queue)
    own = {m.profile.own_number for m in gateway.fleet.modems}
    assert [d["smslog_id"] for d in delivered] == [str(ids[1]), str(ids[0])]  # newest first
    for item, dst in zip(delivered, ["+8613800138002", "+8613800138001"], strict=True):
        assert item["dst"] == dst and item["msg"] == "hello from playSMS"
        assert item["src"] in own
        assert item["dt"] <= item["update"]
        assert time.strftime("%Y-%m-%d", time.gmtime(before)) <= item["dt"][:10]
    assert len(sent(gateway, "+8613800138001")) == 1  # the repeated number went once
    assert sent(gateway, "+8613800138007") == []

    # the filters: smslog_id, dst (any spelling of the number), c, last, src, dt
    one = await call(gateway, "ds", smslog_id=str(ids[0]))
    assert [d["smslog_id"] for d in one["data"]] == [str(ids[0])]
    by_dst = await call(gateway, "ds", dst="+86 138 0013 8002")
    assert [d["smslog_id"] for d in by_dst["data"]] == [str(ids[1])]
    assert [d["smslog_id"] for d in (await call(gateway, "ds", c="1"))["data"]] == [str(ids[1])]
    after = await call(gateway, "ds", last=str(ids[0]))
    assert [d["smslog_id"] for d in after["data"]] == [str(ids[1])]
    src = delivered[0]["src"]
    assert all(d["src"] == src for d in (await call(gateway, "ds", src=src))["data"])
    today = delivered[0]["dt"][:10]
    assert len((await call(gateway, "ds", dt=today))["data"]) == 2
    assert await call(gateway, "ds", dt="2001-01-01") == err(
        "400", "no delivery status available")


async def test_pv_by_post_forms_with_unicode_and_flash(gateway: Gateway) -> None:
    form = {"app": "ws", "u": "sender", "h": gateway.keys["sender"], "op": "pv",
            "to": "13800138010", "msg": "plain ascii", "unicode": "1"}
    response = await gateway.client.post(WS, data=form)  # urlencoded body, nothing in the query
    assert response.status_code == 200
    first = response.json()["data"][0]
    assert (first["status"], first["error"], first["to"]) == ("OK", "0", "13800138010")
    multipart = await gateway.client.post(
        WS + "?app=ws&op=pv", files={"x": ("x.txt", b"ignored")},
        data={"u": "sender", "h": gateway.keys["sender"], "to": "13800138011",
              "msg": "flash news", "type": "flash"})
    second = multipart.json()["data"][0]
    assert (second["status"], second["to"]) == ("OK", "13800138011")
    for to in ("+8613800138010", "+8613800138011"):
        await wait_for(lambda t=to: sent(gateway, t), f"the SMS to {to}")
    forced, = sent(gateway, "+8613800138010")
    flash, = sent(gateway, "+8613800138011")
    assert (forced.submit.encoding, forced.submit.text) == ("ucs2", "plain ascii")
    assert (flash.submit.flash, flash.submit.text) == (True, "flash news")


async def test_ds_queue_codes_401_402_400(gateway: Gateway) -> None:
    later = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() + 86400))
    body = await call(gateway, "pv", to="13800138020", msg="tomorrow",
                      schedule=later + "+00:00")
    queue, smslog_id = body["data"][0]["queue"], body["data"][0]["smslog_id"]
    assert body["data"][0]["status"] == "OK"
    # waiting for its time: not listed, and its queue is "still in queue"
    assert await call(gateway, "ds", queue=queue) == err(
        "401", "no delivery status retrieved and SMS still in queue")
    assert await call(gateway, "ds", smslog_id=smslog_id) == err(
        "400", "no delivery status available")
    now = await call(gateway, "pv", to="13800138021", msg="now")
    queue_now = now["data"][0]["queue"]
    await poll_ds(gateway, "3", queue=queue_now)
    assert await call(gateway, "ds", queue=queue_now, dst="13900139999") == err(
        "402", "no delivery status retrieved and SMS has been processed from queue")
    assert await call(gateway, "ds", queue="f" * 32) == err(
        "400", "no delivery status available")
    # another key's queue is not ours to see
    assert await call(gateway, "ds", key="reader", queue=queue_now) == err(
        "400", "no delivery status available")


@pytest.mark.parametrize(("fields", "code", "text"), [
    ({"msg": "no receiver"}, "201", "destination number or message is empty"),
    ({"to": "13800138000"}, "201", "destination number or message is empty"),
    ({"to": "13800138000", "msg": "x" * 2000}, "200", "send message failed"),
    ({"to": "13800138000", "msg": "bell\x07"}, "200", "send message failed"),
    ({"to": "13800138000", "msg": "x", "schedule": "soon"}, "200", "send message failed"),
])
async def test_pv_refusals(gateway: Gateway, fields: dict, code: str, text: str) -> None:
    assert await call(gateway, "pv", **fields) == err(code, text)
    assert (await call(gateway, "ds")) == err("400", "no delivery status available")


async def test_pv_every_recipient_refused(gateway: Gateway) -> None:
    await gateway.appliance.blacklist.add("+8613800138007", "TD", "sms")
    body = await call(gateway, "pv", to="13800138007,12", msg="x")
    assert body == {"data": [
        {"status": "ERR", "error": "200", "smslog_id": "", "queue": "", "to": "13800138007"},
        {"status": "ERR", "error": "201", "smslog_id": "", "queue": "", "to": "12"}],
        "error_string": None}


# -- authentication, ops -----------------------------------------------------------------------

@pytest.mark.parametrize(("case", "op"), [
    ("wrong key", "pv"), ("other key's name", "pv"), ("no send scope", "pv"),
    ("no read scope", "ds"), ("no read scope", "ix"), ("no read scope", "in"),
    ("missing h", "ix"), ("missing u", "ds"),
])
async def test_auth_failures_are_error_100(gateway: Gateway, case: str, op: str) -> None:
    fields = {"to": "13800138000", "msg": "hi"} if op == "pv" else {}
    if case == "wrong key":
        url = target(gateway, op, **fields).replace(
            quote(gateway.keys["full"], safe=""), "cg_abcdefgh_" + "x" * 32)
    elif case == "other key's name":
        url = target(gateway, op, **fields).replace("u=full", "u=sender")
    elif case == "no send scope":
        url = target(gateway, op, key="reader", **fields)
    elif case == "no read scope":
        url = target(gateway, op, key="sender")
    elif case == "missing h":
        url = f"{WS}?app=ws&op={op}&u=full"
    else:
        url = f"{WS}?app=ws&op={op}&h={quote(gateway.keys['full'], safe='')}"
    response = await gateway.client.get(url)
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body.pop("timestamp"), int)
    assert body == err("100", "authentication failed")
    assert (await call(gateway, "ds")) == err("400", "no delivery status available")


async def test_admin_key_may_do_everything(gateway: Gateway) -> None:
    body = await call(gateway, "pv", key="admin", to="13800138030", msg="admin")
    assert body["data"][0]["status"] == "OK"
    listed = await call(gateway, "ds", key="admin")
    assert [d["dst"] for d in listed["data"]] == ["+8613800138030"]


async def test_bad_and_missing_op(gateway: Gateway) -> None:
    assert await call(gateway, "inject", msg="x") == err(
        "101", "type of action is invalid or unknown")
    response = await gateway.client.get(f"{WS}?app=ws&u=full&h=x")
    assert response.json()["error"] == "102"
    assert response.json()["error_string"] == "one or more field empty"
    other = await gateway.client.get(f"{WS}?app=main&op=pv")
    assert other.json()["error"] == "101"
    # a GET pv sends: HEAD is not offered (it would send too)
    head = await gateway.client.head(target(gateway, "pv", to="13800138000", msg="head"))
    assert head.status_code == 405
    assert await call(gateway, "ds") == err("400", "no delivery status available")


async def test_throttled_address_gets_100_with_retry_after(gateway: Gateway) -> None:
    from appliance.api.auth import FAILURES_ALLOWED

    for _ in range(FAILURES_ALLOWED):
        await gateway.client.get(f"{WS}?app=ws&op=ds&u=full")
    response = await gateway.client.get(f"{WS}?app=ws&op=ds&u=full")
    assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1
    assert response.json()["error"] == "100"
    # a valid key is still served from a throttled address
    assert (await call(gateway, "ds")) == err("400", "no delivery status available")


# -- formats -----------------------------------------------------------------------------------

async def test_xml_and_serialize_formats(gateway: Gateway) -> None:
    response = await gateway.client.get(target(gateway, "pv", to="13800138040", msg="a&b<c>",
                                               format="xml"))
    assert response.headers["content-type"] == "text/xml;charset=UTF-8"
    assert response.text.startswith('<?xml version="1.0"?>\n<response><data><item>')
    root = ET.fromstring(response.content)
    item = root.find("data/item")
    assert [c.tag for c in item] == ["status", "error", "smslog_id", "queue", "to"]
    assert (item.findtext("status"), item.findtext("to")) == ("OK", "13800138040")
    assert root.find("error_string").text is None and int(root.findtext("timestamp")) > 0
    smslog_id = item.findtext("smslog_id")
    await poll_ds(gateway, "3", smslog_id=smslog_id)
    ds = await gateway.client.get(target(gateway, "ds", smslog_id=smslog_id,
                                         format="serialize"))
    assert ds.headers["content-type"] == "text/plain;charset=UTF-8"
    assert ds.text.startswith(f'a:3:{{s:4:"data";a:1:{{i:0;a:7:{{s:9:"smslog_id";'
                              f's:{len(smslog_id)}:"{smslog_id}";s:3:"src";')
    assert 's:3:"msg";s:6:"a&b<c>";' in ds.text and 's:6:"status";s:1:"3";}}' in ds.text
    tail = ds.text.rpartition('s:12:"error_string";N;s:9:"timestamp";i:')[2]
    assert tail.endswith(";}") and abs(int(tail[:-2]) - time.time()) < 60
    refused = await gateway.client.get(f"{WS}?app=ws&op=ix&format=XML")
    assert refused.text == ('<?xml version="1.0"?>\n<response><status>ERR</status><error>100'
                            '</error><error_string>authentication failed</error_string>'
                            f'<timestamp>{ET.fromstring(refused.content).findtext("timestamp")}'
                            '</timestamp></response>\n')


# -- ix and in ---------------------------------------------------------------------------------

async def test_ix_gives_hostile_text_back_exactly_in_every_format(gateway: Gateway) -> None:
    assert await call(gateway, "ix") == err("501", "no data returned or result is empty")
    modem = gateway.fleet.modems[1]
    modem.inject_sms("+8613900139000", HOSTILE)
    modem.inject_sms("+8613900139001", "second")

    async def two() -> bool:
        return len((await call(gateway, "ix")).get("data", [])) == 2

    await wait_for(two, "both messages in the inbox")
    body = await call(gateway, "ix")
    second, first = body["data"]
    assert body["error_string"] is None
    assert set(first) == {"id", "src", "dst", "msg", "dt"}
    assert (first["src"], first["msg"], first["dst"]) == \
        ("+8613900139000", HOSTILE, modem.profile.own_number)
    assert (second["src"], second["msg"]) == ("+8613900139001", "second")
    assert int(second["id"]) > int(first["id"])
    assert len(first["dt"]) == 19
    raw = (await gateway.client.get(target(gateway, "ix"))).content
    assert raw.isascii()  # json_encode's defaults: \uXXXX beyond ASCII, and "/" as "\/"
    assert b'<\\/msg><x>&amp;' in raw and b"\\ud83d\\ude00" in raw
    after = await call(gateway, "ix", last=first["id"])
    assert [d["id"] for d in after["data"]] == [second["id"]]
    xml = await gateway.client.get(target(gateway, "ix", src="13900139000", format="xml"))
    assert xml.content.isascii()
    assert ET.fromstring(xml.content).findtext("data/item/msg") == HOSTILE
    ser = await gateway.client.get(target(gateway, "ix", src="13900139000",
                                          format="serialize"))
    encoded = HOSTILE.encode()
    assert f's:3:"msg";s:{len(encoded)}:"'.encode() + encoded + b'";' in ser.content
    only = await call(gateway, "ix", dst=modem.profile.own_number, c="1")
    assert [d["id"] for d in only["data"]] == [second["id"]]
    assert await call(gateway, "ix", dst="+8600000000000") == err(
        "501", "no data returned or result is empty")


async def test_in_lists_what_a_rule_answered(gateway: Gateway) -> None:
    rule = {"name": "PRICE", "match": "exact", "pattern": "价格",
            "actions": [{"type": "reply", "template": "list: {text}"}]}
    response = await gateway.post("/api/v1/rules", key="admin", json=rule)
    assert response.status_code == 201, response.text
    assert await call(gateway, "in") == err("501", "no data returned or result is empty")
    modem = gateway.fleet.modems[0]
    modem.inject_sms("+8613900139010", "hello")  # no rule matches: inbox only
    modem.inject_sms("+8613900139011", "价格")

    async def answered() -> bool:
        return bool(sent(gateway, "+8613900139011"))

    await wait_for(answered, "the rule's reply")
    await wait_for(lambda: _inbox_count(gateway, 2), "both in the inbox")
    body = await call(gateway, "in")
    item, = body["data"]
    assert item.pop("id").isdigit() and len(item.pop("dt")) == 19
    assert item == {"src": "+8613900139011", "dst": modem.profile.own_number, "kwd": "PRICE",
                    "msg": "价格", "status": "1"}
    assert len((await call(gateway, "in", kwd="price"))["data"]) == 1
    assert await call(gateway, "in", kwd="OTHER") == err(
        "501", "no data returned or result is empty")
    assert len((await call(gateway, "ix"))["data"]) == 2


async def _inbox_count(gw: Gateway, count: int) -> bool:
    response = await gw.get("/api/v1/inbox")
    return len(response.json()["messages"]) >= count


async def test_pv_many_recipients(gateway: Gateway) -> None:
    # more than intake allows: refused whole, before any number is parsed
    many = ",".join(str(10_000_000_000 + i) for i in range(10_001))
    response = await gateway.client.post(WS, data={"app": "ws", "op": "pv", "u": "full",
                                                   "h": gateway.keys["full"], "to": many,
                                                   "msg": "x"})
    body = response.json()
    body.pop("timestamp")
    assert body == err("200", "send message failed")
    # 250 items (parsed on a worker thread): each answered, in order
    items = [str(i) for i in range(1, 250)] + ["13800138050"]
    response = await gateway.client.post(WS, data={"app": "ws", "op": "pv", "u": "full",
                                                   "h": gateway.keys["full"],
                                                   "to": ",".join(items), "msg": "x"})
    data = response.json()["data"]
    assert [d["to"] for d in data] == items
    assert {d["error"] for d in data[:-1]} == {"201"}
    assert (data[-1]["status"], data[-1]["error"]) == ("OK", "0")
    listed = await call(gateway, "ds")
    assert [d["dst"] for d in listed["data"]] == ["+8613800138050"]


@pytest.mark.parametrize(("op", "field"), [("ds", "last"), ("ix", "last"), ("in", "last"),
                                           ("ds", "smslog_id"), ("ds", "c")])
async def test_a_number_beyond_64_bits_is_read_as_php_reads_it(gateway: Gateway, op: str,
                                                               field: str) -> None:
    body = await call(gateway, op, **{field: "99999999999999999999"})
    assert body["status"] == "ERR" and body["error"] in ("400", "501")
