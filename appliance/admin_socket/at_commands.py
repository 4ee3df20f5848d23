"""Which AT commands a technician may pass through without confirming: those that only read.

Knows: the read-only commands of 3GPP TS 27.007/27.005 and V.250 (identification, signal,
registration, SIM identity) and the syntax of read (`AT+X?`) and test (`AT+X=?`) commands.
Must not know: modems, sockets or the console.

Anything else (a set command, `ATZ`, `AT+CFUN=1,1`, several commands chained with `;`) may
change the modem and needs a typed confirmation from the technician. `AT+CMGL`/`AT+CMGR` are
NOT read-only: reading a stored message marks it read (TS 27.005 §3.4.2), and its text would
land in the console's scroll-back.
"""

from __future__ import annotations

import re

READ_ONLY_ACTIONS = frozenset({
    "AT",  # V.250: the attention command alone, "are you there"
    "ATI",  # V.250 §6.1.3 identification
    "AT+GMI", "AT+GMM", "AT+GMR", "AT+GSN",  # V.250 identification
    "AT+CGMI", "AT+CGMM", "AT+CGMR", "AT+CGSN",  # TS 27.007 §5 manufacturer, model, IMEI
    "AT+CIMI",  # TS 27.007 §5.6 IMSI
    "AT+CCID", "AT+ICCID", "AT^ICCID", "AT+QCCID",  # ICCID (vendor spellings: Huawei, Quectel)
    "AT+CSQ",  # TS 27.007 §8.5 signal quality
    "AT+CNUM",  # TS 27.007 §7.1 own number
    "AT+CPAS",  # TS 27.007 §8.1 activity status
    "AT+CEER",  # TS 27.007 §6.10 extended error report
    "AT+CBC",  # battery/power
    "AT^SYSINFO",  # Huawei system information
    "AT+QNWINFO",  # Quectel network information
})
"""Action commands (no `=`, no `?`) that only read."""

# AT+X? and AT+X=? with one command only (letters, digits, +^$%& prefixes as vendors use).
_READ_OR_TEST = re.compile(r"AT[+^$%&#*][A-Z0-9]+(?:\?|=\?)")


def normalize(command: str) -> str:
    """Upper-cased, without surrounding blanks; 'at+csq' -> 'AT+CSQ'."""
    return command.strip().upper()


def is_read_only(command: str) -> bool:
    """True when `command` only reads: passed through at once. Chained commands never are."""
    text = normalize(command)
    if ";" in text or not text.startswith("AT"):
        return False
    return text in READ_ONLY_ACTIONS or _READ_OR_TEST.fullmatch(text) is not None


def check_syntax(command: str) -> str | None:
    """Why `command` cannot be passed through at all (None: it can)."""
    text = command.strip()
    if not text.upper().startswith("AT"):
        return "an AT command starts with AT"
    if len(text) > 200:
        return "longer than 200 characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        return "control characters are not allowed (no Ctrl-Z: PDUs are not sent from here)"
    return None


__all__ = ["READ_ONLY_ACTIONS", "check_syntax", "is_read_only", "normalize"]
