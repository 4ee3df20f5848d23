"""TP-UDL + TP-UD: one part's text (and UDH) to octets and back.

Knows: TS 23.040 §9.2.3.16 (UDL in septets for GSM-7, octets otherwise, UDH included) and
§9.2.3.24 (septet fill bits after the UDH so the text starts on a septet boundary), UCS2 as
UTF-16BE. Must not know: the rest of the TPDU, or how text is split into parts.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import gsm7
from .dcs import EIGHT_BIT, GSM7, UCS2
from .errors import PduError
from .octets import Reader
from .udh import Concat, find_concat, parse_ies


@dataclass(frozen=True)
class UserData:
    text: str
    concat: Concat | None
    data: bytes | None  # the raw payload (after the UDH) for 8-bit messages
    ies: list[tuple[int, bytes]]


def _header_septets(udh_octets: int) -> int:
    # UDH plus fill bits, rounded up to whole septets (§9.2.3.24).
    return (udh_octets * 8 + 6) // 7


def encode_user_data(encoding: str, text: str, udh: bytes = b"") -> tuple[int, bytes]:
    """Return (TP-UDL, TP-UD) for one part; `udh` includes its UDHL octet."""
    if encoding == GSM7:
        septets = gsm7.to_septets(text)
        if not udh:
            return len(septets), gsm7.pack_septets(septets)
        header_septets = _header_septets(len(udh))
        fill_bits = header_septets * 7 - len(udh) * 8
        return header_septets + len(septets), udh + gsm7.pack_septets(septets, fill_bits)
    if encoding == UCS2:
        try:
            body = text.encode("utf-16-be")
        except UnicodeEncodeError as exc:  # lone surrogates in the input text
            raise PduError(f"text cannot be encoded as UTF-16: {exc}") from None
    else:
        body = text.encode("latin-1")
    return len(udh) + len(body), udh + body


def decode_user_data(reader: Reader, encoding: str, udhi: bool) -> UserData:
    """Read TP-UDL and TP-UD from `reader`."""
    udl = reader.octet("TP-UDL")
    if encoding == GSM7:
        raw = reader.take((udl * 7 + 7) // 8, "TP-UD")
    else:
        raw = reader.take(udl, "TP-UD")
    ies: list[tuple[int, bytes]] = []
    header_octets = 0
    if udhi:
        if not raw:
            raise PduError("TP-UDHI is set but the user data is empty")
        header_octets = raw[0] + 1
        if header_octets > len(raw):
            raise PduError("user data header is longer than the user data")
        ies = parse_ies(raw[1:header_octets])
    concat = find_concat(ies)
    if encoding == GSM7:
        skip = _header_septets(header_octets) if udhi else 0
        if skip > udl:
            raise PduError("user data header is longer than TP-UDL")
        septets = gsm7.unpack_septets(raw, udl)[skip:]
        return UserData(gsm7.from_septets(septets), concat, None, ies)
    body = raw[header_octets:]
    if encoding == UCS2:
        # 'replace': a lone surrogate (a sender that split a pair across parts) or an odd
        # octet becomes U+FFFD instead of a str that cannot be stored or encoded later.
        return UserData(body.decode("utf-16-be", errors="replace"), concat, None, ies)
    # 8-bit data has no text alphabet; latin-1 keeps every octet visible and reversible.
    return UserData(body.decode("latin-1"), concat, bytes(body), ies)


__all__ = ["EIGHT_BIT", "GSM7", "UCS2", "UserData", "decode_user_data", "encode_user_data"]
