"""Kannel's sendsms as its real callers use it, against a running appliance on simulated modems.

Each test builds its request the way the caller's own code does (copied from its source):
- playSMS's Kannel gateway plugin (web/plugin/gateway/kannel/fn.php, kannel_hook_sendsms):
  PHP urlencode() of each value, `dlr-mask` from its config (27), a dlr-url with `type=%d`,
  `account=<user>`, for Unicode `charset=UTF-16BE&coding=2` with the text converted to UCS-2BE;
  sent as a bare `GET <url> HTTP/1.0` over a socket read line by line until it closes, counting
  the send done only when a line equals one of Kannel's texts;
- RapidSMS's Kannel backend (rapidsms/backends/kannel/outgoing.py, prepare_request):
  requests.get(params=...) with `to` the identities joined by spaces, `text` the bytes in
  `charset`, `coding`, `dlr-mask=31` and a dlr-url of `status=%d&status_text=%A&smsc=%i&
  sms_id=%I&date_sent=%t&identity=%p`, plus its configured sendsms_params (smsc, from, username,
  password);
- Debian's libnetsds-kannel-perl (NetSDS::Kannel::send): `charset=UTF-8&coding=0`, values through
  URI::Escape's uri_escape, an empty `smsc=`, a dlr-url of `type=dlr&msgid=..&smsid=%I&from=%p&
  to=%P&time=%t&unixtime=%T&dlr=%d&dlrmsg=%A` with dlr-mask 3 — built by hand, and also sent by
  the real module itself (perl, when the Debian package is installed);
- a monitoring script's curl line: username, password, to, text with spaces as %20.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from urllib.parse import quote, quote_plus, urlencode, urlsplit

import pytest

from tests.api.conftest import Gateway, wait_for
from tests.compat.conftest import Callbacks

ACCEPTED = "0: Accepted for delivery"
CHINESE = ("您好，明天上午九点在三楼会议室开会，讨论第四季度的设备维护计划。请准时参加！"
           "测试 GB18030 与 UTF-16BE 编码 😀 会后请把纪要发给各位同事。")  # 2 UCS2 parts


def php_urlencode(value: str | bytes) -> str:
    """PHP's urlencode(): like quote_plus, but `~` is encoded too."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    return quote_plus(data, safe="-_.")


def uri_escape(value: str | bytes) -> str:
    """Perl URI::Escape::uri_escape: everything but RFC 3986 unreserved characters."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    return quote(data, safe="-_.~")


def sent(gw: Gateway, recipient: str) -> list:
    return [a for modem in gw.fleet.modems for a in modem.accepted if a.submit.to == recipient]


async def raw_http10(gw: Gateway, target: str) -> tuple[bytes, list[str]]:
    """playSMS's exchange: `GET target HTTP/1.0` + blank line, no Host header, read until the
    server closes; returns the raw reply and its lines as fgets() returns them (newline kept,
    so a body line matches only if nothing follows it)."""
    host, port = urlsplit(gw.base_url).hostname, urlsplit(gw.base_url).port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {target} HTTP/1.0\r\n\r\n".encode("latin-1"))
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 20)  # until EOF: the server must close
    writer.close()
    lines = raw.decode("latin-1").splitlines(keepends=True)
    return raw, lines


def playsms_url(gw: Gateway, callbacks: Callbacks, *, to: str, text: str,
                unicode: bool = False, smslog_id: int = 1001, uid: int = 1) -> str:
    """kannel_hook_sendsms's URL, line for line."""
    dlr_url = (callbacks.base_url + "/index.php?app=call&cat=gateway&plugin=kannel&access=dlr"
               f"&type=%d&smslog_id={smslog_id}&uid={uid}")
    url = (f"/cgi-bin/sendsms?username={php_urlencode('sender')}"
           f"&password={php_urlencode(gw.keys['sender'])}")
    url += f"&from={php_urlencode('playSMS')}&to={php_urlencode(to)}"
    url += f"&dlr-mask=27&dlr-url={php_urlencode(dlr_url)}"
    message: str | bytes = text
    if unicode:
        message = text.encode("utf-16-be")  # mb_convert_encoding($sms_msg, "UCS-2BE", "auto")
        url += "&charset=UTF-16BE"
        url += "&coding=2"
    url += "&account=admin"
    url += f"&text={php_urlencode(message)}"
    return url.replace("&&", "&")


