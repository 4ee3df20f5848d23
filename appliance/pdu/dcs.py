"""TP-DCS: which alphabet the user data uses and whether it is a flash (class 0) message.

Knows: TS 23.038 §4 (coding groups 00xx/01xx general, 1100-1110 message waiting, 1111 data
coding/message class; reserved codings read as the GSM 7-bit default alphabet). Must not know:
how user data is packed or split.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PduError

GSM7 = "gsm7"
EIGHT_BIT = "8bit"
UCS2 = "ucs2"


@dataclass(frozen=True)
class DataCoding:
    encoding: str  # "gsm7" | "8bit" | "ucs2"
    message_class: int | None  # 0-3, None when the DCS does not say


def decode_dcs(dcs: int) -> DataCoding:
    """Interpret a TP-DCS octet; compressed text raises PduError (we cannot decompress it)."""
    group = dcs >> 4
    if group <= 0x7:  # 00xx general data coding, 01xx same with automatic deletion
        if dcs & 0x20:
            # §4: bit 5 set = text compressed with TS 23.042; no compressor here.
            raise PduError(f"DCS {dcs:#04x}: compressed user data is not supported")
        alphabet = (dcs >> 2) & 0x03
        encoding = {0: GSM7, 1: EIGHT_BIT, 2: UCS2}.get(alphabet, GSM7)  # 11 reserved → GSM7
        message_class = dcs & 0x03 if dcs & 0x10 else None
        return DataCoding(encoding, message_class)
    if group in (0xC, 0xD):  # message waiting indication, discard/store: GSM-7
        return DataCoding(GSM7, None)
    if group == 0xE:  # message waiting indication, store: UCS2
        return DataCoding(UCS2, None)
    if group == 0xF:  # data coding / message class: bit 2 selects 8-bit, bits 1-0 the class
        return DataCoding(EIGHT_BIT if dcs & 0x04 else GSM7, dcs & 0x03)
    # 1000-1011 reserved coding groups: "assumed to be the GSM 7 bit default alphabet" (§4).
    return DataCoding(GSM7, None)


def encode_dcs(encoding: str, *, flash: bool, message_class: int | None = None) -> int:
    """0x00 / 0x08, or with flash the class-0 variants 0x10 / 0x18 (§4, bit 4 + class 00);
    `message_class` 0-3 sets bit 4 and the class in bits 1-0 (flash is class 0)."""
    base = {GSM7: 0x00, EIGHT_BIT: 0x04, UCS2: 0x08}[encoding]
    if message_class is None and flash:
        message_class = 0
    if message_class is None:
        return base
    if not 0 <= message_class <= 3:
        raise ValueError(f"message class {message_class} is not 0-3")
    return base | 0x10 | message_class
