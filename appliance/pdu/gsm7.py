"""The GSM 7-bit default alphabet: characters to septets and septets packed into octets.

Knows: the TS 23.038 §6.2.1 default alphabet and its extension table (taken from `gsm0338`,
whose tables match the standard), escape pairs, septet packing with fill bits (TS 23.038 §6.1.2.1,
TS 23.040 §9.2.3.24). Must not know: PDU layout, UDH contents, message splitting policy.
"""

from __future__ import annotations

import unicodedata

from gsm0338.charset import BASIC_CHARACTER_SET, BASIC_CHARACTER_SET_EXTENSION

from .errors import PduError

ESCAPE = 0x1B

# 0x1B is the escape to the extension table, not a character: a '\x1b' in user text must not
# encode to it, or the receiver would swallow the next character (TS 23.038 §6.2.1.1).
_BASIC: dict[str, int] = {
    unicodedata.lookup(name): code for code, name in BASIC_CHARACTER_SET.items() if code != ESCAPE
}
_EXTENSION: dict[str, int] = {
    unicodedata.lookup(name): code for code, name in BASIC_CHARACTER_SET_EXTENSION.items()
}
# Every character GSM-7 can carry, extension table included.
CHARACTERS: frozenset[str] = frozenset(_BASIC) | frozenset(_EXTENSION)
EXTENSION_CHARACTERS: frozenset[str] = frozenset(_EXTENSION)
_DECODE_BASIC: dict[int, str] = {code: char for char, code in _BASIC.items()}
_DECODE_EXTENSION: dict[int, str] = {code: char for char, code in _EXTENSION.items()}


def septet_cost(char: str) -> int | None:
    """Septets a character takes in GSM-7 (2 for extension chars such as €), None if absent."""
    if char in _BASIC:
        return 1
    if char in _EXTENSION:
        return 2
    return None


def is_gsm7(text: str) -> bool:
    """True when every character is in the default alphabet or its extension table."""
    return CHARACTERS.issuperset(text)  # one C-level pass, not a generator per character


def septet_count(text: str) -> int:
    """Septets a GSM-7 text takes (extension characters are two); the caller knows it is
    GSM-7 (`is_gsm7`). Counted in C for the common text without extension characters."""
    if EXTENSION_CHARACTERS.isdisjoint(text):
        return len(text)
    return len(text) + sum(map(EXTENSION_CHARACTERS.__contains__, text))


def septet_length(text: str) -> int:
    """Septets the text occupies; raises PduError for a character outside GSM-7."""
    return len(to_septets(text))


def to_septets(text: str) -> list[int]:
    """Map text to septet values, extension characters as ESC + code."""
    out: list[int] = []
    for char in text:
        code = _BASIC.get(char)
        if code is not None:
            out.append(code)
            continue
        code = _EXTENSION.get(char)
        if code is None:
            raise PduError(f"character {char!r} is not in the GSM 7-bit alphabet")
        out.extend((ESCAPE, code))
    return out


def from_septets(septets: list[int] | bytes) -> str:
    """Map septet values to text. Never raises: content errors are shown, not fatal."""
    chars: list[str] = []
    escaped = False
    for value in septets:
        value &= 0x7F
        if escaped:
            escaped = False
            if value == ESCAPE:
                # ESC ESC is reserved for a further extension table; TS 23.038 §6.2.1.1 says
                # display a space until one is defined.
                chars.append(" ")
            else:
                # An undefined extension code shows the default-alphabet character instead
                # (TS 23.038 §6.2.1.1 note).
                chars.append(_DECODE_EXTENSION.get(value) or _DECODE_BASIC[value])
        elif value == ESCAPE:
            escaped = True
        else:
            chars.append(_DECODE_BASIC[value])
    if escaped:
        chars.append(" ")  # a dangling escape: same display rule as an undefined one
    return "".join(chars)


def pack_septets(septets: list[int], fill_bits: int = 0) -> bytes:
    """Pack septets LSB-first into octets after `fill_bits` zero bits (TS 23.038 §6.1.2.1.1).

    Fill bits put the first septet after a UDH on a septet boundary (TS 23.040 §9.2.3.24).
    """
    acc = 0
    nbits = fill_bits
    for value in septets:
        acc |= (value & 0x7F) << nbits
        nbits += 7
    return acc.to_bytes((nbits + 7) // 8, "little") if nbits else b""


def unpack_septets(data: bytes, count: int) -> list[int]:
    """Unpack `count` septets from the start of `data`; raises PduError if it is too short."""
    if count * 7 > len(data) * 8:
        raise PduError(f"user data holds fewer than {count} septets")
    acc = int.from_bytes(data, "little")
    return [(acc >> (7 * i)) & 0x7F for i in range(count)]
