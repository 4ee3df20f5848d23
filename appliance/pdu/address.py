"""Address fields: TP-DA/TP-OA/TP-RA and the SMSC address in front of every PDU.

Knows: TS 23.040 §9.1.2.5 (address fields: semi-octet length, type-of-address, swapped BCD,
alphanumeric GSM-7 addresses) and TS 24.011 §8.2.5.1 (the SMSC / RP address, length in octets).
Must not know: which number is whose, number normalisation (phonenumbers lives elsewhere).
"""

from __future__ import annotations

import re

from . import gsm7
from .errors import PduError
from .octets import Reader

TON_UNKNOWN = 0
TON_INTERNATIONAL = 1
TON_ALPHANUMERIC = 5
_NPI_ISDN = 1

# Semi-octet digits, TS 23.040 §9.1.2.3: 1010 '*', 1011 '#', 1100-1110 'a'-'c', 1111 filler.
_DIGITS = "0123456789*#abc"
_NUMERIC = re.compile(r"\+?[0-9*#abc]+")


def _toa(ton: int, npi: int) -> int:
    return 0x80 | (ton << 4) | npi


def _swap_bcd(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"  # odd digit count: the last octet's high nibble is the filler 1111
    values = [0xF if d == "F" else _DIGITS.index(d) for d in digits]
    return bytes(values[i] | (values[i + 1] << 4) for i in range(0, len(values), 2))


def _unswap_bcd(data: bytes, digits: int | None = None) -> str:
    out: list[str] = []
    for octet in data:
        for nibble in (octet & 0x0F, octet >> 4):
            if nibble != 0xF:
                out.append(_DIGITS[nibble])
    text = "".join(out)
    return text if digits is None else text[:digits]


def encode_address(address: str, *, alphanumeric: bool = True) -> bytes:
    """TP-DA/TP-OA: '+861380...' → TON international; digits → TON unknown; else alphanumeric.

    Unknown (not national) for plain digits: short codes like 10086 and numbers typed with a
    trunk prefix are sent as dialled and the network interprets them (§9.1.2.5 TON 000).
    With `alphanumeric=False` (a destination) anything but a number raises PduError, so a
    number with spaces or dashes is never sent as a TON 5 name.
    """
    address = address.strip()
    if not address:
        raise PduError("empty address")
    if _NUMERIC.fullmatch(address):
        international = address.startswith("+")
        digits = address.lstrip("+")
        if len(digits) > 20:
            raise PduError(f"address {address!r} is longer than 20 digits (§9.1.2.5)")
        ton = TON_INTERNATIONAL if international else TON_UNKNOWN
        return bytes((len(digits), _toa(ton, _NPI_ISDN))) + _swap_bcd(digits)
    if not alphanumeric:
        raise PduError(f"{address!r} is not a phone number (digits with an optional '+')")
    # Alphanumeric sender (e.g. "Alipay"): GSM-7 packed, length in semi-octets actually used.
    septets = gsm7.to_septets(address)
    if len(septets) > 11:
        # 10 octets of address value at most (§9.1.2.5): 11 septets.
        raise PduError(f"alphanumeric address {address!r} is longer than 11 septets")
    packed = gsm7.pack_septets(septets)
    semi_octets = (len(septets) * 7 + 3) // 4
    return bytes((semi_octets, _toa(TON_ALPHANUMERIC, 0))) + packed


def decode_address(reader: Reader, what: str = "address") -> str:
    """Read one TP-OA/TP-DA/TP-RA field; '+' prefixes an international number."""
    semi_octets = reader.octet(f"{what} length")
    toa = reader.octet(f"{what} type")
    value = reader.take((semi_octets + 1) // 2, what)
    ton = (toa >> 4) & 0x07
    if ton == TON_ALPHANUMERIC:
        septet_count = semi_octets * 4 // 7
        return gsm7.from_septets(gsm7.unpack_septets(value, septet_count))
    digits = _unswap_bcd(value, semi_octets)
    return "+" + digits if ton == TON_INTERNATIONAL else digits


def encode_smsc(smsc: str | None) -> bytes:
    """The SMSC field in front of a PDU: b'\\x00' means "use the SIM's SMSC" (TS 27.005 §3.1)."""
    if not smsc:
        return b"\x00"
    smsc = smsc.strip()
    if not _NUMERIC.fullmatch(smsc):
        raise PduError(f"SMSC {smsc!r} is not a number")
    international = smsc.startswith("+")
    digits = smsc.lstrip("+")
    body = bytes((_toa(TON_INTERNATIONAL if international else TON_UNKNOWN, _NPI_ISDN),))
    body += _swap_bcd(digits)
    # Unlike TP-DA, this length counts octets (type octet included), TS 24.011 §8.2.5.1.
    return bytes((len(body),)) + body


def decode_smsc(reader: Reader) -> str | None:
    """Read the SMSC field; None when its length is 0 (no SMSC given)."""
    length = reader.octet("SMSC length")
    if length == 0:
        return None
    body = reader.take(length, "SMSC address")
    ton = (body[0] >> 4) & 0x07
    digits = _unswap_bcd(body[1:])
    if not digits:
        return None
    return "+" + digits if ton == TON_INTERNATIONAL else digits
