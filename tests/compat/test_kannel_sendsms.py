"""Kannel's sendsms over HTTP: authentication, Kannel's refusals, the options that change what
the modem sends, form bodies, and delivery reports owed across a restart of their sender."""

from __future__ import annotations

import sqlite3
from urllib.parse import quote

import pytest

from appliance.api.auth import FAILURES_ALLOWED
from appliance.compat.kannel_reports import KannelReports
from tests.api.conftest import Gateway, wait_for
from tests.compat.conftest import Callbacks

SENDSMS = "/cgi-bin/sendsms"
ACCEPTED = "0: Accepted for delivery"
QUEUED = "3: Queued for later delivery"
AUTH_FAILED = "Authorization failed for sendsms"


def sent(gw: Gateway, recipient: str) -> list:
    return [a for modem in gw.fleet.modems for a in modem.accepted if a.submit.to == recipient]


def query(gw: Gateway, key: str = "sender", **fields: str) -> str:
    values = {"username": key, "password": gw.keys[key], "to": "13800138000", "text": "hello"}
    values.update(fields)
    return SENDSMS + "?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in values.items())


def rows(gw: Gateway, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(gw.db_path) as conn:
        return conn.execute(sql, args).fetchall()


# -- authentication ----------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["wrong key", "other key's name", "no send scope", "missing"])
async def test_auth_failures_are_kannels_403(gateway: Gateway, case: str) -> None:
    if case == "wrong key":
        target = query(gateway, password="cg_abcdefgh_" + "x" * 32)
    elif case == "other key's name":
        target = query(gateway, username="full")  # the sender key presented under another name
    elif case == "no send scope":
        target = query(gateway, key="reader")
    else:
        target = SENDSMS + "?to=13800138000&text=hi"
    response = await gateway.client.get(target)
    assert (response.status_code, response.text) == (403, AUTH_FAILED)
    assert response.headers["content-type"].startswith("text/html")
    assert rows(gateway, "SELECT COUNT(*) FROM message") == [(0,)]


async def test_old_spellings_and_the_admin_scope(gateway: Gateway) -> None:
    target = (f"{SENDSMS}?user=sender&pass={quote(gateway.keys['sender'], safe='')}"
              "&to=13800138000&text=old+style")
    response = await gateway.client.get(target)
    assert (response.status_code, response.text) == (202, ACCEPTED)


async def test_failed_attempts_are_throttled_and_a_valid_key_still_works(
        gateway: Gateway) -> None:
    bad = query(gateway, password="cg_abcdefgh_" + "y" * 32)
    for _ in range(FAILURES_ALLOWED):
        assert (await gateway.client.get(bad)).status_code == 403
    throttled = await gateway.client.get(bad)
    assert (throttled.status_code, throttled.text) == (503, "Temporal failure, try again later.")
    assert int(throttled.headers["retry-after"]) >= 1
    good = await gateway.client.get(query(gateway))
    assert (good.status_code, good.text) == (202, ACCEPTED)


# -- refusals ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "status", "text"), [
    ({"to": None}, 400, "Missing receiver number, rejected"),
    ({"to": ""}, 400, "Empty receiver number not allowed, rejected"),
    ({"to": "hello world"}, 400,
     "Number(s) has/have been denied by white- and/or black-lists."),
    ({"smsc": "no-such-sim"}, 403, "Not routable. Do not try again."),
    ({"charset": "EBCDIC-XX"}, 400, "Charset or body misformed, rejected"),
    ({"coding": "1"}, 400, "Coding 1 (8-bit binary) is not supported, rejected"),
    ({"udh": "\x06\x05\x04\x0b\x84\x23\xf0"}, 400,
     "UDH not supported (only concatenation), rejected"),
    ({"validity": "0"}, 400, "Validity field misformed, rejected"),
    ({"deferred": str(400 * 24 * 60)}, 400, "Deferred field misformed, rejected"),
    ({"deferred": "2000000000"}, 400, "Deferred field misformed, rejected"),
    ({"validity": "2000000000"}, 400, "Validity field misformed, rejected"),
    ({"text": "x" * 2000}, 400, None),
])
async def test_refusals_are_kannels(gateway: Gateway, fields: dict, status: int,
                                    text: str | None) -> None:
    values = {"username": "sender", "password": gateway.keys["sender"],
              "to": "13800138000", "text": "hello", **fields}
    target = SENDSMS + "?" + "&".join(
        f"{k}={quote(v, safe='', encoding='latin-1')}" for k, v in values.items()
        if v is not None)
    response = await gateway.client.get(target)
    assert response.status_code == status
    if text is not None:
        assert response.text == text
    else:
        assert response.text.startswith("Text field misformed (") and "too long" in response.text
    assert rows(gateway, "SELECT COUNT(*) FROM message") == [(0,)]


