"""The raw traffic log of one AT port: every line to and from the modem, timestamped.

Knows: a bounded ring of lines with their direction (">" to the modem, "<" from it), how to
show control characters (Ctrl-Z, ESC) so a technician can read the log on a serial console
(as OctoPrint's serial.log and Kannel's per-connection log allow), and which command arguments
are secrets (PIN, PUK, facility passwords) that must never be recorded: the log is shown to
technicians and in the web console. For the same reason message content never reaches the
ring: a PDU line (the hex written after the +CMGS prompt, the hex body of a +CMGR/+CMGL/+CMT/
+CDS answer) decodes to the message text, one-time codes included, so it is shown only as its
first octets (up to the destination address of an SMS-SUBMIT) and its length.
Must not know: the serial port, the parser, or what any other line means.

Followers (the technician console's `traffic <n>`, the web console's modem page) read the ring
with `follow()`: the last lines, then each new one. The ring counts every line it ever took, so
"what came after the n-th line" needs no comparison of line objects, and a follower that fell
behind by more than the ring simply gets the whole ring.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

__all__ = ["TO_MODEM", "FROM_MODEM", "TrafficLine", "TrafficLog", "follow", "mask_pdu",
           "printable", "redact"]

MASK = "****"

# Commands whose arguments carry secrets, and which argument positions (None: all of them).
# TS 27.007 §8.3 +CPIN=<pin>[,<newpin>] (PUK and new PIN when blocked); +CPIN2 (Sierra,
# Cinterion) and ^CPIN (Huawei) take the same; §7.4 +CLCK=<fac>,<mode>[,<passwd>[,<class>]];
# §7.5 +CPWD=<fac>,<oldpwd>,<newpwd>.
_SECRET_ARGS: dict[str, frozenset[int] | None] = {
    "+CPIN": None,
    "+CPIN2": None,
    "^CPIN": None,
    "+CLCK": frozenset({2}),
    "+CPWD": frozenset({1, 2}),
}
# A set command anywhere in the line (commands may be chained with ';', and an echo may be
# preceded by other bytes); its arguments run to the next ';' or the end of the line.
_SECRET_COMMAND = re.compile(r"([+^](?:CPIN2?|CLCK|CPWD))=(?!\?)([^;\r\n]*)", re.IGNORECASE)


def _mask_arguments(match: re.Match[str]) -> str:
    name, args = match.group(1), match.group(2)
    positions = _SECRET_ARGS[name.upper()]
    out: list[str] = []
    position, quoted, current = 0, False, ""

    def flush() -> None:
        nonlocal current
        secret = positions is None or position in positions
        if secret and current.strip():
            stripped = current.strip()
            current = f'"{MASK}"' if stripped.startswith('"') else MASK
        out.append(current)
        current = ""

    for char in args:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            flush()
            out.append(",")
            position += 1
            continue
        current += char
    flush()
    return f"{name}={''.join(out)}"


def redact(text: str) -> str:
    """`text` with the secret arguments of +CPIN/+CPIN2/^CPIN, +CLCK and +CPWD masked:
    'AT+CPIN="1234"' -> 'AT+CPIN="****"'. Other text is returned unchanged."""
    if "=" not in text:
        return text
    return _SECRET_COMMAND.sub(_mask_arguments, text)

# A PDU line, recognised by shape alone (this module must not parse SMS): hex only, perhaps
# after the "> " prompt on the same line and ending in Ctrl-Z (send) or ESC (cancel), TS 27.005
# §3.5.1. The first 24 hex characters are kept: for an SMS-SUBMIT without SMSC address that is
# SCA length, first octet, TP-MR and the whole destination address of an 11-digit number; for
# an SMS-DELIVER it is the SMSC address and the start of the originator. A line of at most 24
# hex characters hides nothing (and may be a bare ICCID answer): it is shown unchanged.
PDU_KEEP_HEX = 24
_PDU_LINE = re.compile(rf"(?P<lead>(?:> ?)?)(?P<hex>[0-9A-Fa-f]{{{PDU_KEEP_HEX + 1},}})"
                       r"(?P<end>[\x1a\x1b]?)\s*")


def mask_pdu(text: str) -> str:
    """`text` with the user data of a PDU line hidden: '0011000D91…<hex>\x1a' ->
    '0011000D9168…(42 octets)\x1a'. Other lines are returned unchanged."""
    match = _PDU_LINE.fullmatch(text)
    if match is None:
        return text
    hex_digits = match["hex"]
    octets = (len(hex_digits) + 1) // 2
    return f"{match['lead']}{hex_digits[:PDU_KEEP_HEX]}…({octets} octets){match['end']}"


TO_MODEM = ">"
FROM_MODEM = "<"

_NAMES = {0x1A: "<SUB>", 0x1B: "<ESC>", 0x00: "<NUL>"}


def printable(text: str) -> str:
    """`text` with CR, LF and other control characters spelled out (Ctrl-Z as <SUB>)."""
    if text.isprintable():
        return text  # the usual line (no C0 control, no DEL): no per-character work
    out = []
    for char in text:
        code = ord(char)
        if code in _NAMES:
            out.append(_NAMES[code])
        elif code < 0x20 or code == 0x7F:
            out.append(f"<{code:02X}>")
        else:
            out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class TrafficLine:
    at: float  # time.time() when recorded
    direction: str  # ">" to the modem, "<" from it
    text: str

    def format(self) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(self.at))
        return f"{stamp}.{int(self.at * 1000) % 1000:03d} {self.direction} {self.text}"


class TrafficLog:
    """A bounded ring of the last `maxlen` lines: old lines fall off, memory stays flat."""

    def __init__(self, maxlen: int = 500) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        self._lines: deque[TrafficLine] = deque(maxlen=maxlen)
        self._recorded = 0

    @property
    def recorded(self) -> int:
        """Lines recorded since the log was made (those fallen off the ring included)."""
        return self._recorded

    @property
    def maxlen(self) -> int:
        return self._lines.maxlen or 0

    def record(self, direction: str, data: str) -> None:
        """Add one line; PDU user data hidden, control characters spelled out and secrets
        masked (both ways: a modem with echo on repeats the PIN command and the PDU back)."""
        if direction not in (TO_MODEM, FROM_MODEM):
            raise ValueError(f"direction must be '>' or '<', not {direction!r}")
        self._lines.append(TrafficLine(time.time(), direction,
                                       redact(printable(mask_pdu(data)))))
        self._recorded += 1

    def since(self, recorded: int) -> list[TrafficLine]:
        """The lines recorded after the first `recorded` ones, as far as the ring still holds
        them (`recorded` as read from `self.recorded` earlier)."""
        new = self._recorded - recorded
        if new <= 0:
            return []
        if new >= len(self._lines):
            return list(self._lines)
        return list(self._lines)[-new:]

    def lines(self) -> list[TrafficLine]:
        return list(self._lines)

    def tail(self, n: int) -> list[TrafficLine]:
        if n <= 0:
            return []
        return list(self._lines)[-n:]

    def __len__(self) -> int:
        return len(self._lines)


async def follow(log: TrafficLog, backlog: int, *, poll: float = 0.2,
                 until: Callable[[], bool] = lambda: False,
                 idle: float | None = None) -> AsyncIterator[TrafficLine | None]:
    """The last `backlog` lines of `log`, then each new line as it is recorded, until `until()`
    holds (checked after each look at the ring) or the consumer stops iterating. With `idle`,
    None is yielded after that many seconds without a line (a stream's keep-alive). The ring
    is in memory: looking at it every `poll` seconds costs nothing worth an event."""
    seen = log.recorded - min(max(backlog, 0), len(log))
    quiet = 0.0
    while True:
        lines = log.since(seen)
        seen = log.recorded
        for line in lines:
            yield line
        if until():
            return
        quiet = 0.0 if lines else quiet + poll
        if idle is not None and quiet >= idle:
            quiet = 0.0
            yield None
        await asyncio.sleep(poll)
