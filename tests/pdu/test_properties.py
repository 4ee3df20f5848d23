"""Property tests: any text survives encode → decode, and no input makes a decoder raise
anything but PduError (a bad PDU from a modem must be quarantined, never crash a reader)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.pdu import (
    PduError,
    count_parts,
    decode_pdu,
    decode_submit,
    encode_deliver,
    encode_submit,
    gsm7,
)
from appliance.pdu.gsm7 import is_gsm7

GSM7_CHARS = "".join(sorted(gsm7.CHARACTERS))
texts = st.one_of(
    st.text(max_size=400),  # any Unicode without lone surrogates: emoji, CJK, controls
    st.text(alphabet=GSM7_CHARS, max_size=500),  # long GSM-7 with escape pairs
    st.text(alphabet="中😀a€", max_size=300),  # boundary-heavy mixtures
)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_submit_round_trip_joins_back_to_the_text(text):
    parts = encode_submit("+8613800138000", text, reference=7)
    decoded = [decode_submit(p.pdu) for p in parts]
    assert "".join(d.text for d in decoded) == text
    assert [p.text for p in parts] == [d.text for d in decoded]
    count = count_parts(text)
    assert count.parts == len(parts)
    assert count.encoding == ("gsm7" if is_gsm7(text) else "ucs2")
    for part, message in zip(parts, decoded, strict=True):
        assert len(bytes.fromhex(part.pdu)) - 1 == part.tpdu_length
        if len(parts) > 1:
            assert (message.concat.index, message.concat.count) == (part.index, len(parts))


@settings(max_examples=150, deadline=None)
@given(texts, st.sampled_from([8, 16]), st.integers(-48, 56))
def test_deliver_round_trip(text, bits, quarters):
    when = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone(timedelta(minutes=15 * quarters)))
    pdus = encode_deliver("Alipay", text, when, concat_bits=bits)
    decoded = [decode_pdu(p) for p in pdus]
    assert "".join(d.text for d in decoded) == text
    assert all(d.timestamp == when and d.sender == "Alipay" for d in decoded)


def _only_pdu_error(pdu: str) -> None:
    for decoder in (decode_pdu, decode_submit):
        try:
            decoder(pdu)
        except PduError:
            pass


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_pdu_error(data):
    _only_pdu_error(data.hex())


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEF \r\nxg", max_size=120))
def test_random_hex_text_raises_only_pdu_error(text):
    _only_pdu_error(text)


VALID = encode_deliver("+8613800138000", "分段" * 60, datetime(2026, 1, 1, tzinfo=UTC))


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(VALID), st.integers(0, 300), st.integers(0, 255))
def test_mutated_valid_pdus_raise_only_pdu_error(pdu, position, value):
    raw = bytearray(bytes.fromhex(pdu))
    raw[position % len(raw)] = value
    _only_pdu_error(raw.hex())
    _only_pdu_error(raw[: position % len(raw)].hex())  # and every truncation


def _count_by_character(text: str, force_ucs2: bool) -> tuple[str, int]:
    """The per-character reference the fast totals in count_parts must agree with."""
    from appliance.pdu.gsm7 import septet_cost

    if not force_ucs2 and all(septet_cost(c) is not None for c in text):
        return "gsm7", sum(septet_cost(c) or 0 for c in text)
    return "ucs2", sum(2 if ord(c) > 0xFFFF else 1 for c in text)


@given(st.text(alphabet=st.sampled_from("aZ0 @€[]^{}|~\\\n£¥èÉ中文😀\ud800\x1b"), max_size=400)
       | st.text(max_size=400), st.booleans())
@settings(max_examples=400, deadline=None)
def test_count_parts_totals_match_counting_each_character(text, force_ucs2):
    count = count_parts(text, force_ucs2=force_ucs2)
    assert (count.encoding, count.units) == _count_by_character(text, force_ucs2)
