"""Kannel delivery reports (DLRs): which types a message's state change fires, and the dlr-url
with its escape codes filled in exactly as Kannel's `urltrans_fill_escape_codes` (gw/urltrans.c)
fills them. Pure functions, tested from tables.

Knows: Kannel's DLR types (gw/dlr.h), the reply texts its AT driver and bearerbox put in `%A`
("Success", "Failed", "Buffered" from a status report, "ACK/" and "NACK/" from the SMSC
connection), each escape code's formatting and URL encoding (`octstr_url_encode`: letters,
digits and `-_.!~*'()` kept, a space as `+`, every other byte as `%XX` in upper case).
Must not know: the store, HTTP clients, the hub.

Where a DLR's value comes from: Kannel's DLR message carries only what its DLR store kept
(receiver, sender, smsc, service, url, mask); we fill the original message's fields (`%c %m %C
%u %B %o %O %v %V`) from what the request asked for, formatted as Kannel formats those fields.
`%I` is our message id (Kannel prints its UUID), `%F` the TP-MR the modem gave the first part
(what Kannel's AT driver keeps as the foreign id), `%i` the SIM's label, or its ICCID when it
has none (the `smsc` a caller names), `%n` the API key's name (Kannel's sendsms-user name),
`%M` (MWI) and `%f` (SMSC number) are never set here, `%D` meta-data is empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

DELIVERED = 1  # DLR_SUCCESS: the handset has it (status report)
FAILED = 2  # DLR_FAIL: the network gave up (status report)
BUFFERED = 4  # DLR_BUFFERED: the SMSC keeps trying (temporary status report)
SUBMITTED = 8  # DLR_SMSC_SUCCESS: the network took it (our `sent`)
REJECTED = 16  # DLR_SMSC_FAIL: never taken by the network
TYPES = (DELIVERED, FAILED, BUFFERED, SUBMITTED, REJECTED)

REPLY_TEXT = {DELIVERED: "Success", FAILED: "Failed", BUFFERED: "Buffered",
              SUBMITTED: "ACK/", REJECTED: "NACK/"}

_SAFE = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_.!~*'()")
_HEXITS = "0123456789ABCDEF"


def due_types(mask: int, fired: int, state: str, was_sent: bool) -> list[int]:
    """The DLR types a message now in `state` owes its caller, in the order Kannel would send
    them, leaving out the types not in `mask` and those already `fired` (one callback per type
    and message, never per part). `was_sent`: a part reached the network (a later `failed` is
    then the network's FAILED, not REJECTED)."""
    if state == "sent":
        wanted = [SUBMITTED]
    elif state == "delivered":
        wanted = [SUBMITTED, DELIVERED]
    elif state == "failed":
        wanted = [SUBMITTED, FAILED] if was_sent else [REJECTED]
    elif state in ("expired", "cancelled"):
        wanted = [REJECTED]
    else:
        wanted = []
    return [t for t in wanted if mask & t and not fired & t]


def url_encode(value: str | bytes) -> str:
    """Kannel's octstr_url_encode (UTF-8 for text)."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    out = []
    for byte in data:
        if byte == 0x20:
            out.append("+")
        elif byte in _SAFE:
            out.append(chr(byte))
        else:
            out.append("%" + _HEXITS[byte >> 4] + _HEXITS[byte & 0xF])
    return "".join(out)


@dataclass(frozen=True)
class DlrValues:
    """What one callback says. None = the field is undefined in Kannel's sense."""

    type: int  # %d
    reply: str  # %A %a %b %k %s %S %r %e: the DLR's "message text"
    smsc_id: str  # %i
    message_id: int  # %I
    foreign_id: str  # %F
    receiver: str  # %p %q: the original recipient
    sender: str  # %P %Q: the original `from`
    time: datetime  # %t %T: when the report happened
    service: str = ""  # %n
    coding: int | None = None  # %c (0 GSM-7, 2 UCS2)
    mclass: int | None = None  # %m
    mwi: int | None = None  # %M
    charset: str = ""  # %C
    udh: bytes = b""  # %u
    binfo: str = ""  # %B
    account: str = ""  # %o
    smsc_number: str = ""  # %f
    validity_at: datetime | None = None  # %v: minutes left, as Kannel computes them
    deferred_at: datetime | None = None  # %V
    dlr_url: str = ""  # %R
    meta_data: str = ""  # %D


def _minutes_left(at: datetime, now: datetime) -> str:
    seconds = int(at.timestamp()) - int(now.timestamp())
    return str(int(seconds / 60))  # C's `long / 60` truncates toward zero


def _dcs(v: DlrValues) -> int:
    """fields_to_dcs(msg, alt_dcs undefined) for a non-MWI message."""
    coding = 0 if v.coding is None else v.coding
    dcs = 0
    if v.mclass is not None:
        dcs |= 0x10 | v.mclass
    return dcs | (coding << 2)


def _charset(v: DlrValues) -> str:
    if v.charset:
        return v.charset
    return {None: "UTF-8", 0: "UTF-8", 1: "8-BIT", 2: "UTF-16BE"}.get(v.coding, "")


def _plus_00(number: str) -> str:
    """%q/%Q: a number written with a leading 00 is shown as +..."""
    if number.startswith("00"):
        return "%2B" + url_encode(number[2:])
    return url_encode(number)


def render(pattern: str, v: DlrValues, now: datetime | None = None) -> str:
    """The dlr-url `pattern` with Kannel's escape codes replaced by `v`'s values. `now` is the
    clock %v/%V count from (the time the callback is made)."""
    now = now or datetime.now(UTC)
    words = v.reply.split()
    next_arg = 1
    out: list[str] = []
    pos, n = 0, len(pattern)
    while pos < n:
        c = pattern[pos]
        if c != "%" or pos + 1 >= n:
            out.append(c)
            pos += 1
            continue
        code = pattern[pos + 1]
        if code == "a":
            out.append("+".join(url_encode(w) for w in words))
        elif code in "Ab":
            out.append(url_encode(v.reply))
        elif code == "B":
            out.append(url_encode(v.binfo))
        elif code == "c":
            out.append(str(0 if v.coding is None else v.coding))
        elif code == "C":
            out.append(_charset(v))
        elif code == "d":
            out.append(url_encode(str(v.type)))
        elif code == "D":
            out.append(url_encode(v.meta_data))
        elif code == "e":
            out.append(v.reply.encode("utf-8").hex().upper())
        elif code == "f":
            out.append(url_encode(v.smsc_number))
        elif code == "F":
            out.append(url_encode(v.foreign_id))
        elif code == "i":
            out.append(url_encode(v.smsc_id))
        elif code == "I":
            out.append(str(v.message_id))
        elif code == "k":
            out.append(url_encode(words[0]) if words else "")
        elif code == "m":
            out.append(url_encode(str(-1 if v.mclass is None else v.mclass)))
        elif code == "M":
            out.append(url_encode(str(-1 if v.mwi is None else v.mwi)))
        elif code == "n":
            out.append(url_encode(v.service))
        elif code == "o":
            out.append(url_encode(v.account))
        elif code == "O":
            out.append(f"{_dcs(v):02d}")
        elif code == "p":
            out.append(url_encode(v.receiver))
        elif code == "P":
            out.append(url_encode(v.sender))
        elif code == "q":
            out.append(_plus_00(v.receiver))
        elif code == "Q":
            out.append(_plus_00(v.sender))
        elif code == "r":
            out.append("+".join(url_encode(w) for w in words[next_arg:]))
        elif code == "R":
            out.append(url_encode(v.dlr_url))
        elif code == "s":
            if next_arg < len(words):
                out.append(url_encode(words[next_arg]))
                next_arg += 1
        elif code == "S":
            if next_arg < len(words):
                out.append(words[next_arg].replace("*", "~"))
                next_arg += 1
        elif code == "t":
            out.append(v.time.astimezone(UTC).strftime("%Y-%m-%d+%H:%M:%S"))
        elif code == "T":
            out.append(str(int(v.time.timestamp())))
        elif code == "u":
            out.append(url_encode(v.udh))
        elif code == "v":
            if v.validity_at is not None:
                out.append(_minutes_left(v.validity_at, now))
        elif code == "V":
            if v.deferred_at is not None:
                out.append(_minutes_left(v.deferred_at, now))
        elif code == "#":
            # %#group#param#: a meta-data value; we keep no meta-data, so it renders empty.
            first = pattern.find("#", pos + 2)
            if first >= 0:
                second = pattern.find("#", first + 1)
                pos = second - 1 if second >= 0 else first + 2  # Kannel's own skip
        elif code == "%":
            out.append("%")
        else:
            out.append("%" + code)
        pos += 2
    return "".join(out)


__all__ = ["BUFFERED", "DELIVERED", "DlrValues", "FAILED", "REJECTED", "REPLY_TEXT",
           "SUBMITTED", "TYPES", "due_types", "render", "url_encode"]