async def test_a_number_that_is_not_one_is_left_out_and_named(gateway: Gateway) -> None:
    response = await gateway.client.get(query(gateway, to="13800138005 12 13800138006"))
    assert (response.status_code, response.text) == (202, ACCEPTED)
    assert response.headers["x-denied-receivers"] == "12"
    assert sorted(r[0] for r in rows(gateway, "SELECT recipient FROM message")) == [
        "+8613800138005", "+8613800138006"]


async def test_blacklisted_receivers_are_named_as_denied(gateway: Gateway) -> None:
    await gateway.appliance.blacklist.add("+8613800138007", "TD", "sms")
    response = await gateway.client.get(query(gateway, to="13800138007 13800138008 12"))
    assert (response.status_code, response.text) == (202, ACCEPTED)
    assert response.headers["x-denied-receivers"] == "12 +8613800138007"
    assert [r[0] for r in rows(gateway, "SELECT recipient FROM message")] == ["+8613800138008"]
    # Every receiver denied: Kannel's refusal, and still each one named.
    response = await gateway.client.get(query(gateway, to="13800138007 1"))
    assert (response.status_code, response.text) == (
        400, "Number(s) has/have been denied by white- and/or black-lists.")
    assert response.headers["x-denied-receivers"] == "1 +8613800138007"
    assert rows(gateway, "SELECT COUNT(*) FROM message") == [(1,)]


# -- what the modem sends ----------------------------------------------------------------------

async def test_coding_2_forces_ucs2_and_mclass_sets_the_class(gateway: Gateway) -> None:
    for to, extra in (("13800138010", {"coding": "2", "charset": "UTF-8"}),
                      ("13800138011", {"mclass": "0"}),
                      ("13800138012", {"mclass": "1", "coding": "0"})):
        response = await gateway.client.get(query(gateway, to=to, text="plain ascii", **extra))
        assert (response.status_code, response.text) == (202, ACCEPTED)
    for to in ("+8613800138010", "+8613800138011", "+8613800138012"):
        await wait_for(lambda t=to: sent(gateway, t), f"the SMS to {to}")
    forced, = sent(gateway, "+8613800138010")
    flash, = sent(gateway, "+8613800138011")
    class1, = sent(gateway, "+8613800138012")
    assert (forced.submit.encoding, forced.submit.text, forced.submit.dcs) == \
        ("ucs2", "plain ascii", 0x08)
    assert (flash.submit.encoding, flash.submit.flash, flash.submit.dcs) == ("gsm7", True, 0x10)
    assert (class1.submit.flash, class1.submit.dcs) == (False, 0x11)


async def test_smsc_names_a_sim_by_label_or_iccid(gateway: Gateway) -> None:
    second = gateway.fleet.modems[1].profile.iccid
    await wait_for(lambda: rows(gateway, "SELECT 1 FROM sim WHERE iccid = ?", second),
                   "the SIM row")
    response = await gateway.client.get(query(gateway, to="13800138020 13800138021 "
                                              "13800138022", smsc=second))
    assert (response.status_code, response.text) == (202, ACCEPTED)
    for n in (20, 21, 22):
        await wait_for(lambda n=n: sent(gateway, f"+86138001380{n}"), "each message")
    assert len(gateway.fleet.modems[1].accepted) == 3 and not gateway.fleet.modems[0].accepted


