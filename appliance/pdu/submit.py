"""SMS-SUBMIT (MTI 01): what the driver sends with AT+CMGS, and decoding it (the simulator).

Knows: the TS 23.040 §9.2.2.2 SMS-SUBMIT layout (first octet flags, TP-MR, TP-DA, TP-PID,
TP-DCS, TP-VP in the format TP-VPF names, TP-UDL/UD), and how parts of a long message are
numbered. Must not know: modems, AT commands, which SIM sends what.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .address import decode_address, decode_smsc, encode_address, encode_smsc
from .dcs import decode_dcs, encode_dcs
from .errors import PduError, pdu_errors_only
from .octets import Reader, hex_to_bytes
from .split import choose_encoding, split_text
from .timestamp import (
    decode_relative_validity,
    decode_timestamp,
    encode_relative_validity,
)
from .udh import Concat, build_udh, concat_ie
from .userdata import decode_user_data, encode_user_data

# First-octet bits, §9.2.2.2 / §9.2.3.
MTI_MASK = 0x03
MTI_SUBMIT = 0x01
_RD = 0x04
_VPF_MASK = 0x18
_VPF_RELATIVE = 0x10  # TP-VPF = 10
_VPF_ENHANCED = 0x08  # TP-VPF = 01 (§9.2.3.12.3, 7 octets)
_VPF_ABSOLUTE = 0x18  # TP-VPF = 11 (§9.2.3.12.2, 7 octets)
_SRR = 0x20
_UDHI = 0x40


@dataclass(frozen=True)
class SubmitPart:
    pdu: str  # uppercase hex, INCLUDING the leading SMSC field ("00" = use SIM's SMSC)
    tpdu_length: int  # octets of the TPDU without the SMSC field: <length> of AT+CMGS=<length>
    index: int  # 1-based part number
    count: int  # number of parts
    reference: int | None  # concatenation reference, None for a single-part message
    text: str  # the text carried by this part


@dataclass(frozen=True)
class Submit:
    smsc: str | None
    message_reference: int
    to: str
    text: str
    encoding: str
    concat: Concat | None
    status_report_requested: bool
    validity: timedelta | None  # relative TP-VP only
    flash: bool
    dcs: int
    # Additions beyond the agreed shape:
    validity_absolute: datetime | None = None  # TP-VPF = 11
    reject_duplicates: bool = False
    protocol_id: int = 0
    data: bytes | None = None  # raw payload for 8-bit messages


def encode_submit(
    to: str,
    text: str,
    *,
    reference: int = 0,
    request_status_report: bool = False,
    validity: timedelta | None = None,
    flash: bool = False,
    smsc: str | None = None,
    force_ucs2: bool = False,
    message_reference: int = 0,
    message_class: int | None = None,
) -> list[SubmitPart]:
    """One SubmitPart per PDU to send; several with a concatenation UDH (IEI 0x00) if long.

    Every part carries the same TP-MR: most modems substitute their own counter anyway and
    report it in +CMGS: <mr>, which is what status reports are matched on.
    """
    encoding = choose_encoding(text, force_ucs2)
    texts = split_text(text, encoding)
    count = len(texts)
    smsc_field = encode_smsc(smsc)
    destination = encode_address(to, alphanumeric=False)
    dcs = encode_dcs(encoding, flash=flash, message_class=message_class)
    first = MTI_SUBMIT | (_SRR if request_status_report else 0)
    vp = b""
    if validity is not None:
        first |= _VPF_RELATIVE
        vp = bytes((encode_relative_validity(validity),))
    if count > 1:
        first |= _UDHI
    parts: list[SubmitPart] = []
    for index, part_text in enumerate(texts, start=1):
        udh = b""
        if count > 1:
            udh = build_udh(concat_ie(Concat(reference & 0xFF, count, index, 8)))
        udl, ud = encode_user_data(encoding, part_text, udh)
        tpdu = (
            bytes((first, message_reference & 0xFF))
            + destination
            + bytes((0x00, dcs))  # TP-PID 00: plain short message (§9.2.3.9)
            + vp
            + bytes((udl,))
            + ud
        )
        parts.append(
            SubmitPart(
                pdu=(smsc_field + tpdu).hex().upper(),
                tpdu_length=len(tpdu),
                index=index,
                count=count,
                reference=(reference & 0xFF) if count > 1 else None,
                text=part_text,
            )
        )
    return parts


@pdu_errors_only
def decode_submit(pdu: str) -> Submit:
    """Decode an SMS-SUBMIT given as hex WITH its SMSC prefix."""
    reader = Reader(hex_to_bytes(pdu))
    smsc = decode_smsc(reader)
    first = reader.octet("first octet")
    if first & MTI_MASK != MTI_SUBMIT:
        raise PduError(f"not an SMS-SUBMIT (MTI {first & MTI_MASK:02b})")
    message_reference = reader.octet("TP-MR")
    to = decode_address(reader, "TP-DA")
    protocol_id = reader.octet("TP-PID")
    dcs = reader.octet("TP-DCS")
    coding = decode_dcs(dcs)
    validity: timedelta | None = None
    validity_absolute: datetime | None = None
    vpf = first & _VPF_MASK
    if vpf == _VPF_RELATIVE:
        validity = decode_relative_validity(reader.octet("TP-VP"))
    elif vpf == _VPF_ABSOLUTE:
        validity_absolute = decode_timestamp(reader.take(7, "TP-VP"), "TP-VP")
    elif vpf == _VPF_ENHANCED:
        reader.take(7, "TP-VP")  # enhanced format (§9.2.3.12.3): skipped, not interpreted
    user_data = decode_user_data(reader, coding.encoding, bool(first & _UDHI))
    return Submit(
        smsc=smsc,
        message_reference=message_reference,
        to=to,
        text=user_data.text,
        encoding=coding.encoding,
        concat=user_data.concat,
        status_report_requested=bool(first & _SRR),
        validity=validity,
        flash=coding.message_class == 0,
        dcs=dcs,
        validity_absolute=validity_absolute,
        reject_duplicates=bool(first & _RD),
        protocol_id=protocol_id,
        data=user_data.data,
    )
