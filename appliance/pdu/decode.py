"""decode_pdu: which kind of TPDU a modem handed us, by its TP-MTI.

Knows: TS 23.040 §9.2.3.1 (TP-MTI in the first octet; for an MS receiving, 00 = DELIVER and
10 = STATUS-REPORT). Must not know: the fields of each kind (their modules do).
"""

from __future__ import annotations

from .address import decode_smsc
from .deliver import Deliver, decode_deliver_tpdu
from .errors import PduError, pdu_errors_only
from .octets import Reader, hex_to_bytes
from .status_report import StatusReport, decode_status_report_tpdu


@pdu_errors_only
def decode_pdu(pdu: str) -> Deliver | StatusReport:
    """Decode hex from +CMGR/+CMGL/+CMT/+CDS (WITH the SMSC prefix).

    An SMS-SUBMIT (e.g. a stored sent message listed by +CMGL) raises PduError: use
    decode_submit for those.
    """
    reader = Reader(hex_to_bytes(pdu))
    smsc = decode_smsc(reader)
    first = reader.octet("first octet")
    mti = first & 0x03
    if mti == 0x00:
        return decode_deliver_tpdu(reader, smsc, first)
    if mti == 0x02:
        return decode_status_report_tpdu(reader, smsc, first)
    kind = "SMS-SUBMIT (use decode_submit)" if mti == 0x01 else "reserved MTI 11"
    raise PduError(f"not an SMS-DELIVER or SMS-STATUS-REPORT: {kind}")
