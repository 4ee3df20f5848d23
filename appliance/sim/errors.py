"""How a simulated modem words its errors: +CME / +CMS codes and the +CMEE switch.

Knows: the numeric codes of 3GPP TS 27.007 §9.2 (+CME) and TS 27.005 §3.2.5 (+CMS, whose codes
below 256 are network causes of TS 24.011 §E.2), and their usual verbose texts.
Must not know: which command failed or why; the interpreter decides that.
"""

from __future__ import annotations

CME_TEXT: dict[int, str] = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    11: "SIM PIN required",
    12: "SIM PUK required",
    13: "SIM failure",
    14: "SIM busy",
    16: "incorrect password",
    30: "no network service",
    100: "unknown",
}

CMS_TEXT: dict[int, str] = {
    1: "Unassigned (unallocated) number",
    21: "Short message transfer rejected",
    27: "Destination out of service",
    38: "Network out of order",
    42: "Congestion",
    300: "ME failure",
    302: "operation not allowed",
    303: "operation not supported",
    304: "invalid PDU mode parameter",
    310: "SIM not inserted",
    311: "SIM PIN required",
    314: "SIM busy",
    316: "SIM PUK required",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    500: "unknown error",
}

# Common CME codes for a SIM-state problem, and their +CMS counterparts for SMS commands.
CME_TO_CMS = {10: 310, 11: 311, 12: 316, 14: 314}


def final_error(kind: str, code: int, cmee: int) -> str:
    """The final result line for an error of `kind` ("CME" or "CMS") under +CMEE=`cmee`.

    +CMEE=0 hides the code behind a bare ERROR (the factory default, and why a client must
    switch it on); 2 gives the text where the code has a well-known one, else the number.
    """
    if cmee == 0:
        return "ERROR"
    table = CME_TEXT if kind == "CME" else CMS_TEXT
    if cmee == 2 and code in table:
        return f"+{kind} ERROR: {table[code]}"
    return f"+{kind} ERROR: {code}"
