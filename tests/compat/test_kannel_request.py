"""Kannel's sendsms parameters read as smsbox reads them, from tables."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.compat import kannel_request as kr
from appliance.compat.kannel_request import Refusal, parse_pairs, percent_decode, read_request

CHINESE = "设备告警：三号机房温度过高"


def params(query: str | bytes) -> dict[str, bytes]:
    raw = query.encode("latin-1") if isinstance(query, str) else query
    return parse_pairs(raw)


def base(**extra: str) -> str:
    fields = {"username": "u", "password": "p", "to": "13800138000", "text": "hi"}
    fields.update(extra)
    return "&".join(f"{k}={v}" for k, v in fields.items())


@pytest.mark.parametrize(("raw", "decoded"), [
    (b"a+b", b"a b"),
    (b"a%20b", b"a b"),
    (b"%2B86", b"+86"),
    (b"100%", b"100%"),
    (b"%zz%4", b"%zz%4"),
    (b"%E6%82%A8", "您".encode()),
    (b"%ff%00", b"\xff\x00"),
])
def test_percent_decoding_gives_bytes(raw: bytes, decoded: bytes) -> None:
    assert percent_decode(raw) == decoded


def test_first_occurrence_wins_and_query_before_body() -> None:
    got = parse_pairs(b"to=1&to=2&text=q", b"text=b&from=x")
    assert got == {"to": b"1", "text": b"q", "from": b"x"}


def test_both_spellings() -> None:
    old = read_request(params("user=u&pass=p&to=13800138000&text=x&dlrmask=3"
                              "&dlrurl=http%3A%2F%2Fh%2Fd%3Ft%3D%25d"))
    assert (old.username, old.password, old.dlr_mask, old.dlr_url) == \
        ("u", "p", 3, "http://h/d?t=%d")
    new = read_request(params("username=u&password=p&to=13800138000&text=x&dlr-mask=3"
                              "&dlr-url=http://h/d&dlrmask=5"))
    assert (new.username, new.dlr_mask, new.dlr_url) == ("u", 3, "http://h/d")


@pytest.mark.parametrize(("to", "receivers"), [
    ("13800138000", ["13800138000"]),
    ("13800138000+13800138001", ["13800138000", "13800138001"]),  # + is a space
    ("13800138000%2013800138001", ["13800138000", "13800138001"]),
    ("13800138000,13800138001", ["13800138000", "13800138001"]),  # our choice: commas split
    ("13800138000,+13800138001", ["13800138000", "13800138001"]),
    ("%2B8613800138000%20%2B8613800138000", ["+8613800138000"]),  # duplicates once
])
def test_receivers(to: str, receivers: list[str]) -> None:
    assert read_request(params(base(to=to))).to == receivers


@pytest.mark.parametrize(("charset", "coding", "raw", "text"), [
    ("", "", CHINESE.encode("utf-8"), CHINESE),
    ("UTF-8", "0", CHINESE.encode("utf-8"), CHINESE),
    ("GB2312", "", CHINESE.encode("gb2312"), CHINESE),
    ("gbk", "0", CHINESE.encode("gbk"), CHINESE),
    ("GB18030", "2", (CHINESE + "😀").encode("gb18030"), CHINESE + "😀"),
    ("UTF-16BE", "2", CHINESE.encode("utf-16-be"), CHINESE),
    ("UCS-2BE", "2", CHINESE.encode("utf-16-be"), CHINESE),
    ("", "2", CHINESE.encode("utf-16-be"), CHINESE),  # coding 2 with no charset: UTF-16BE
    ("ISO-8859-1", "", "Grüße".encode("latin-1"), "Grüße"),
])
def test_text_is_bytes_in_charset(charset: str, coding: str, raw: bytes, text: str) -> None:
    query = b"username=u&password=p&to=13800138000&text=" + b"".join(
        b"%%%02X" % c for c in raw) + f"&charset={charset}&coding={coding}".encode()
    send = read_request(parse_pairs(query))
    assert send.text == text and send.charset == charset


@pytest.mark.parametrize(("query", "status", "text"), [
    ("username=u&password=p&text=x", 400, "Missing receiver number, rejected"),
    ("username=u&password=p&to=&text=x", 400, "Empty receiver number not allowed, rejected"),
    (base(charset="KLINGON"), 400, "Charset or body misformed, rejected"),
    (base(charset="base64"), 400, "Charset or body misformed, rejected"),
    (base(charset="unicode_escape"), 400, "Charset or body misformed, rejected"),
    (base(text="%FF%FE", charset="UTF-8"), 400, "Charset or body misformed, rejected"),
    (base(text="%A1", charset="GB2312"), 400, "Charset or body misformed, rejected"),
    (base(text=""), 400, kr.EMPTY_TEXT),
    (base(text="+++"), 400, kr.EMPTY_TEXT),
    (base(coding="1"), 400, kr.BINARY_UNSUPPORTED),
    (base(coding="3"), 400, "Coding field misformed, rejected"),
    (base(mclass="4"), 400, "MClass field misformed, rejected"),
    (base(**{"dlr-mask": "67"}), 400, "DLR-Mask field misformed, rejected"),
    (base(**{"dlr-url": "ftp://x/y"}), 400, "DLR-URL field misformed, rejected"),
    (base(priority="4"), 400, "Priority field misformed, rejected"),
    (base(validity="-2"), 400, "Validity field misformed, rejected"),
    (base(deferred="-5"), 400, "Deferred field misformed, rejected"),
    (base(account="a%0Ab"), 400, "Account field misformed or too long, rejected"),
    (base(udh="%06%05%04%0B%84%23%F0"), 400, kr.UDH_UNSUPPORTED),  # WAP push ports
    (base(udh="%05%00%03%01"), 400, "UDH field misformed, rejected"),
    (base(to="%2C%2C"), 400, kr.DENIED),
])
def test_refusals_in_kannels_words(query: str, status: int, text: str) -> None:
    with pytest.raises(Refusal) as caught:
        read_request(params(query))
    assert (caught.value.status, caught.value.text) == (status, text)


def test_numbers_as_sscanf_reads_them() -> None:
    send = read_request(params(base(mclass="0x", priority=" 2abc", validity="", deferred="z",
                                    coding="-1")))
    assert (send.mclass, send.priority, send.validity, send.deferred, send.coding) == \
        (0, 2, None, None, None)


def test_a_concatenation_udh_from_a_caller_that_splits_is_kept() -> None:
    send = read_request(params(base(udh="%05%00%03%A7%02%01", coding="0")))
    assert send.udh == bytes.fromhex("050003A70201")
    send16 = read_request(params(base(udh="%06%08%04%12%34%02%02")))
    assert send16.udh == bytes.fromhex("060804123402 02".replace(" ", ""))


def test_empty_smsc_is_any_sim_and_undefined_values_are_none() -> None:
    send = read_request(params(base(smsc="", from_="x")))
    assert send.smsc == "" and send.dlr_mask is None and send.coding is None


def test_priorities_map_below_the_admin_only_range() -> None:
    assert kr.our_priority(None) == ("notice", None)
    assert [kr.our_priority(p) for p in range(4)] == [
        ("notice", 10), ("notice", 13), ("notice", 16), ("alert", 20)]

NAMES = ["username", "password", "to", "text", "charset", "coding", "mclass", "udh", "smsc",
         "priority", "validity", "deferred", "account", "from", "dlr-mask", "dlr-url", "binfo"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES), st.binary(max_size=40)))
def test_any_bytes_are_read_or_refused_in_kannels_words(fields: dict[str, bytes]) -> None:
    try:
        send = read_request(fields)
    except Refusal as refusal:
        assert refusal.status in (400, 403) and refusal.text
    else:
        assert send.to and send.text.strip()
        assert send.coding in (None, 0, 2) and send.mclass in (None, 0, 1, 2, 3)