async def test_deferred_is_queued_for_later(gateway: Gateway) -> None:
    response = await gateway.client.get(query(gateway, deferred="10", account="ops-team",
                                              **{"from": "NAS01"}))
    assert (response.status_code, response.text) == (202, QUEUED)
    (state, send_at, created), = rows(gateway, "SELECT state, send_at, created_at FROM message")
    assert state == "queued" and send_at > created
    assert rows(gateway, "SELECT account, sender FROM kannel_message") == [("ops-team", "NAS01")]


async def test_concatenation_udh_parts_go_as_readable_messages(gateway: Gateway) -> None:
    for index, text in ((1, "first half of a long alert, "), (2, "and its second half")):
        udh = bytes([5, 0, 3, 0x42, 2, index]).decode("latin-1")
        response = await gateway.client.get(query(gateway, to="13800138030", text=text,
                                                  udh=udh, coding="0"))
        assert (response.status_code, response.text) == (202, ACCEPTED)
    await wait_for(lambda: len(sent(gateway, "+8613800138030")) == 2, "both texts")
    texts = sorted(a.submit.text for a in sent(gateway, "+8613800138030"))
    assert texts == ["and its second half", "first half of a long alert, "]


async def test_form_bodies_urlencoded_and_multipart(gateway: Gateway) -> None:
    form = {"username": "sender", "password": gateway.keys["sender"], "to": "13800138040",
            "text": "from a form", "charset": "UTF-8"}
    response = await gateway.client.post(SENDSMS, data=form)
    assert (response.status_code, response.text) == (202, ACCEPTED)
    text = "多部分表单 GBK"
    files = {"text": (None, text.encode("gbk")), "charset": (None, b"GBK"),
             "to": (None, b"13800138041"), "username": (None, b"sender"),
             "password": (None, gateway.keys["sender"].encode())}
    response = await gateway.client.post(SENDSMS, files=files)
    assert (response.status_code, response.text) == (202, ACCEPTED)
    response = await gateway.client.post(SENDSMS, content=b"<xml/>",
                                         headers={"content-type": "text/xml"})
    assert (response.status_code, response.text) == (400, "Invalid content-type")
    await wait_for(lambda: sent(gateway, "+8613800138041") and sent(gateway, "+8613800138040"),
                   "both messages")
    assert sent(gateway, "+8613800138041")[0].submit.text == text
    assert sent(gateway, "+8613800138040")[0].submit.text == "from a form"


# -- delivery reports ----------------------------------------------------------------------------

async def test_reports_owed_while_their_sender_was_stopped_are_sent_on_start(
        gateway: Gateway, callbacks: Callbacks) -> None:
    appliance = gateway.appliance
    await appliance.kannel_reports.stop()  # as if the process were down meanwhile
    dlr_url = callbacks.base_url + "/dlr?t=%d&id=%I&to=%p&mr=%F&i=%i"
    response = await gateway.client.get(query(gateway, to="13800138050", **{
        "dlr-mask": "9", "dlr-url": dlr_url}))
    assert (response.status_code, response.text) == (202, ACCEPTED)
    (message_id,), = rows(gateway, "SELECT id FROM message")
    await wait_for(lambda: rows(gateway, "SELECT state FROM message") == [("delivered",)],
                   "the message delivered")
    assert rows(gateway, "SELECT fired, open FROM kannel_message") == [(0, 1)]

    reports = KannelReports(appliance.store, appliance.hub, appliance.webhooks)
    try:
        await reports.start()
        got = await callbacks.wait(2, "the two reports owed")
    finally:
        await reports.stop()
    iccid = sent(gateway, "+8613800138050")[0]
    assert [r["t"] for r in got] == ["8", "1"]
    assert all(r["id"] == str(message_id) and r["to"] == "+8613800138050" for r in got)
    assert all(r["mr"] == str(iccid.message_reference) for r in got)
    assert {r["i"] for r in got} <= {m.profile.iccid for m in gateway.fleet.modems}
    # Marked fired once each callback is answered, in a write of its own: waited for.
    await wait_for(lambda: rows(gateway, "SELECT fired, open FROM kannel_message") == [(9, 0)],
                   "both reports marked fired")
    # Through the webhooks' durable queue: two GET rows, delivered.
    await wait_for(lambda: rows(gateway, "SELECT event, payload, state FROM webhook_delivery")
                   == [("kannel.dlr", "", "delivered")] * 2, "both deliveries recorded")


