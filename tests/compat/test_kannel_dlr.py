"""Kannel's DLR escape codes and DLR types, from tables (gw/urltrans.c, gw/dlr.h)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from appliance.compat import kannel_dlr as dlr
from appliance.compat.kannel_dlr import DlrValues, due_types, render, url_encode

AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
NOW = AT + timedelta(seconds=30)

BASE = DlrValues(
    type=8, reply="ACK/", smsc_id="gsm-a", message_id=1234, foreign_id="17",
    receiver="+8613800138000", sender="0086 10 1234", time=AT, service="nas-alerts",
    coding=2, mclass=0, charset="GB18030", udh=bytes.fromhex("050003A70201"),
    binfo="dept 7/b", account="acct&1", validity_at=AT + timedelta(minutes=90, seconds=20),
    deferred_at=AT - timedelta(minutes=2), dlr_url="http://x/y?a=1&b=%d")


@pytest.mark.parametrize(("pattern", "expected"), [
    ("%d", "8"),
    ("%A", "ACK%2F"),
    ("%b", "ACK%2F"),
    ("%a", "ACK%2F"),
    ("%k", "ACK%2F"),
    ("%e", "41434B2F"),
    ("%i", "gsm-a"),
    ("%I", "1234"),
    ("%F", "17"),
    ("%p", "%2B8613800138000"),
    ("%P", "0086+10+1234"),
    ("%q", "%2B8613800138000"),
    ("%Q", "%2B86+10+1234"),  # a leading 00 becomes %2B
    ("%t", "2026-03-04+05:06:07"),
    ("%T", str(int(AT.timestamp()))),
    ("%n", "nas-alerts"),
    ("%c", "2"),
    ("%m", "0"),
    ("%M", "-1"),  # MWI: never set
    ("%C", "GB18030"),
    ("%u", "%05%00%03%A7%02%01"),
    ("%B", "dept+7%2Fb"),
    ("%o", "acct%261"),
    ("%O", "24"),  # DCS 0x18 (UCS2, class 0) printed "%02d"
    ("%f", ""),
    ("%v", "89"),  # 89 min 50 s left: truncated toward zero
    ("%V", "-2"),
    ("%R", "http%3A%2F%2Fx%2Fy%3Fa%3D1%26b%3D%25d"),
    ("%D", ""),
    ("%%", "%"),
    ("%z", "%z"),  # an unknown code stays as it is
    ("100%", "100%"),  # a % at the end stays
    ("a%#smpp#x#b", "ab"),  # meta-data: none kept, empty
    ("http://h/dlr?t=%d&s=%A&m=%I", "http://h/dlr?t=8&s=ACK%2F&m=1234"),
])
def test_escape_codes_render_as_kannel_renders_them(pattern: str, expected: str) -> None:
    assert render(pattern, BASE, NOW) == expected


def test_words_of_the_reply_for_k_s_S_r() -> None:
    values = DlrValues(type=16, reply="NACK/ no route* here", smsc_id="", message_id=1,
                       foreign_id="", receiver="+86", sender="", time=AT)
    assert render("%k|%s|%S|%r", values, NOW) == "NACK%2F|no|route~|here"
    assert render("%k|%r", values, NOW) == "NACK%2F|no+route*+here"
    assert render("%a", values, NOW) == "NACK%2F+no+route*+here"


def test_undefined_fields_render_as_kannel_renders_them() -> None:
    bare = DlrValues(type=1, reply="Success", smsc_id="", message_id=5, foreign_id="",
                     receiver="+8613800138000", sender="", time=AT)
    assert render("%c|%m|%C|%O|%v|%V|%u|%B|%o", bare, NOW) == "0|-1|UTF-8|00|||||"
    ucs2 = DlrValues(type=1, reply="", smsc_id="", message_id=5, foreign_id="",
                     receiver="", sender="", time=AT, coding=2)
    assert render("%C|%O", ucs2, NOW) == "UTF-16BE|08"


@pytest.mark.parametrize(("raw", "encoded"), [
    ("abc-_.!~*'()XYZ09", "abc-_.!~*'()XYZ09"),
    ("a b", "a+b"),
    ("+/?&=%#", "%2B%2F%3F%26%3D%25%23"),
    ("您", "%E6%82%A8"),
    (b"\x00\xff", "%00%FF"),
])
def test_url_encoding_is_octstr_url_encode(raw: str | bytes, encoded: str) -> None:
    assert url_encode(raw) == encoded


@pytest.mark.parametrize(("mask", "fired", "state", "was_sent", "expected"), [
    (31, 0, "sent", True, [8]),
    (31, 8, "delivered", True, [1]),
    (31, 0, "delivered", True, [8, 1]),  # the sent event was missed: both, in order
    (31, 8, "failed", True, [2]),  # the network gave up after taking it
    (31, 0, "failed", False, [16]),  # never taken by the network
    (31, 0, "expired", False, [16]),
    (31, 0, "cancelled", False, [16]),
    (27, 0, "sent", True, [8]),
    (3, 0, "sent", True, []),  # playSMS-less callers: only final states
    (3, 0, "delivered", True, [1]),
    (1, 1, "delivered", True, []),  # once per message
    (31, 0, "queued", False, []),
    (31, 0, "ambiguous", False, []),
    (16, 0, "failed", True, []),
])
def test_dlr_types_owed(mask: int, fired: int, state: str, was_sent: bool,
                        expected: list[int]) -> None:
    assert due_types(mask, fired, state, was_sent) == expected


def test_type_numbers_are_kannels() -> None:
    assert (dlr.DELIVERED, dlr.FAILED, dlr.BUFFERED, dlr.SUBMITTED, dlr.REJECTED) == \
        (1, 2, 4, 8, 16)
