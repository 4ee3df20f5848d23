"""Verbose +CME / +CMS error texts mapped to their numeric codes.

Knows: the error tables of 3GPP TS 27.007 §9.2 (+CME ERROR) and TS 27.005 §3.2.5 (+CMS ERROR),
the RP cause values of TS 24.011 (table 8.4) and the TP-FCS values of TS 23.040 §9.2.3.22 that
TS 27.005 reuses for codes 0-255, and a few verbose spellings seen from real modems.
Must not know: what any error *means* for sending (transient or permanent is the modem/dispatch
layers' decision), nor anything about I/O.

Modems switched to verbose errors (`AT+CMEE=2`) print the text instead of the number; mapping it
back lets callers handle one form only.
"""

from __future__ import annotations

import re

# TS 27.007 §9.2.1 (general) and §9.2.2 (GPRS-related) +CME ERROR values.
CME_ERRORS: dict[int, str] = {
    0: "phone failure",
    1: "no connection to phone",
    2: "phone-adaptor link reserved",
    3: "operation not allowed",
    4: "operation not supported",
    5: "PH-SIM PIN required",
    6: "PH-FSIM PIN required",
    7: "PH-FSIM PUK required",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    15: "SIM wrong",
    16: "incorrect password",
    17: "SIM PIN2 required",
    18: "SIM PUK2 required",
    20: "memory full",
    21: "invalid index",
    22: "not found",
    23: "memory failure",
    24: "text string too long",
    25: "invalid characters in text string",
    26: "dial string too long",
    27: "invalid characters in dial string",
    30: "no network service",
    31: "network timeout",
    32: "network not allowed - emergency calls only",
    40: "network personalization PIN required",
    41: "network personalization PUK required",
    42: "network subset personalization PIN required",
    43: "network subset personalization PUK required",
    44: "service provider personalization PIN required",
    45: "service provider personalization PUK required",
    46: "corporate personalization PIN required",
    47: "corporate personalization PUK required",
    48: "hidden key required",
    49: "EAP method not supported",
    50: "incorrect parameters",
    100: "unknown",
    103: "Illegal MS",
    106: "Illegal ME",
    107: "GPRS services not allowed",
    111: "PLMN not allowed",
    112: "Location area not allowed",
    113: "Roaming not allowed in this location area",
    132: "service option not supported",
    133: "requested service option not subscribed",
    134: "service option temporarily out of order",
    148: "unspecified GPRS error",
    149: "PDP authentication failure",
    150: "invalid mobile class",
}

# TS 27.005 §3.2.5 +CMS ERROR values: 0-127 are TS 24.011 RP causes, 128-255 TS 23.040 TP-FCS,
# 300-500 are the ME/TA errors of §3.2.5 itself.
CMS_ERRORS: dict[int, str] = {
    1: "Unassigned (unallocated) number",
    8: "Operator determined barring",
    10: "Call barred",
    21: "Short message transfer rejected",
    27: "Destination out of service",
    28: "Unidentified subscriber",
    29: "Facility rejected",
    30: "Unknown subscriber",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Congestion",
    47: "Resources unavailable, unspecified",
    50: "Requested facility not subscribed",
    69: "Requested facility not implemented",
    81: "Invalid short message transfer reference value",
    95: "Invalid message, unspecified",
    96: "Invalid mandatory information",
    97: "Message type non-existent or not implemented",
    98: "Message not compatible with short message protocol state",
    99: "Information element non-existent or not implemented",
    111: "Protocol error, unspecified",
    127: "Interworking, unspecified",
    128: "Telematic interworking not supported",
    129: "Short message Type 0 not supported",
    130: "Cannot replace short message",
    143: "Unspecified TP-PID error",
    144: "Data coding scheme (alphabet) not supported",
    145: "Message class not supported",
    159: "Unspecified TP-DCS error",
    160: "Command cannot be actioned",
    161: "Command unsupported",
    175: "Unspecified TP-Command error",
    176: "TPDU not supported",
    192: "SC busy",
    193: "No SC subscription",
    194: "SC system failure",
    195: "Invalid SME address",
    196: "Destination SME barred",
    197: "SM Rejected-Duplicate SM",
    198: "TP-VPF not supported",
    199: "TP-VP not supported",
    208: "(U)SIM SMS storage full",
    209: "No SMS storage capability in (U)SIM",
    210: "Error in MS",
    211: "Memory Capacity Exceeded",
    212: "(U)SIM Application Toolkit Busy",
    213: "(U)SIM data download error",
    255: "Unspecified error cause",
    300: "ME failure",
    301: "SMS service of ME reserved",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
    310: "(U)SIM not inserted",
    311: "(U)SIM PIN required",
    312: "PH-(U)SIM PIN required",
    313: "(U)SIM failure",
    314: "(U)SIM busy",
    315: "(U)SIM wrong",
    316: "(U)SIM PUK required",
    317: "(U)SIM PIN2 required",
    318: "(U)SIM PUK2 required",
    320: "memory failure",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
}

# Verbose spellings that firmware prints but that are not the standard's words.
_CMS_ALIASES: dict[str, int] = {
    # Seen with AT+CMEE=2 on several modules for a bad recipient: the TP-FCS "Invalid SME
    # address" (TS 23.040 §9.2.3.22, 0xC3) in other words.
    "invalid destination address": 195,
    "unknown": 500,
}
_CME_ALIASES: dict[str, int] = {
    "unknown error": 100,
}


def _normalise(text: str) -> str:
    # "(U)SIM busy" and "SIM busy", "Network out-of-order" and "network out of order" are the
    # same error; compare letters and digits only.
    text = text.casefold().replace("(u)", "")
    return " ".join(re.findall(r"[a-z0-9]+", text))


def _index(table: dict[int, str], aliases: dict[str, int]) -> dict[str, int]:
    index = {_normalise(text): code for code, text in table.items()}
    index.update({_normalise(text): code for text, code in aliases.items()})
    return index


_CME_INDEX = _index(CME_ERRORS, _CME_ALIASES)
_CMS_INDEX = _index(CMS_ERRORS, _CMS_ALIASES)


def cme_code(text: str) -> int | None:
    """The +CME ERROR number for `text` (a number or a verbose text); None if unknown."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    return _CME_INDEX.get(_normalise(text))


def cms_code(text: str) -> int | None:
    """The +CMS ERROR number for `text` (a number or a verbose text); None if unknown."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    return _CMS_INDEX.get(_normalise(text))
