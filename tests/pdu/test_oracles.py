"""Cross-checks against python-gsmmodem-new (`gsmmodem.pdu`) and pdusms (`smspdu`), used here
as test-only oracles: where they are right we must agree byte for byte; where they are wrong a
test pins both their wrong answer and our right one (see DESIGN.md, "SMS PDUs")."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

gsmmodem_pdu = pytest.importorskip("gsmmodem.pdu")
smspdu = pytest.importorskip("smspdu")

from appliance.pdu import decode_pdu, decode_submit, encode_deliver, encode_submit  # noqa: E402

TO = "+8613800138000"
WHEN = datetime(2026, 3, 14, 9, 26, 53, tzinfo=timezone(timedelta(hours=8)))
SMSC_FIELD_HEX = 18  # "0891683108100005F0": encode_deliver's default SMSC, 9 octets

PLAIN = [
    "Hello World!",
    "Your code is 123456",
    "您的验证码是123456",
    "Price 10€ [sale] {x} ~ ^ \\ |",
    "x" * 400,  # three GSM-7 parts
    "中" * 100,  # two UCS2 parts
    "a" * 152 + "€" + "b" * 20,  # escape pair at the part boundary
]


@pytest.mark.parametrize("text", PLAIN)
def test_submit_matches_gsmmodem_byte_for_byte(text):
    theirs = gsmmodem_pdu.encodeSmsSubmitPdu(TO, text, requestStatusReport=False)
    ours = encode_submit(TO, text)
    assert [p.pdu for p in ours] == [str(p) for p in theirs]
    assert [p.tpdu_length for p in ours] == [p.tpduLength for p in theirs]


@pytest.mark.parametrize("text", PLAIN)
def test_our_deliver_decodes_the_same_in_both_oracles(text):
    for pdu in encode_deliver(TO, text, WHEN):
        ours = decode_pdu(pdu)
        theirs = gsmmodem_pdu.decodeSmsPdu(pdu)
        assert (theirs["number"], theirs["text"]) == (ours.sender, ours.text)
        assert theirs["time"] == ours.timestamp
        other = smspdu.SMS_DELIVER.fromPDU(pdu[SMSC_FIELD_HEX:], "me")
        assert (other.sender, other.user_data) == (ours.sender, ours.text)


@pytest.mark.parametrize("text", PLAIN)
def test_pdusms_decodes_our_submit_the_same(text):
    for part in encode_submit(TO, text):
        theirs = smspdu.SMS_SUBMIT.fromPDU(part.pdu[2:], "me")  # pdusms takes the bare TPDU
        assert (theirs.recipient, theirs.user_data) == (TO, part.text)


def test_gsmmodem_decodes_alphanumeric_sender_like_us():
    (pdu,) = encode_deliver("Alipay", "hi", WHEN)
    assert gsmmodem_pdu.decodeSmsPdu(pdu)["number"] == decode_pdu(pdu).sender == "Alipay"


# --- Known oracle bugs: theirs wrong, ours right ------------------------------------------


def test_gsmmodem_bug_emoji_crashes_submit_encoder():
    text = "OK 👍"
    with pytest.raises(ValueError, match="byte must be in range"):
        gsmmodem_pdu.encodeSmsSubmitPdu(TO, text)
    (part,) = encode_submit(TO, text)
    assert decode_submit(part.pdu).text == text


def test_gsmmodem_bug_backtick_where_section_sign_belongs():
    # TS 23.038 §6.2.1: 0x5F is '§'. gsmmodem's table puts '`' there.
    assert gsmmodem_pdu.decodeGsm7(bytearray([0x5F])) == "`"
    with pytest.raises(ValueError):
        gsmmodem_pdu.encodeGsm7("§")
    (part,) = encode_submit(TO, "§")
    assert part.pdu.endswith("015F")
    assert decode_submit(part.pdu).text == "§"
    (part,) = encode_submit(TO, "`")
    assert decode_submit(part.pdu).encoding == "ucs2"


def test_gsmmodem_bug_16_bit_reference_part_loses_first_character():
    text = "".join(chr(ord("A") + i % 26) for i in range(200))
    first = encode_deliver(TO, text, WHEN, concat_bits=16, reference=0x1234)[0]
    theirs = gsmmodem_pdu.decodeSmsPdu(first)["text"]
    ours = decode_pdu(first)
    assert theirs.startswith("BCD")  # 'A' swallowed: no fill bits after a 7-octet UDH
    assert ours.text.startswith("ABC") and len(ours.text) == 152
    assert (ours.concat.reference, ours.concat.bits) == (0x1234, 16)


def test_gsmmodem_bug_ucs2_emoji_decode_to_lone_surrogates():
    (pdu,) = encode_deliver(TO, "😀中", WHEN)
    theirs = gsmmodem_pdu.decodeSmsPdu(pdu)["text"]
    assert theirs == "\ud83d\ude00中"  # two lone surrogates: not encodable as UTF-8
    with pytest.raises(UnicodeEncodeError):
        theirs.encode("utf-8")
    assert decode_pdu(pdu).text == "😀中"


def test_gsmmodem_bug_tpdu_length_counts_smsc_field():
    # AT+CMGS=<length> is the TPDU without the SMSC field (TS 27.005 §3.5.1); gsmmodem
    # computes len(pdu) - 1, which is only right when the SMSC field is the single octet 00.
    smsc = "+8613800100500"
    (theirs,) = gsmmodem_pdu.encodeSmsSubmitPdu(TO, "hello", smsc=smsc, requestStatusReport=False)
    (ours,) = encode_submit(TO, "hello", smsc=smsc)
    assert ours.pdu == str(theirs)
    assert ours.tpdu_length == len(ours.pdu) // 2 - 9 == 19
    assert theirs.tpduLength == 27


def test_pdusms_bug_two_digit_year_1999_read_as_2099():
    pdu = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"
    theirs = smspdu.SMS_DELIVER.fromPDU(pdu[16:], "me")
    assert datetime.fromtimestamp(theirs.datestamp).year == 2099
    assert decode_pdu(pdu).timestamp.year == 1999
