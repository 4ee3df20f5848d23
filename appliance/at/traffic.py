"""The raw traffic log of one AT port: every line to and from the modem, timestamped.

Knows: a bounded ring of lines with their direction (">" to the modem, "<" from it), and how to
show control characters (Ctrl-Z, ESC) so a technician can read the log on a serial console
(as OctoPrint's serial.log and Kannel's per-connection log allow).
Must not know: the serial port, the parser, or what any line means.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

__all__ = ["TO_MODEM", "FROM_MODEM", "TrafficLine", "TrafficLog", "printable"]

TO_MODEM = ">"
FROM_MODEM = "<"

_NAMES = {0x1A: "<SUB>", 0x1B: "<ESC>", 0x00: "<NUL>"}


def printable(text: str) -> str:
    """`text` with CR, LF and other control characters spelled out (Ctrl-Z as <SUB>)."""
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

    @property
    def maxlen(self) -> int:
        return self._lines.maxlen or 0

    def record(self, direction: str, data: str) -> None:
        """Add one line; control characters are spelled out."""
        if direction not in (TO_MODEM, FROM_MODEM):
            raise ValueError(f"direction must be '>' or '<', not {direction!r}")
        self._lines.append(TrafficLine(time.time(), direction, printable(data)))

    def lines(self) -> list[TrafficLine]:
        return list(self._lines)

    def tail(self, n: int) -> list[TrafficLine]:
        if n <= 0:
            return []
        return list(self._lines)[-n:]

    def __len__(self) -> int:
        return len(self._lines)
