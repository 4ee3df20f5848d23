"""SMS-STATUS-REPORT (MTI 10): the network telling us what became of a message we sent.

Knows: the TS 23.040 §9.2.2.3 layout (TP-MR, TP-RA, TP-SCTS, TP-DT, TP-ST; optional trailing
fields ignored) and the §9.2.3.15 TP-ST ranges. Must not know: which outbox row the TP-MR
belongs to (the dispatcher matches it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .address import decode_address, encode_address, encode_smsc
from .octets import Reader
from .timestamp import decode_timestamp, encode_timestamp

MTI_STATUS_REPORT = 0x02
_MMS_NO_MORE = 0x04


@dataclass(frozen=True)
class StatusReport:
    smsc: str | None
    message_reference: int
    recipient: str
    scts: datetime
    discharge: datetime
    status: int

    @property
    def delivered(self) -> bool:
        """0x00-0x1F: transaction completed (delivered, forwarded, replaced) — §9.2.3.15."""
        return self.status <= 0x1F

    @property
    def pending(self) -> bool:
        """0x20-0x3F: temporary error, the SC is still trying to deliver."""
        return 0x20 <= self.status <= 0x3F

    @property
    def failed(self) -> bool:
        """0x40 and up: permanent error, or a temporary one the SC gave up on (0x60-0x7F)."""
        return self.status >= 0x40


def decode_status_report_tpdu(reader: Reader, smsc: str | None, first: int) -> StatusReport:
    """The rest of an SMS-STATUS-REPORT after the SMSC field and first octet."""
    message_reference = reader.octet("TP-MR")
    recipient = decode_address(reader, "TP-RA")
    scts = decode_timestamp(reader.take(7, "TP-SCTS"), "TP-SCTS")
    discharge = decode_timestamp(reader.take(7, "TP-DT"), "TP-DT")
    status = reader.octet("TP-ST")
    # TP-PI and what it announces (PID/DCS/UD) are optional and say nothing we use: ignored.
    return StatusReport(smsc, message_reference, recipient, scts, discharge, status)


def encode_status_report(
    message_reference: int,
    recipient: str,
    status: int,
    scts: datetime,
    discharge: datetime,
    *,
    smsc: str = "+8613800100500",
) -> str:
    """Hex SMS-STATUS-REPORT WITH the SMSC prefix (TP-SRQ 0: it reports an SMS-SUBMIT)."""
    tpdu = (
        bytes((MTI_STATUS_REPORT | _MMS_NO_MORE, message_reference & 0xFF))
        + encode_address(recipient, alphanumeric=False)
        + encode_timestamp(scts)
        + encode_timestamp(discharge)
        + bytes((status & 0xFF,))
    )
    return (encode_smsc(smsc) + tpdu).hex().upper()