async def test_playsms_plugin_over_http10_gets_its_line_and_its_reports(
        gateway: Gateway, callbacks: Callbacks) -> None:
    url = playsms_url(gateway, callbacks, to="+8613800138000", text="Server room 31C ~ check")
    raw, lines = await raw_http10(gateway, url)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 202") or head.startswith(b"HTTP/1.1 202"), raw
    assert body == ACCEPTED.encode(), "the body must be Kannel's text, no newline"
    assert b"content-type: text/html" in head.lower()
    assert ACCEPTED in lines, "playSMS compares fgets() lines with the text"

    await wait_for(lambda: sent(gateway, "+8613800138000"), "the SMS on the modem")
    assert sent(gateway, "+8613800138000")[0].submit.text == "Server room 31C ~ check"
    # dlr-mask 27 = 1 + 2 + 8 + 16: "submitted" when sent, then "delivered" on the report.
    reports = await callbacks.wait(2, "two DLR callbacks")
    assert [r["type"] for r in reports] == ["8", "1"]
    assert all(r["smslog_id"] == "1001" and r["uid"] == "1" and r["app"] == "call"
               for r in reports)
    await asyncio.sleep(0.3)
    assert len(callbacks.received) == 2, "a type fires once per message"


async def test_playsms_unicode_text_arrives_intact_as_ucs2(
        gateway: Gateway, callbacks: Callbacks) -> None:
    url = playsms_url(gateway, callbacks, to="+8613800138001", text=CHINESE, unicode=True)
    _, lines = await raw_http10(gateway, url)
    assert ACCEPTED in lines
    await wait_for(lambda: len(sent(gateway, "+8613800138001")) == 2, "both parts sent")
    parts = sorted(sent(gateway, "+8613800138001"), key=lambda a: a.submit.concat.index)
    assert "".join(a.submit.text for a in parts) == CHINESE
    assert {a.submit.encoding for a in parts} == {"ucs2"}


