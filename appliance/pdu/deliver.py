"""SMS-DELIVER (MTI 00): what a modem hands us for an inbound message, and building one (the
simulator plays the network with it).

Knows: the TS 23.040 §9.2.2.1 SMS-DELIVER layout (first octet flags TP-MMS/TP-SRI/TP-UDHI,
TP-OA, TP-PID, TP-DCS, TP-SCTS, TP-UDL/UD). Must not know: reassembly, storage, modems.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .address import decode_address, encode_address, encode_smsc
from .dcs import decode_dcs, encode_dcs
from .errors import PduError
from .octets import Reader
from .split import choose_encoding, split_text
from .timestamp import decode_timestamp, encode_timestamp
from .udh import Concat, build_udh, concat_ie
from .userdata import decode_user_data, encode_user_data

MTI_DELIVER = 0x00
# TP-MMS is inverted: 0 means "more messages are waiting in the SC" (§9.2.3.2).
_MMS_NO_MORE = 0x04
_SRI = 0x20
_UDHI = 0x40


@dataclass(frozen=True)
class Deliver:
    smsc: str | None
    sender: str
    text: str
    timestamp: datetime  # tz-aware
    encoding: str  # "gsm7" | "8bit" | "ucs2"
    concat: Concat | None
    protocol_id: int
    dcs: int
    flash: bool
    more_messages: bool
    status_report_indication: bool
    data: bytes | None  # raw user data for 8-bit messages


def decode_deliver_tpdu(reader: Reader, smsc: str | None, first: int) -> Deliver:
    """The rest of an SMS-DELIVER after the SMSC field and first octet."""
    sender = decode_address(reader, "TP-OA")
    protocol_id = reader.octet("TP-PID")
    dcs = reader.octet("TP-DCS")
    coding = decode_dcs(dcs)
    timestamp = decode_timestamp(reader.take(7, "TP-SCTS"), "TP-SCTS")
    user_data = decode_user_data(reader, coding.encoding, bool(first & _UDHI))
    return Deliver(
        smsc=smsc,
        sender=sender,
        text=user_data.text,
        timestamp=timestamp,
        encoding=coding.encoding,
        concat=user_data.concat,
        protocol_id=protocol_id,
        dcs=dcs,
        flash=coding.message_class == 0,
        more_messages=not first & _MMS_NO_MORE,
        status_report_indication=bool(first & _SRI),
        data=user_data.data,
    )


def encode_deliver(
    sender: str,
    text: str,
    timestamp: datetime,
    *,
    smsc: str = "+8613800100500",
    reference: int = 0,
    force_ucs2: bool = False,
    concat_bits: int = 8,
    flash: bool = False,
) -> list[str]:
    """Hex SMS-DELIVER PDUs WITH the SMSC prefix; several with a concatenation UDH if long.

    `concat_bits` 16 uses IEI 0x08, whose longer UDH leaves 152 septets / 66 UCS2 units a part.
    """
    if concat_bits not in (8, 16):
        raise PduError(f"concat_bits must be 8 or 16, not {concat_bits}")
    encoding = choose_encoding(text, force_ucs2)
    texts = split_text(text, encoding, 6 if concat_bits == 8 else 7)
    count = len(texts)
    head = encode_smsc(smsc)
    first = MTI_DELIVER | _MMS_NO_MORE | (_UDHI if count > 1 else 0)
    middle = (
        encode_address(sender)
        + bytes((0x00, encode_dcs(encoding, flash=flash)))
        + encode_timestamp(timestamp)
    )
    pdus: list[str] = []
    for index, part_text in enumerate(texts, start=1):
        udh = b""
        if count > 1:
            udh = build_udh(concat_ie(Concat(reference, count, index, concat_bits)))
        udl, ud = encode_user_data(encoding, part_text, udh)
        pdus.append((head + bytes((first,)) + middle + bytes((udl,)) + ud).hex().upper())
    return pdus
