"""Part boundaries and counting: 160/153 septets, 70/67 UCS2 units, escape pairs and surrogate
pairs kept whole (TS 23.040 §9.2.3.24.1, TS 23.038 §6.2.1.1)."""

from __future__ import annotations

import pytest

from appliance.pdu import count_parts, decode_submit, encode_submit

TO = "+8613800138000"


@pytest.mark.parametrize(
    "text,encoding,parts,units,per_part,remaining",
    [
        ("", "gsm7", 1, 0, 160, 160),
        ("a" * 160, "gsm7", 1, 160, 160, 0),
        ("a" * 161, "gsm7", 2, 161, 153, 153 - 8),
        ("a" * 306, "gsm7", 2, 306, 153, 0),
        ("a" * 307, "gsm7", 3, 307, 153, 152),
        ("€" * 80, "gsm7", 1, 160, 160, 0),  # € is ESC + 0x65: two septets
        ("€" * 81, "gsm7", 2, 162, 153, 153 - 10),  # 76 € (152 septets) + 5 €
        ("中" * 70, "ucs2", 1, 70, 70, 0),
        ("中" * 71, "ucs2", 2, 71, 67, 63),
        ("中" * 134, "ucs2", 2, 134, 67, 0),
        ("😀" * 35, "ucs2", 1, 70, 70, 0),  # each emoji is a surrogate pair: two units
        ("😀" * 36, "ucs2", 2, 72, 67, 67 - 6),  # 33 emoji (66 units) in part 1, 3 in part 2
        ("a" * 69 + "中", "ucs2", 1, 70, 70, 0),  # one CJK char turns all of it into UCS2
        ("a" * 159 + "中", "ucs2", 3, 160, 67, 67 - 26),
        ("`", "ucs2", 1, 1, 70, 69),  # TS 23.038 has no backtick
        ("§", "gsm7", 1, 1, 160, 159),
    ],
)
def test_count_parts(text, encoding, parts, units, per_part, remaining):
    count = count_parts(text)
    assert (count.encoding, count.parts, count.units, count.per_part, count.remaining) == (
        encoding,
        parts,
        units,
        per_part,
        remaining,
    )


@pytest.mark.parametrize(
    "text,expected_lengths",
    [
        ("a" * 160, [160]),
        ("a" * 161, [153, 8]),
        ("中" * 70, [70]),
        ("中" * 71, [67, 4]),
    ],
)
def test_encode_submit_part_sizes(text, expected_lengths):
    parts = encode_submit(TO, text)
    assert [len(p.text) for p in parts] == expected_lengths
    assert [decode_submit(p.pdu).text for p in parts] == [p.text for p in parts]


def test_single_part_has_no_udh_and_no_reference():
    (part,) = encode_submit(TO, "a" * 160, reference=99)
    decoded = decode_submit(part.pdu)
    assert part.reference is None and decoded.concat is None
    assert (part.index, part.count) == (1, 1)


def test_extension_char_at_boundary_moves_to_next_part():
    # 152 'a' then '€': the escape pair would need septets 153-154, so part 1 stops at 152.
    text = "a" * 152 + "€" + "b" * 10
    parts = encode_submit(TO, text)
    assert parts[0].text == "a" * 152
    assert parts[1].text == "€" + "b" * 10
    assert decode_submit(parts[0].pdu).text == "a" * 152
    assert decode_submit(parts[1].pdu).text.startswith("€")


@pytest.mark.parametrize("char", list("€[]{}~^\\|\f"))
def test_every_extension_char_counts_two_septets(char):
    assert count_parts(char).units == 2
    assert count_parts("a" * 158 + char).parts == 1
    assert count_parts("a" * 159 + char).parts == 2


def test_emoji_at_ucs2_boundary_is_not_split():
    # 66 units of '中' leave one unit in part 1: the emoji's surrogate pair needs two.
    text = "中" * 66 + "😀" + "中" * 5
    parts = encode_submit(TO, text)
    assert parts[0].text == "中" * 66
    assert parts[1].text == "😀" + "中" * 5
    decoded = [decode_submit(p.pdu).text for p in parts]
    assert decoded == [p.text for p in parts]
    assert "\ufffd" not in "".join(decoded)


def test_reference_is_8_bit_and_shared_by_all_parts():
    parts = encode_submit(TO, "x" * 400, reference=0x1234)
    assert {p.reference for p in parts} == {0x34}
    concats = [decode_submit(p.pdu).concat for p in parts]
    assert [(c.reference, c.count, c.index, c.bits) for c in concats] == [
        (0x34, 3, i, 8) for i in (1, 2, 3)
    ]


def test_gsm7_multipart_udl_counts_udh_and_fill_septets():
    parts = encode_submit(TO, "a" * 161)
    # UDL octet sits right before the UD; UDH 6 octets = 48 bits → 7 septets with 1 fill bit.
    first = bytes.fromhex(parts[0].pdu)
    udl_index = len(first) - (160 * 7 + 7) // 8 - 1
    assert first[udl_index] == 160  # 7 header septets + 153 text septets
    assert first[udl_index + 1 : udl_index + 7] == bytes.fromhex("050003000201")


def test_too_many_parts_is_refused():
    from appliance.pdu import PduError

    with pytest.raises(PduError):
        encode_submit(TO, "a" * (153 * 255 + 1))
    assert count_parts("a" * (153 * 255 + 1)).parts == 256  # counting never raises