async def test_a_failed_start_up_read_of_open_reports_is_tried_again(
        gateway: Gateway, callbacks: Callbacks, monkeypatch) -> None:
    from appliance.compat import kannel_reports as module

    appliance = gateway.appliance
    await appliance.kannel_reports.stop()
    dlr_url = callbacks.base_url + "/dlr?t=%d&id=%I"
    response = await gateway.client.get(query(gateway, to="13800138055", **{
        "dlr-mask": "1", "dlr-url": dlr_url}))
    assert response.status_code == 202
    await wait_for(lambda: rows(gateway, "SELECT state FROM message") == [("delivered",)],
                   "the message delivered")
    real, calls = module.kannel_store.open_reports, []

    def flaky(ids=None):
        calls.append(ids)
        if len(calls) == 1:
            raise OSError("disk I/O error")  # the first start-up read fails
        return real(ids)

    monkeypatch.setattr(module.kannel_store, "open_reports", flaky)
    monkeypatch.setattr(module, "START_RETRY_FIRST", 0.05)
    reports = KannelReports(appliance.store, appliance.hub, appliance.webhooks)
    try:
        await reports.start()
        got = await callbacks.wait(1, "the report owed, after a retry")
    finally:
        await reports.stop()
    assert [r["t"] for r in got] == ["1"] and calls[:2] == [None, None]


async def test_an_unencoded_plus_and_commas_in_to(gateway: Gateway) -> None:
    # `to=+8613800138060` typed into a URL: the + is a space, 8613800138060 is still the number.
    target = (f"{SENDSMS}?username=sender&password={quote(gateway.keys['sender'], safe='')}"
              "&to=+8613800138060,13800138061&text=two")
    response = await gateway.client.get(target)
    assert (response.status_code, response.text) == (202, ACCEPTED)
    assert sorted(r[0] for r in rows(gateway, "SELECT recipient FROM message")) == [
        "+8613800138060", "+8613800138061"]


async def test_a_message_that_never_reaches_the_network_reports_16(
        gateway: Gateway, callbacks: Callbacks) -> None:
    dlr_url = callbacks.base_url + "/dlr?t=%d&a=%A&p=%P&o=%o&n=%n&v=%V"
    response = await gateway.client.get(query(gateway, to="13800138080", deferred="30",
                                              account="acct-9", **{
                                                  "from": "NAS 01", "dlr-mask": "31",
                                                  "dlr-url": dlr_url}))
    assert (response.status_code, response.text) == (202, QUEUED)
    (message_id,), = rows(gateway, "SELECT id FROM message")
    cancelled = await gateway.client.delete(
        f"/api/v1/messages/{message_id}",
        headers={"Authorization": f"Bearer {gateway.keys['sender']}"})
    assert cancelled.status_code == 200, cancelled.text
    (report,) = await callbacks.wait(1, "the rejected report")
    assert report["t"] == "16" and report["a"].startswith("NACK/")
    assert (report["p"], report["o"], report["n"]) == ("NAS 01", "acct-9", "sender")
    assert 28 <= int(report["v"]) <= 30  # %V: minutes until the deferred time
    await wait_for(lambda: rows(gateway, "SELECT fired, open FROM kannel_message") == [(16, 0)],
                   "the report marked fired")