async def test_rapidsms_backend_two_identities_gb18030_and_reports(
        gateway: Gateway, callbacks: Callbacks) -> None:
    iccid = gateway.fleet.modems[0].profile.iccid
    await wait_for(lambda: _sim_row(gateway, iccid), "the SIM's row")
    with sqlite3.connect(gateway.db_path) as conn:
        conn.execute("UPDATE sim SET label = 'gsm-a' WHERE iccid = ?", (iccid,))
    sendsms_params = {"smsc": "gsm-a", "from": "88160", "username": "sender",
                      "password": gateway.keys["sender"]}
    identities = ["+8613800138002", "13800138003"]
    query = dict(sendsms_params)
    query["to"] = " ".join(identities)
    query["text"] = CHINESE.encode("gb18030", "ignore")
    query["coding"] = 0
    query["charset"] = "gb18030"
    query["dlr-mask"] = 31
    dlr_url_params = "&".join(("message_id=%s" % 77,  # noqa: UP031 - RapidSMS's own line
                               "status=%d", "status_text=%A",
                               "smsc=%i", "sms_id=%I", "date_sent=%t", "identity=%p"))
    query["dlr-url"] = "?".join([callbacks.base_url + "/kannel/delivery/", dlr_url_params])
    # requests.get(url, params=query) encodes with urlencode (quote_plus; bytes as they are).
    response = await gateway.client.get("/cgi-bin/sendsms?" + urlencode(query))
    assert response.status_code == 202 and response.text == ACCEPTED
    assert response.headers["content-type"].startswith("text/html")

    for number in ("+8613800138002", "+8613800138003"):
        await wait_for(lambda n=number: len(sent(gateway, n)) == 2, f"{number}'s parts")
        parts = sorted(sent(gateway, number), key=lambda a: a.submit.concat.index)
        assert "".join(a.submit.text for a in parts) == CHINESE
    assert not gateway.fleet.modems[1].accepted, "smsc=gsm-a pins every message to that SIM"

    reports = await callbacks.wait(4, "sent and delivered, for each of the two messages")
    by_identity: dict[str, list[str]] = {}
    for report in reports:
        by_identity.setdefault(report["identity"], []).append(report["status"])
        assert report["message_id"] == "77" and report["smsc"] == "gsm-a"
        sent_at = datetime.strptime(report["date_sent"], "%Y-%m-%d %H:%M:%S")  # RapidSMS's
        assert abs((sent_at.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()) < 120
        assert report["status_text"] in {"ACK/", "Success"}
        assert report["sms_id"].isdigit()
    assert by_identity == {"+8613800138002": ["8", "1"], "+8613800138003": ["8", "1"]}


def _sim_row(gw: Gateway, iccid: str) -> bool:
    with sqlite3.connect(gw.db_path) as conn:
        return conn.execute("SELECT 1 FROM sim WHERE iccid = ?", (iccid,)).fetchone() is not None


async def test_netsds_kannel_send_with_empty_smsc_and_its_dlr_url(
        gateway: Gateway, callbacks: Callbacks) -> None:
    text = "Wake up!!! Встреча в 10:00"
    dlr_url = (callbacks.base_url + "/smsc/kannel_receiver.fcgi"
               "?type=dlr&msgid=4242&smsid=%I&from=%p&to=%P&time=%t&unixtime=%T&dlr=%d"
               "&dlrmsg=%A")
    send = {"username": "sender", "password": gateway.keys["sender"], "charset": "UTF-8",
            "coding": 0, "from": uri_escape("1234"), "to": uri_escape("+380672222111"),
            "text": uri_escape(text), "smsc": "", "dlr-url": uri_escape(dlr_url),
            "dlr-mask": 3}
    query = "&".join(f"{k}={v}" for k, v in send.items())  # map $_ . '=' . $send{$_}
    response = await gateway.client.get("/cgi-bin/sendsms?" + query)
    assert (response.status_code, response.text) == (202, ACCEPTED)
    await wait_for(lambda: sent(gateway, "+380672222111"), "the SMS on a modem")
    assert sent(gateway, "+380672222111")[0].submit.text == text

    (report,) = await callbacks.wait(1, "the delivered report (mask 3: 1 + 2)")
    assert report["type"] == "dlr" and report["msgid"] == "4242"
    assert report["dlr"] == "1" and report["dlrmsg"] == "Success"
    assert report["from"] == "+380672222111" and report["to"] == "1234"
    assert abs(int(report["unixtime"]) - datetime.now(UTC).timestamp()) < 120
    assert report["time"][4] == "-" and report["time"][10] == " "  # 2026-12-01+10:00:00
    assert report["smsid"].isdigit()


async def test_monitoring_script_with_only_the_four_parameters(gateway: Gateway) -> None:
    target = (f"/cgi-bin/sendsms?username=sender&password={gateway.keys['sender']}"
              "&to=13800138009&text=DISK%20FULL%20on%20nas01%20(98%25)")
    response = await gateway.client.get(target)
    assert (response.status_code, response.text) == (202, ACCEPTED)
    await wait_for(lambda: sent(gateway, "+8613800138009"), "the alert on a modem")
    assert sent(gateway, "+8613800138009")[0].submit.text == "DISK FULL on nas01 (98%)"


NETSDS_SCRIPT = r"""
use strict; use warnings;
use NetSDS::Kannel;
my ($url, $key, $dlr, $to, $text) = @ARGV;
my $kannel = NetSDS::Kannel->new(sendsms_url => $url, sendsms_user => 'sender',
                                 sendsms_passwd => $key);
# No default_smsc: Debian's send() then puts an empty `smsc=` in the request.
my $res = $kannel->send(from => 'NetSDS', to => $to, text => $text, dlr_url => $dlr,
                        msgid => 4343);
print defined $res ? "OK:$res" : "ERR:" . ($kannel->errstr // '');
"""


def _netsds_installed() -> bool:
    import subprocess

    try:
        return subprocess.run(["perl", "-MNetSDS::Kannel", "-e", "1"],
                              capture_output=True).returncode == 0
    except OSError:
        return False


@pytest.mark.skipif(not _netsds_installed(),
                    reason="Debian's libnetsds-kannel-perl is not installed "
                           "(tests/install-system-deps.sh installs it)")
async def test_the_real_netsds_kannel_module_sends_and_gets_its_report(
        gateway: Gateway, callbacks: Callbacks) -> None:
    text = "Ночной отчёт: 3 ошибки; 夜间报告"
    process = await asyncio.create_subprocess_exec(
        "perl", "-e", NETSDS_SCRIPT, gateway.base_url + "/cgi-bin/sendsms",
        gateway.keys["sender"], callbacks.base_url + "/smsc/kannel_receiver.fcgi",
        "+8613800138070", text.encode("utf-8"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert out.decode() == "OK:" + ACCEPTED, err.decode()
    await wait_for(lambda: sent(gateway, "+8613800138070"), "the SMS on a modem")
    assert sent(gateway, "+8613800138070")[0].submit.text == text
    (report,) = await callbacks.wait(1, "NetSDS's default mask 3: the delivered report")
    assert (report["type"], report["msgid"], report["dlr"], report["dlrmsg"]) == \
        ("dlr", "4343", "1", "Success")
    assert report["from"] == "+8613800138070" and report["to"] == "NetSDS"
