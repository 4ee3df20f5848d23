"""The User Data Header: information elements, and the concatenation IEs in particular.

Knows: TS 23.040 §9.2.3.24 (UDHL + IEI/IEDL/IED list), §9.2.3.24.1 (8-bit concatenation,
IEI 0x00) and §9.2.3.24.8 (16-bit concatenation, IEI 0x08). Must not know: alphabets, septet
fill bits (the user-data layer handles those), reassembly (the inbox does that).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PduError

IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08


@dataclass(frozen=True)
class Concat:
    """Which part of a concatenated message this is."""

    reference: int
    count: int
    index: int
    bits: int  # 8 or 16: width of the reference


def concat_ie(concat: Concat) -> bytes:
    """One concatenation IE (without UDHL)."""
    if not 1 <= concat.index <= concat.count <= 255:
        raise PduError(f"bad concatenation part {concat.index}/{concat.count}")
    if concat.bits == 8:
        return bytes((IEI_CONCAT_8, 3, concat.reference & 0xFF, concat.count, concat.index))
    if concat.bits == 16:
        ref = concat.reference & 0xFFFF
        return bytes((IEI_CONCAT_16, 4, ref >> 8, ref & 0xFF, concat.count, concat.index))
    raise PduError(f"concatenation reference must be 8 or 16 bits, not {concat.bits}")


def build_udh(*ies: bytes) -> bytes:
    """UDHL followed by the IEs."""
    body = b"".join(ies)
    return bytes((len(body),)) + body


def parse_ies(header: bytes) -> list[tuple[int, bytes]]:
    """Split the UDH body (after UDHL) into (IEI, data) pairs; a short IE raises PduError."""
    ies: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(header):
        if pos + 2 > len(header):
            raise PduError("user data header ends inside an information element")
        iei, length = header[pos], header[pos + 1]
        data = header[pos + 2 : pos + 2 + length]
        if len(data) != length:
            raise PduError(f"information element {iei:#04x} runs past the user data header")
        ies.append((iei, data))
        pos += 2 + length
    return ies


def find_concat(ies: list[tuple[int, bytes]]) -> Concat | None:
    """The concatenation IE, if any. Other IEs (ports, SMSC control...) are skipped.

    §9.2.3.24: a repeated IE → the last occurrence wins. §9.2.3.24.1: a count or sequence
    number of 0, or a sequence number above the count, means the IE is ignored.
    """
    found: Concat | None = None
    for iei, data in ies:
        if iei == IEI_CONCAT_8 and len(data) == 3:
            candidate = Concat(reference=data[0], count=data[1], index=data[2], bits=8)
        elif iei == IEI_CONCAT_16 and len(data) == 4:
            candidate = Concat(
                reference=(data[0] << 8) | data[1], count=data[2], index=data[3], bits=16
            )
        else:
            continue
        valid = 1 <= candidate.index <= candidate.count
        found = candidate if valid else None
    return found
