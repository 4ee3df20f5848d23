"""What a failed +CMGS means for the message and the SIM: `+CMS ERROR`/`+CME ERROR` as a table.

Knows: the error codes of 3GPP TS 27.005 §3.2.5 (+CMS: 0-127 are the RP causes of TS 24.011
Annex E, 128-255 the TP-Failure-Cause of TS 23.040 §9.2.3.22, 300-500 the modem's own), of TS 27.007
§9.2 (+CME), and the vendor codes seen on our modems; which of four outcomes each one means; the
English reason shown to users.
Must not know: modems, retries or counts. It classifies one answer; health.py decides what a run
of them means for a SIM, and the dispatcher decides whether to retry.

Outcomes:
- TRANSIENT: the part was provably not sent and another SIM may succeed: retry elsewhere.
- PERMANENT: the message or the recipient is at fault; another SIM would fail the same way: fail
  the message at once with the reason. These never count against the SIM.
- BARRING_SUSPECT: the network refused this SIM (operator barring, SMS not subscribed, arrears):
  retry elsewhere, and a run of them marks the SIM barred.
- SIM_PROBLEM: the SIM itself is missing, locked or broken: retry elsewhere and rest the SIM until
  the pool sees it change.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class ErrorClass(enum.Enum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    BARRING_SUSPECT = "barring_suspect"
    SIM_PROBLEM = "sim_problem"


class ErrorRow(NamedTuple):
    error_class: ErrorClass
    reason: str


T, P, B, S = (ErrorClass.TRANSIENT, ErrorClass.PERMANENT, ErrorClass.BARRING_SUSPECT,
              ErrorClass.SIM_PROBLEM)

CMS_ERRORS: dict[int, ErrorRow] = {
    # --- RP causes, TS 24.011 Annex E (the network's answer to our RP-DATA) ---
    1: ErrorRow(P, "the recipient number is not assigned"),
    8: ErrorRow(B, "the operator has barred this SIM (operator determined barring)"),
    10: ErrorRow(B, "this SIM is barred from sending SMS (call barred)"),
    # Chinese operators answer 21 to a SIM in arrears or restricted for spam, far more often than
    # for anything wrong with one message: count it against the SIM, and the bounded retry limits
    # what a bad message costs.
    21: ErrorRow(B, "the network rejected the message (short message transfer rejected)"),
    22: ErrorRow(T, "the network is congested (memory capacity exceeded)"),
    27: ErrorRow(T, "the destination is out of order"),
    # 28 and 30 come back (mapped from MAP errors) when the recipient's number is not in the HLR.
    28: ErrorRow(P, "the recipient is not a known subscriber (unidentified subscriber)"),
    29: ErrorRow(B, "the network rejected the SMS service for this SIM (facility rejected)"),
    30: ErrorRow(P, "the recipient is not a known subscriber (unknown subscriber)"),
    38: ErrorRow(T, "the network is out of order"),
    41: ErrorRow(T, "temporary network failure"),
    42: ErrorRow(T, "the network is congested"),
    47: ErrorRow(T, "network resources unavailable"),
    50: ErrorRow(B, "SMS is not subscribed on this SIM (requested facility not subscribed)"),
    69: ErrorRow(B, "the network does not offer SMS to this SIM (facility not implemented)"),
    81: ErrorRow(T, "invalid short message transfer reference"),
    95: ErrorRow(P, "the network found the message semantically incorrect"),
    96: ErrorRow(P, "the message lacks mandatory information"),
    97: ErrorRow(T, "message type not implemented by the network"),
    98: ErrorRow(T, "message not compatible with the protocol state"),
    99: ErrorRow(P, "the message carries an element the network does not implement"),
    111: ErrorRow(T, "protocol error, unspecified"),
    127: ErrorRow(T, "interworking error, unspecified"),
    # --- TP-Failure-Cause, TS 23.040 §9.2.3.22 (the SMSC's answer to our SMS-SUBMIT) ---
    128: ErrorRow(P, "telematic interworking not supported"),
    129: ErrorRow(P, "short message type 0 not supported"),
    130: ErrorRow(P, "cannot replace the short message"),
    143: ErrorRow(P, "protocol identifier (TP-PID) error"),
    144: ErrorRow(P, "data coding scheme (alphabet) not supported"),
    145: ErrorRow(P, "message class not supported"),
    159: ErrorRow(P, "data coding scheme (TP-DCS) error"),
    160: ErrorRow(P, "command cannot be actioned"),
    161: ErrorRow(P, "command unsupported"),
    175: ErrorRow(P, "command (TP-Command) error"),
    176: ErrorRow(P, "TPDU not supported"),
    192: ErrorRow(T, "the message centre is busy"),
    193: ErrorRow(B, "this SIM has no subscription with the message centre"),
    194: ErrorRow(T, "message centre system failure"),
    195: ErrorRow(P, "invalid recipient address"),
    196: ErrorRow(P, "the recipient is barred from receiving SMS"),
    # The SMSC already holds a message with this reference for this recipient: resending it on
    # another SIM would deliver it twice, so the part ends here.
    197: ErrorRow(P, "rejected as a duplicate of a message already submitted"),
    198: ErrorRow(P, "validity period format not supported"),
    199: ErrorRow(P, "validity period not supported"),
    208: ErrorRow(S, "the SIM's SMS storage is full"),
    209: ErrorRow(S, "the SIM has no SMS storage"),
    210: ErrorRow(T, "error in the modem"),
    211: ErrorRow(T, "memory capacity exceeded"),
    212: ErrorRow(T, "the SIM application toolkit is busy"),
    213: ErrorRow(T, "SIM data download error"),
    255: ErrorRow(T, "unspecified error"),
    # --- the modem's own, TS 27.005 §3.2.5 ---
    300: ErrorRow(T, "modem failure"),
    301: ErrorRow(T, "the modem's SMS service is reserved"),
    302: ErrorRow(T, "operation not allowed by the modem"),
    303: ErrorRow(T, "operation not supported by the modem"),
    # The PDU we built is refused; another SIM gets the same bytes, so retrying cannot help.
    304: ErrorRow(P, "the modem refused the message encoding (invalid PDU mode parameter)"),
    305: ErrorRow(P, "the modem refused the message text (invalid text mode parameter)"),
    310: ErrorRow(S, "no SIM inserted"),
    311: ErrorRow(S, "the SIM needs its PIN"),
    312: ErrorRow(S, "the SIM needs the PH-SIM PIN"),
    313: ErrorRow(S, "SIM failure"),
    314: ErrorRow(T, "the SIM is busy"),
    315: ErrorRow(S, "wrong SIM"),
    316: ErrorRow(S, "the SIM needs its PUK"),
    317: ErrorRow(S, "the SIM needs its PIN2"),
    318: ErrorRow(S, "the SIM needs its PUK2"),
    320: ErrorRow(T, "modem memory failure"),
    321: ErrorRow(T, "invalid memory index"),
    322: ErrorRow(T, "modem memory full"),
    330: ErrorRow(S, "the SIM has no message centre (SMSC) address"),
    331: ErrorRow(T, "no network service"),
    # An answer, not silence: the modem says the network did not take the part in time. (A +CMGS
    # with no answer at all is "ambiguous" and handled by the dispatcher, not here.)
    332: ErrorRow(T, "network timeout"),
    340: ErrorRow(T, "no +CNMA acknowledgement expected"),
    500: ErrorRow(T, "unknown error"),
}

CME_ERRORS: dict[int, ErrorRow] = {
    # TS 27.007 §9.2.1
    0: ErrorRow(T, "phone failure"),
    1: ErrorRow(T, "no connection to phone"),
    3: ErrorRow(T, "operation not allowed"),
    4: ErrorRow(T, "operation not supported"),
    5: ErrorRow(S, "the SIM needs the PH-SIM PIN"),
    10: ErrorRow(S, "no SIM inserted"),
    11: ErrorRow(S, "the SIM needs its PIN"),
    12: ErrorRow(S, "the SIM needs its PUK"),
    13: ErrorRow(S, "SIM failure"),
    # python-gsmmodem's fake modems inject 14 and 515 because real ones send them while busy.
    14: ErrorRow(T, "the SIM is busy"),
    15: ErrorRow(S, "wrong SIM"),
    16: ErrorRow(S, "incorrect SIM password"),
    17: ErrorRow(S, "the SIM needs its PIN2"),
    18: ErrorRow(S, "the SIM needs its PUK2"),
    20: ErrorRow(T, "modem memory full"),
    23: ErrorRow(T, "modem memory failure"),
    30: ErrorRow(T, "no network service"),
    31: ErrorRow(T, "network timeout"),
    # Registered for emergency calls only: the network refused this SIM's registration.
    32: ErrorRow(B, "the network refused this SIM (emergency calls only)"),
    100: ErrorRow(T, "unknown error"),
    # Vendor-specific (Huawei, Quectel, SIMCom): "device busy / initialising".
    515: ErrorRow(T, "the modem is busy"),
}


def lookup_send_error(cms: int | None, cme: int | None) -> ErrorRow:
    """The class and user-facing reason for one failed send. A +CMS code wins over a +CME one;
    an unknown code, or a bare `ERROR` (both None), is TRANSIENT: not knowing is no proof the
    recipient is bad, and the retry count bounds the cost."""
    if cms is not None:
        row = CMS_ERRORS.get(cms)
        return row if row else ErrorRow(T, f"unknown error {cms}")
    if cme is not None:
        row = CME_ERRORS.get(cme)
        return row if row else ErrorRow(T, f"unknown error {cme}")
    return ErrorRow(T, "the modem answered ERROR without a code")


def classify_send_error(cms: int | None, cme: int | None) -> ErrorClass:
    """TRANSIENT, PERMANENT, BARRING_SUSPECT or SIM_PROBLEM for one failed send."""
    return lookup_send_error(cms, cme).error_class


def describe_error(cms: int | None, cme: int | None) -> str:
    """The reason shown to users, with the raw code so a technician can look it up:
    "the network is congested (+CMS ERROR: 42)"."""
    reason = lookup_send_error(cms, cme).reason
    if cms is not None:
        return f"{reason} (+CMS ERROR: {cms})"
    if cme is not None:
        return f"{reason} (+CME ERROR: {cme})"
    return reason


__all__ = [
    "CME_ERRORS", "CMS_ERRORS", "ErrorClass", "ErrorRow",
    "classify_send_error", "describe_error", "lookup_send_error",
]
