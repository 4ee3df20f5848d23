"""playSMS webservices' parameters and answers as pure functions, from tables: what PHP's
`$_REQUEST`, `json_encode`, SimpleXML's `asXML()` and `serialize()` make of them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import pytest

from appliance.compat import playsms_ws as ws

SHANGHAI = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


# -- parameters ------------------------------------------------------------------------------

@pytest.mark.parametrize(("sources", "expected"), [
    ([b"u=a&h=b"], {"u": "a", "h": "b"}),
    ([b"msg=hello+world%21"], {"msg": "hello world!"}),
    ([b"msg=%20%0Ahi%09%00"], {"msg": "hi"}),  # PHP trim(): space, LF, TAB, NUL
    ([b"to=1&to=2"], {"to": "2"}),  # the last repetition wins in PHP
    ([b"op=ds&u=x", b"op=pv"], {"op": "pv", "u": "x"}),  # the body over the query
    ([b"msg=%E4%BD%A0%E5%A5%BD"], {"msg": "你好"}),
    ([b"msg=%FF"], {"msg": "\ufffd"}),
    ([b"&&novalue&=x"], {"novalue": "", "": "x"}),
])
def test_parameters_as_php_reads_them(sources: list[bytes], expected: dict) -> None:
    assert ws.parse_params(*sources) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("", "json"), ("json", "json"), ("XML", "xml"), ("xml", "xml"), ("Serialize", "serialize"),
    ("yaml", "json"),
])
def test_output_format(value: str, expected: str) -> None:
    assert ws.output_format({"format": value}) == expected


@pytest.mark.parametrize(("op", "outcome"), [
    ("pv", "pv"), ("PV", "pv"), ("Ds", "ds"), ("ix", "ix"), ("in", "in"),
    ("", "102"), ("sx", "101"), ("inject", "101"), ("cr", "101"),
])
def test_operation(op: str, outcome: str) -> None:
    if outcome.isdigit():
        with pytest.raises(ws.WsError) as caught:
            ws.operation({"op": op} if op else {})
        assert caught.value.code == outcome
    else:
        assert ws.operation({"op": op}) == outcome


@pytest.mark.parametrize(("raw", "expected"), [
    ("0987654321", [("0987654321", False)]),
    ("+8613800138000, 13900139000", [("+8613800138000", False), ("13900139000", False)]),
    ("138-0013 8000,,", [("13800138000", False)]),  # core_sanitize_mobile; empty items dropped
    ("1,1,2", [("1", False), ("2", False)]),
    ("#STAFF,@anton,abc", [("#STAFF", True), ("@anton", True)]),  # "abc" sanitises to nothing
    ("1234567890123456789", [("123456789012345", False)]),  # at most 15
])
def test_recipients(raw: str, expected: list[tuple[str, bool]]) -> None:
    assert [(r.given, r.refused) for r in ws.recipients(raw)] == expected


def test_pv_reads_the_options() -> None:
    pv = ws.read_pv({"to": "13800138000", "msg": "a\r\nb", "unicode": "1", "type": "flash",
                     "from": "ACME", "schedule": "2026-12-03 09:30:00"}, SHANGHAI, NOW)
    assert pv.text == "a\nb"  # sendsms(): CRLF counted as one character
    assert (pv.force_ucs2, pv.flash, pv.sender) == (True, True, "ACME")
    assert pv.schedule == datetime(2026, 12, 3, 1, 30, tzinfo=UTC)
    plain = ws.read_pv({"to": "1", "msg": "x", "unicode": "0", "type": "text",
                        "schedule": "2020-01-01 00:00:00"}, SHANGHAI, NOW)
    assert (plain.force_ucs2, plain.flash, plain.schedule) == (False, False, None)  # past: now


@pytest.mark.parametrize(("params", "code"), [
    ({"msg": "x"}, "201"), ({"to": "1"}, "201"), ({"to": "", "msg": "x"}, "201"),
    ({"to": "abc", "msg": "x"}, "201"), ({"to": "1", "msg": "x", "schedule": "tomorrow"}, "200"),
])
def test_pv_refusals(params: dict, code: str) -> None:
    with pytest.raises(ws.WsError) as caught:
        ws.read_pv(params, SHANGHAI, NOW)
    assert caught.value.code == code


@pytest.mark.parametrize(("raw", "start", "length"), [
    ("2026-12-02", datetime(2026, 12, 2, tzinfo=UTC), timedelta(days=1)),
    ("2026-12-02 13", datetime(2026, 12, 2, 13, tzinfo=UTC), timedelta(hours=1)),
    ("2026-12-02 13:05", datetime(2026, 12, 2, 13, 5, tzinfo=UTC), timedelta(minutes=1)),
    ("2026-12-02 13:05:09", datetime(2026, 12, 2, 13, 5, 9, tzinfo=UTC), timedelta(seconds=1)),
    ("2026-12", datetime(2026, 12, 1, tzinfo=UTC), timedelta(days=31)),
    ("2026", datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=365)),
])
def test_dt_is_a_prefix_of_the_time(raw: str, start: datetime, length: timedelta) -> None:
    assert ws.time_range(raw) == (start, start + length)


def test_list_filters() -> None:
    q = ws.read_list({"c": "5", "last": "17", "queue": "ab", "smslog_id": "3", "src": "1",
                      "dst": "2", "kwd": "IDOL"})
    assert (q.count, q.last, q.queue, q.smslog_id, q.src, q.dst, q.kwd) == \
        (5, 17, "ab", 3, "1", "2", "IDOL")
    assert ws.read_list({}).count == 100
    assert ws.read_list({"c": "abc"}).count == 100
    assert ws.read_list({"c": "99999999999"}).count == ws.MAX_COUNT
    with pytest.raises(ws.WsError) as caught:
        ws.read_list({"dt": "12:40"})  # not a prefix of a time: nothing can match
    assert caught.value.code == "501"


# -- answers ---------------------------------------------------------------------------------

PV = ws.answer(data=[ws.pv_ok(30, "afb5", "0987654321"), ws.pv_err("200", "13900139000")],
               timestamp=1764640000)
ERR = ws.answer(error="100", timestamp=1764640000)


def test_pv_answer_in_json_is_playsms_byte_for_byte() -> None:
    data, content_type = ws.render(PV, "json")
    assert content_type == "application/json"
    assert data == (b'{"data":[{"status":"OK","error":"0","smslog_id":"30","queue":"afb5",'
                    b'"to":"0987654321"},{"status":"ERR","error":"200","smslog_id":"",'
                    b'"queue":"","to":"13900139000"}],"error_string":null,'
                    b'"timestamp":1764640000}')


def test_error_answers_in_each_format() -> None:
    assert ws.render(ERR, "json") == (
        b'{"status":"ERR","error":"100","error_string":"authentication failed",'
        b'"timestamp":1764640000}', "application/json")
    assert ws.render(ERR, "xml") == (
        b'<?xml version="1.0"?>\n<response><status>ERR</status><error>100</error>'
        b'<error_string>authentication failed</error_string><timestamp>1764640000</timestamp>'
        b'</response>\n', "text/xml;charset=UTF-8")
    assert ws.render(ERR, "serialize") == (
        b'a:4:{s:6:"status";s:3:"ERR";s:5:"error";s:3:"100";s:12:"error_string";'
        b's:21:"authentication failed";s:9:"timestamp";i:1764640000;}',
        "text/plain;charset=UTF-8")


def test_pv_answer_in_xml_and_serialize() -> None:
    assert ws.render(PV, "xml")[0] == (
        b'<?xml version="1.0"?>\n<response><data><item><status>OK</status><error>0</error>'
        b'<smslog_id>30</smslog_id><queue>afb5</queue><to>0987654321</to></item><item>'
        b'<status>ERR</status><error>200</error><smslog_id/><queue/><to>13900139000</to>'
        b'</item></data><error_string/><timestamp>1764640000</timestamp></response>\n')
    assert ws.render(PV, "serialize")[0] == (
        b'a:3:{s:4:"data";a:2:{i:0;a:5:{s:6:"status";s:2:"OK";s:5:"error";s:1:"0";'
        b's:9:"smslog_id";s:2:"30";s:5:"queue";s:4:"afb5";s:2:"to";s:10:"0987654321";}'
        b'i:1;a:5:{s:6:"status";s:3:"ERR";s:5:"error";s:3:"200";s:9:"smslog_id";s:0:"";'
        b's:5:"queue";s:0:"";s:2:"to";s:11:"13900139000";}}s:12:"error_string";N;'
        b's:9:"timestamp";i:1764640000;}')


@pytest.mark.parametrize("error", sorted(ws.ERROR_STRINGS))
def test_every_error_code_has_playsms_text(error: str) -> None:
    body = json.loads(ws.render(ws.answer(error=error, timestamp=1), "json")[0])
    assert body == {"status": "ERR", "error": error, "error_string": ws.ERROR_STRINGS[error],
                    "timestamp": 1}


HOSTILE = ('"},{"status":"OK"</msg><x>&amp;&#0; \\u0000 é 你好 😀 \r\n\t\x00\x1b[31m'
           "<![CDATA[ ]]> '; DROP TABLE message;-- ${jndi:x} {{7*7}} s:3:\"a\";}")


def test_hostile_text_round_trips_in_json_and_serialize() -> None:
    body = ws.answer(data=[{"msg": HOSTILE}], timestamp=1)
    data = ws.render(body, "json")[0]
    assert data.isascii()  # json_encode's default: every non-ASCII character escaped
    assert json.loads(data)["data"][0]["msg"] == HOSTILE
    serialized = ws.render(body, "serialize")[0]
    raw = HOSTILE.encode()
    assert f's:3:"msg";s:{len(raw)}:"'.encode() + raw + b'";' in serialized


def test_hostile_text_in_xml_is_escaped_and_only_the_unrepresentable_replaced() -> None:
    data = ws.render(ws.answer(data=[{"msg": HOSTILE}], timestamp=1), "xml")[0]
    assert data.isascii()
    msg = ET.fromstring(data).find("data/item/msg").text
    # XML 1.0 has no way to carry NUL or ESC: those become U+FFFD, the rest is exact.
    assert msg == HOSTILE.replace("\x00", "\ufffd").replace("\x1b", "\ufffd")


@pytest.mark.parametrize(("state", "status"), [
    ("queued", "0"), ("sending", "0"), ("sent", "1"), ("ambiguous", "1"), ("delivered", "3"),
    ("failed", "2"), ("expired", "2"), ("cancelled", "2"),
])
def test_ds_status_of_each_state(state: str, status: str) -> None:
    at = datetime(2026, 12, 2, 1, 2, 3, tzinfo=UTC)
    item = ws.ds_item({"id": 7, "src": "", "recipient": "+8613800138000", "text": "t",
                       "created_at": at, "updated_at": at + timedelta(seconds=5),
                       "state": state})
    assert item == {"smslog_id": "7", "src": "", "dst": "+8613800138000", "msg": "t",
                    "dt": "2026-12-02 01:02:03", "update": "2026-12-02 01:02:08",
                    "status": status}
