"""encode → decode round trips for SUBMIT, DELIVER and STATUS-REPORT, and the options that
change header fields (flash, validity, status report, SMSC, 16-bit references)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from appliance.pdu import (
    Deliver,
    StatusReport,
    decode_pdu,
    decode_submit,
    encode_deliver,
    encode_status_report,
    encode_submit,
)

TO = "+8613800138000"
BEIJING = timezone(timedelta(hours=8))
WHEN = datetime(2026, 3, 14, 9, 26, 53, tzinfo=BEIJING)

TEXTS = {
    "ascii": "Your code is 123456, valid for 5 minutes.",
    "chinese": "您的验证码是123456，5分钟内有效。",
    "emoji": "好的👍🏻 see you 🎉",
    "mixed": "Hi 张三, order #42 shipped ✓",
    "extension": "Price: 10€ [sale] {today} ~x^2 \\ path | pipe",
    "gsm7 specials": "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà",
    "long ascii": "0123456789" * 50,
    "long chinese": "长" * 200,
    "long emoji": "🙂" * 100,
    "long extension": "€" * 200,
    "empty": "",
}
ENCODINGS = {
    "ascii": "gsm7",
    "chinese": "ucs2",
    "emoji": "ucs2",
    "mixed": "ucs2",
    "extension": "gsm7",
    "gsm7 specials": "gsm7",
    "long ascii": "gsm7",
    "long chinese": "ucs2",
    "long emoji": "ucs2",
    "long extension": "gsm7",
    "empty": "gsm7",
}


@pytest.mark.parametrize("name", TEXTS)
def test_submit_round_trip(name):
    text = TEXTS[name]
    parts = encode_submit(TO, text)
    decoded = [decode_submit(p.pdu) for p in parts]
    assert "".join(d.text for d in decoded) == text
    assert {d.encoding for d in decoded} == {ENCODINGS[name]}
    assert all(d.to == TO for d in decoded)
    for part in parts:
        smsc_octets = int(part.pdu[:2], 16) + 1
        assert part.tpdu_length == len(part.pdu) // 2 - smsc_octets
        assert part.pdu == part.pdu.upper()


@pytest.mark.parametrize("name", TEXTS)
@pytest.mark.parametrize("bits", [8, 16])
def test_deliver_round_trip(name, bits):
    text = TEXTS[name]
    pdus = encode_deliver(TO, text, WHEN, concat_bits=bits, reference=0x1A2B)
    decoded = [decode_pdu(p) for p in pdus]
    assert all(isinstance(d, Deliver) for d in decoded)
    assert "".join(d.text for d in decoded) == text
    assert all(d.timestamp == WHEN and d.sender == TO for d in decoded)
    assert all(d.smsc == "+8613800100500" for d in decoded)
    if len(pdus) > 1:
        ref = 0x2B if bits == 8 else 0x1A2B
        assert [(d.concat.reference, d.concat.index, d.concat.bits) for d in decoded] == [
            (ref, i, bits) for i in range(1, len(pdus) + 1)
        ]
    else:
        assert decoded[0].concat is None


def test_16_bit_concat_leaves_152_septets_and_66_units_per_part():
    gsm = encode_deliver(TO, "a" * 400, WHEN, concat_bits=16)
    assert [len(decode_pdu(p).text) for p in gsm] == [152, 152, 96]
    ucs = encode_deliver(TO, "中" * 140, WHEN, concat_bits=16)
    assert [len(decode_pdu(p).text) for p in ucs] == [66, 66, 8]


@pytest.mark.parametrize("sender", ["Alipay", "10086", "95588", "JD.com", "Bank[1]"])
def test_deliver_sender_round_trip(sender):
    (pdu,) = encode_deliver(sender, "hello", WHEN)
    assert decode_pdu(pdu).sender == sender


def test_alphanumeric_sender_is_ton_5_packed_gsm7():
    (pdu,) = encode_deliver("Alipay", "x", WHEN, smsc="")
    # 00 SMSC, 04 first octet, then OA: 6 septets = 42 bits → 11 semi-octets, TOA 0xD0.
    assert pdu[4:8] == "0BD0"
    assert pdu[8:20] == "41761A1ECE03"  # 'Alipay' packed (same octets as python-gsmmodem)
    # python-gsmmodem writes the length as 0C (whole octets); both must decode to 6 septets.
    assert decode_pdu(pdu[:4] + "0C" + pdu[6:]).sender == "Alipay"


def test_flash_sets_class_0():
    (part,) = encode_submit(TO, "alert", flash=True)
    decoded = decode_submit(part.pdu)
    assert decoded.flash and decoded.dcs == 0x10
    (part,) = encode_submit(TO, "警报", flash=True)
    assert decode_submit(part.pdu).dcs == 0x18
    (pdu,) = encode_deliver(TO, "alert", WHEN, flash=True)
    assert decode_pdu(pdu).flash


@pytest.mark.parametrize(
    "validity,octet",
    [
        (timedelta(minutes=5), 0x00),
        (timedelta(minutes=30), 5),
        (timedelta(hours=12), 143),
        (timedelta(hours=16), 151),
        (timedelta(days=1), 167),
        (timedelta(days=3), 169),
        (timedelta(weeks=5), 197),
        (timedelta(weeks=63), 255),
        (timedelta(minutes=7), 1),  # rounded up to 10 minutes: never expire earlier than asked
    ],
)
def test_relative_validity(validity, octet):
    (part,) = encode_submit(TO, "v", validity=validity)
    raw = bytes.fromhex(part.pdu)
    assert raw[1] & 0x18 == 0x10  # TP-VPF = 10 relative
    # 00 smsc | first | MR | DA (2 + 7 octets) | PID | DCS | VP
    assert raw[1 + 2 + 9 + 2] == octet
    decoded = decode_submit(part.pdu)
    assert decoded.validity is not None and decoded.validity >= validity


def test_validity_beyond_63_weeks_is_refused():
    from appliance.pdu import PduError

    with pytest.raises(PduError):
        encode_submit(TO, "v", validity=timedelta(weeks=64))


def test_submit_options_reach_the_header():
    (part,) = encode_submit(
        "13800138000",
        "hi",
        request_status_report=True,
        smsc="+8613800100500",
        message_reference=0x1FF,
    )
    decoded = decode_submit(part.pdu)
    assert decoded.status_report_requested
    assert decoded.smsc == "+8613800100500"
    assert decoded.message_reference == 0xFF
    assert decoded.to == "13800138000"
    assert part.pdu.startswith("0891683108100005F0")
    assert part.tpdu_length == len(part.pdu) // 2 - 9


def test_force_ucs2():
    (part,) = encode_submit(TO, "plain", force_ucs2=True)
    decoded = decode_submit(part.pdu)
    assert (decoded.encoding, decoded.dcs, decoded.text) == ("ucs2", 0x08, "plain")


@pytest.mark.parametrize(
    "status,delivered,pending,failed",
    [
        (0x00, True, False, False),
        (0x01, True, False, False),
        (0x20, False, True, False),
        (0x30, False, True, False),
        (0x41, False, False, True),
        (0x60, False, False, True),
    ],
)
def test_status_report_round_trip(status, delivered, pending, failed):
    discharge = WHEN + timedelta(seconds=7)
    pdu = encode_status_report(77, TO, status, WHEN, discharge)
    report = decode_pdu(pdu)
    assert isinstance(report, StatusReport)
    assert (report.message_reference, report.recipient, report.status) == (77, TO, status)
    assert (report.scts, report.discharge) == (WHEN, discharge)
    assert (report.delivered, report.pending, report.failed) == (delivered, pending, failed)


@pytest.mark.parametrize("minutes", [-720, -330, -15, 0, 345, 525, 840])
def test_timestamp_time_zones_round_trip(minutes):
    when = datetime(2026, 1, 1, 0, 0, tzinfo=timezone(timedelta(minutes=minutes)))
    (pdu,) = encode_deliver(TO, "t", when)
    decoded = decode_pdu(pdu).timestamp
    assert decoded == when and decoded.utcoffset() == when.utcoffset()


def test_naive_or_odd_offset_timestamp_is_refused():
    from appliance.pdu import PduError

    with pytest.raises(PduError):
        encode_deliver(TO, "t", datetime(2026, 1, 1))
    with pytest.raises(PduError):
        encode_deliver(TO, "t", datetime(2026, 1, 1, tzinfo=timezone(timedelta(minutes=10))))


@pytest.mark.parametrize("to", ["", "+86 138 0013 8000", "138-0013-8000", "Alipay", "1" * 21])
def test_bad_destination_is_refused_not_sent_as_a_name(to):
    from appliance.pdu import PduError

    with pytest.raises(PduError):
        encode_submit(to, "hi")


def test_text_with_a_lone_surrogate_is_refused():
    from appliance.pdu import PduError

    with pytest.raises(PduError):
        encode_submit(TO, "broken \ud83d")
