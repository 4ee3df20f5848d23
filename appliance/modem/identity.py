"""Reading what a modem answers about itself and its SIM: pure functions over response lines.

Knows: the shapes of +CGMI/+CGMM/+CGMR/+CGSN, ICCID (+CCID, ^ICCID, +QCCID, +CRSM EF_ICCID),
+CIMI, +COPS, +CNUM, +CPIN, +CREG, +CSQ, +CMGR/+CMGL answers, including vendor decorations.
Must not know: ports, timing, or when any of these commands is sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Labels some firmwares put before the value: "+CGMI: huawei", "Manufacturer: QUALCOMM",
# "+GMM: ...", "IMEI: 3520..." (Quectel and SIMCom answer ATI/+CGMx like this).
_LABEL = re.compile(
    r"^\s*(?:[+^]?C?G?[MS][IMRN]|Manufacturer|Model|Revision|IMEI|SN)\s*:\s*", re.IGNORECASE
)


def _text_lines(lines: Iterable[str]) -> list[str]:
    return [ln.strip() for ln in lines if ln.strip()]


def info_value(lines: Iterable[str]) -> str:
    """The value of a +CGMI/+CGMM/+CGMR answer without label or quotes (lines joined by a
    space: some modems answer +CGMR over two lines)."""
    parts = [_LABEL.sub("", ln).strip().strip('"').strip() for ln in _text_lines(lines)]
    return " ".join(p for p in parts if p)


def _first_digits(lines: Iterable[str], pattern: str) -> str:
    """The first match of `pattern` (a run of digits) in the answer's text lines, or ""."""
    for ln in _text_lines(lines):
        m = re.search(pattern, ln)
        if m:
            return m.group(0)
    return ""


def parse_imei(lines: Iterable[str]) -> str:
    """+CGSN: the first run of 14-17 digits (IMEI is 15, IMEISV 16)."""
    return _first_digits(lines, r"\d{14,17}")


def _swap_nibbles(hexdigits: str) -> str:
    return "".join(hexdigits[i + 1] + hexdigits[i] for i in range(0, len(hexdigits) - 1, 2))


def parse_iccid(lines: Iterable[str]) -> str:
    """An ICCID from any of: "+CCID: 8986...", "^ICCID: 8986...", "+QCCID: 8986...",
    a bare line of digits, or "+CRSM: 144,0,"98680..."" - EF_ICCID read raw (TS 51.011
    §10.1.1), which stores the digits nibble-swapped with F padding."""
    for ln in _text_lines(lines):
        if ln.upper().startswith("+CRSM"):
            m = re.search(r'(\d+)\s*,\s*(\d+)\s*,\s*"?([0-9A-Fa-f]{18,20})"?', ln)
            if m and m.group(1) in ("144", "145"):  # sw1 0x90/0x91: normal ending
                return _swap_nibbles(m.group(3)).upper().rstrip("F")
            continue
        m = re.search(r"(?<![0-9A-Fa-f])(89[0-9]{16,18}[0-9Ff]?)(?![0-9A-Fa-f])", ln)
        if m:
            return m.group(1).upper().rstrip("F")
    return ""


def parse_imsi(lines: Iterable[str]) -> str:
    """+CIMI: the first run of 6-15 digits (MCC + MNC + MSIN, TS 23.003 §2.2)."""
    return _first_digits(lines, r"\d{6,15}")


def _fields(value: str) -> list[str]:
    """Split an information response's value on commas outside quotes."""
    fields, current, quoted = [], [], False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            fields.append("".join(current))
            current = []
            continue
        current.append(ch)
    fields.append("".join(current))
    return [f.strip().strip('"') for f in fields]


def value_after(line: str, prefix: str) -> str | None:
    """"+CREG: 0,1" with prefix "+CREG" -> "0,1"; None when the line has another prefix."""
    if not line.upper().startswith(prefix.upper()):
        return None
    rest = line[len(prefix):].lstrip()
    return rest[1:].strip() if rest.startswith(":") else rest.strip()


def parse_cops(lines: Iterable[str]) -> str:
    """+COPS: <mode>[,<format>,<oper>[,<AcT>]] (TS 27.007 §7.3) -> <oper>, "" if none."""
    for ln in _text_lines(lines):
        value = value_after(ln, "+COPS")
        if value is None:
            continue
        fields = _fields(value)
        if len(fields) >= 3:
            return fields[2]
    return ""


def parse_cnum(lines: Iterable[str]) -> str:
    """+CNUM: [<alpha>],<number>,<type> (TS 27.007 §7.1) -> the first number."""
    for ln in _text_lines(lines):
        value = value_after(ln, "+CNUM")
        if value is None:
            continue
        fields = _fields(value)
        if len(fields) >= 2 and fields[1]:
            number = fields[1]
            if len(fields) >= 3 and fields[2] == "145" and not number.startswith("+"):
                number = "+" + number  # type 145: international (TS 24.008 §10.5.4.7)
            return number
    return ""


def parse_cpin(lines: Iterable[str]) -> str:
    """+CPIN: <code> (TS 27.007 §8.3) -> "READY", "SIM PIN", "SIM PUK", "NOT INSERTED"..."""
    for ln in _text_lines(lines):
        value = value_after(ln, "+CPIN")
        if value is not None:
            return value.strip('"').upper()
    return ""


def parse_creg(value: str, *, solicited: bool) -> int | None:
    """<stat> from "+CREG: <n>,<stat>[,...]" (an answer to +CREG?) or "+CREG: <stat>[,...]"
    (the URC enabled by +CREG=1/2), TS 27.007 §7.2."""
    fields = _fields(value)
    idx = 1 if solicited else 0
    if len(fields) <= idx:
        return None
    try:
        return int(fields[idx])
    except ValueError:
        return None


def parse_csq(value: str) -> tuple[int, int] | None:
    """"17,99" -> (17, 99); a lone number (Huawei ^RSSI: 17) -> (17, 99)."""
    fields = _fields(value)
    try:
        rssi = int(fields[0])
        ber = int(fields[1]) if len(fields) > 1 and fields[1] else 99
    except (ValueError, IndexError):
        return None
    return rssi, ber


def parse_listing(lines: list[str], prefix: str) -> list[tuple[list[str], str]]:
    """+CMGR / +CMGL answers in PDU mode (TS 27.005 §3.4.2, §3.4.3): each header line
    "+CMGL: <index>,<stat>,[<alpha>],<length>" followed by its PDU line.
    Returns (header fields, pdu hex) pairs."""
    out: list[tuple[list[str], str]] = []
    clean = _text_lines(lines)
    i = 0
    while i < len(clean):
        value = value_after(clean[i], prefix)
        if value is not None and i + 1 < len(clean) and value_after(clean[i + 1], prefix) is None:
            out.append((_fields(value), clean[i + 1]))
            i += 2
            continue
        i += 1
    return out
