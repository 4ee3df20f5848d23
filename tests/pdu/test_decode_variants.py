"""Decoding what real networks send: DCS variants (TS 23.038 §4), UDHs with other IEs before
the concatenation IE (TS 23.040 §9.2.3.24), alphanumeric senders, and malformed input, which
must raise PduError and nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from appliance.pdu import Deliver, PduError, decode_pdu, decode_submit, encode_submit

SMSC = "0891683108100005F0"  # +8613800100500
OA = "0D91683118000031F8"  # +8613810000138
SCTS = "62301190626523"  # 2026-03-11 09:26:56 +08:00
HELLO_GSM7 = "05E8329BFD06"  # 'hello', 5 septets


def deliver(dcs: str, ud: str, first: str = "04", pid: str = "00") -> str:
    return SMSC + first + OA + pid + dcs + SCTS + ud


@pytest.mark.parametrize(
    "dcs,ud,encoding,text,flash",
    [
        ("00", HELLO_GSM7, "gsm7", "hello", False),
        ("08", "044F60597D", "ucs2", "你好", False),
        ("04", "03414243", "8bit", "ABC", False),
        ("10", HELLO_GSM7, "gsm7", "hello", True),  # class 0 GSM-7
        ("18", "044F60597D", "ucs2", "你好", True),  # class 0 UCS2
        ("11", HELLO_GSM7, "gsm7", "hello", False),  # class 1 (ME-specific)
        ("F0", HELLO_GSM7, "gsm7", "hello", True),  # group 1111, GSM-7 class 0
        ("F1", HELLO_GSM7, "gsm7", "hello", False),
        ("F4", "03414243", "8bit", "ABC", True),  # group 1111, 8-bit class 0
        ("F6", "03414243", "8bit", "ABC", False),  # 8-bit class 2 (SIM), e.g. OTA
        ("40", HELLO_GSM7, "gsm7", "hello", False),  # 01xx automatic deletion group
        ("48", "044F60597D", "ucs2", "你好", False),
        ("0C", HELLO_GSM7, "gsm7", "hello", False),  # reserved alphabet 11 → GSM-7 (§4)
        ("C0", HELLO_GSM7, "gsm7", "hello", False),  # MWI discard, GSM-7
        ("E0", "044F60597D", "ucs2", "你好", False),  # MWI store, UCS2
        ("80", HELLO_GSM7, "gsm7", "hello", False),  # reserved group → GSM-7
    ],
)
def test_dcs_variants(dcs, ud, encoding, text, flash):
    message = decode_pdu(deliver(dcs, ud))
    assert isinstance(message, Deliver)
    assert (message.encoding, message.text, message.flash) == (encoding, text, flash)
    assert message.dcs == int(dcs, 16)
    assert message.data == (bytes.fromhex(ud[2:]) if encoding == "8bit" else None)


@pytest.mark.parametrize("dcs", ["20", "28", "24", "60"])
def test_compressed_dcs_is_a_pdu_error(dcs):
    with pytest.raises(PduError, match="compressed"):
        decode_pdu(deliver(dcs, HELLO_GSM7))


def test_deliver_header_fields():
    message = decode_pdu(deliver("00", HELLO_GSM7, first="20", pid="00"))
    assert message.smsc == "+8613800100500"
    assert message.sender == "+8613810000138"
    assert message.timestamp == datetime(
        2026, 3, 11, 9, 26, 56, tzinfo=timezone(timedelta(hours=8))
    )
    assert message.more_messages  # TP-MMS bit clear: more messages waiting (§9.2.3.2)
    assert message.status_report_indication
    assert not decode_pdu(deliver("00", HELLO_GSM7, first="04")).more_messages


def test_other_ies_before_concat_ie_ucs2():
    # UDH: application port IE 0x05 (4 octets) then the 16-bit concat IE 0x08.
    udh = "0C" + "050423F40000" + "08040102" + "0302"
    body = "4F60597D"
    ud = f"{(len(udh) + len(body)) // 2:02X}" + udh + body
    message = decode_pdu(deliver("08", ud, first="44"))
    assert message.text == "你好"
    assert (message.concat.reference, message.concat.count, message.concat.index) == (0x0102, 3, 2)
    assert message.concat.bits == 16


def test_other_ies_before_concat_ie_gsm7_with_fill_bits():
    # Build with our encoder's packing rules by hand: UDH = 05 + port IE(4+2) + concat IE(3+2)
    # = 12 octets = 96 bits → 14 septets (2 fill bits).
    from appliance.pdu import gsm7

    udh = bytes.fromhex("0B" + "050423F40000" + "0003AA0201")
    text_septets = gsm7.to_septets("part one")
    body = gsm7.pack_septets(text_septets, fill_bits=2)
    ud = bytes((14 + len(text_septets),)) + udh + body
    message = decode_pdu(deliver("00", ud.hex(), first="44"))
    assert message.text == "part one"
    assert (message.concat.reference, message.concat.count, message.concat.index) == (0xAA, 2, 1)


def test_concat_ie_with_index_zero_is_ignored():
    # §9.2.3.24.1: sequence number 0 or above the count → ignore the IE.
    ud = "08" + "050003070200" + "4F60"
    assert decode_pdu(deliver("08", ud, first="44")).concat is None


def test_unknown_ie_only_gives_no_concat():
    ud = "08" + "052403FFFFFF" + "4F60"  # IEI 0x24 (national single shift), not concat
    message = decode_pdu(deliver("08", ud, first="44"))
    assert message.concat is None and message.text == "你"


def test_alphanumeric_sender_chinese_operator():
    # Operator alphanumeric origin '10086' (TON 5): 5 septets → 35 bits → 9 semi-octets.
    oa = "09D031180C6703"  # value octets as python-gsmmodem's packSeptets(b"10086")
    pdu = SMSC + "04" + oa + "00" + "00" + SCTS + HELLO_GSM7
    assert decode_pdu(pdu).sender == "10086"


def test_gsm7_extension_and_undefined_escape_decoding():
    from appliance.pdu import gsm7

    # ESC + 0x65 = '€'; ESC + 'A' (undefined) shows 'A' (TS 23.038 §6.2.1.1); ESC ESC = space.
    septets = [0x1B, 0x65, 0x1B, 0x41, 0x1B, 0x1B]
    ud = bytes((len(septets),)) + gsm7.pack_septets(septets)
    assert decode_pdu(deliver("00", ud.hex())).text == "€A "


def test_section_sign_is_0x5f():
    (part,) = encode_submit("+8613800138000", "§")
    assert part.pdu.endswith("015F")  # UDL 1, one septet 0x5F


@pytest.mark.parametrize("char", ["`", "\x1b", "\u00a0", "“"])
def test_characters_outside_gsm7_force_ucs2(char):
    (part,) = encode_submit("+8613800138000", "a" + char)
    decoded = decode_submit(part.pdu)
    assert decoded.encoding == "ucs2" and decoded.text == "a" + char


def test_ucs2_lone_surrogate_from_a_bad_sender_becomes_replacement_char():
    # A sender that split an emoji across two parts: part 1 ends with a high surrogate.
    ud = "04" + "4F60D83D"
    text = decode_pdu(deliver("08", ud)).text
    assert text == "你\ufffd"
    text.encode("utf-8")  # storable


def test_submit_pdu_given_to_decode_pdu_is_refused():
    (part,) = encode_submit("+8613800138000", "hi")
    with pytest.raises(PduError, match="SUBMIT"):
        decode_pdu(part.pdu)
    with pytest.raises(PduError, match="not an SMS-SUBMIT"):
        decode_submit(deliver("00", HELLO_GSM7))


def test_trailing_octets_after_user_data_are_ignored():
    assert decode_pdu(deliver("00", HELLO_GSM7) + "FFFF").text == "hello"


GOOD = deliver("00", HELLO_GSM7)


@pytest.mark.parametrize(
    "pdu",
    [
        "",
        "   ",
        GOOD[:-1],  # trailing odd nibble
        GOOD + "0",
        GOOD[:-2],  # last user-data octet missing
        GOOD[: len(SMSC) + 2 + len(OA) + 4 + 6],  # cut inside the timestamp
        GOOD[:4],  # cut inside the SMSC
        "00",  # SMSC only
        "zz" + GOOD[2:],
        deliver("00", "05E832"),  # UDL says 5 septets, 2 octets present
        deliver("08", "0A050003"),  # UDHI: header longer than user data
        deliver("08", "0605000302", first="44"),  # IE runs past the UDH
        deliver("00", "0101", first="44"),  # UDHI with a UDH longer than UDL septets
        "0003" + GOOD[4:],  # first octet MTI 11 (reserved)
        SMSC + "04" + OA + "00" + "00" + "62301190626A23" + HELLO_GSM7,  # non-BCD minute
        SMSC + "04" + OA + "00" + "00" + "62311190626523" + HELLO_GSM7,  # month 13
    ],
)
def test_malformed_pdus_raise_pdu_error(pdu):
    with pytest.raises(PduError):
        decode_pdu(pdu)


def test_gsmmodem_corpus_submit_with_udl_longer_than_data_is_truncated():
    # python-gsmmodem's corpus marks this UCS2 PDU "User data length is invalid (too long)"
    # and decodes it anyway; UDL 0xA0 promises 160 octets and 10 follow, so we refuse it.
    with pytest.raises(PduError, match="truncated"):
        decode_submit("0041010C910661345542F60008A0050003000301306F3044")


def test_pdu_error_is_a_value_error():
    assert issubclass(PduError, ValueError)


@pytest.mark.parametrize("value", [None, 123, b"0011"])
def test_non_string_input_is_a_pdu_error(value):
    with pytest.raises(PduError):
        decode_pdu(value)
    with pytest.raises(PduError):
        decode_submit(value)
