"""The SMS PDU codec: pure functions from text to hex PDUs and back, no I/O.

Knows: 3GPP TS 23.040 (TPDU layouts, UDH, concatenation) and TS 23.038 (GSM 7-bit alphabet via
`gsm0338`, UCS2, data coding schemes). Must not know: serial ports, AT commands, modems, storage,
policy. Every decode failure raises PduError.
"""

from __future__ import annotations

from .decode import decode_pdu
from .deliver import Deliver, encode_deliver
from .errors import PduError
from .split import PartCount, count_parts
from .status_report import StatusReport, encode_status_report
from .submit import Submit, SubmitPart, decode_submit, encode_submit
from .udh import Concat

__all__ = [
    "Concat",
    "Deliver",
    "PartCount",
    "PduError",
    "StatusReport",
    "Submit",
    "SubmitPart",
    "count_parts",
    "decode_pdu",
    "decode_submit",
    "encode_deliver",
    "encode_status_report",
    "encode_submit",
]
