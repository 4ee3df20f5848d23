"""Hex text in, a bounds-checked octet cursor out.

Knows: how a modem prints a PDU (hex, any case, surrounding whitespace) and how to read octets
without running off the end. Must not know: what the octets mean (no TS 23.040 field layout).
"""

from __future__ import annotations

import re

from .errors import PduError

_HEX = re.compile(r"[0-9A-Fa-f]*")


def hex_to_bytes(pdu: str) -> bytes:
    """Parse a PDU as printed by +CMGR/+CMGL/+CMT/+CDS; lower-case hex is accepted."""
    if not isinstance(pdu, str):
        raise PduError(f"PDU must be a hex string, got {type(pdu).__name__}")
    text = pdu.strip()
    if not text:
        raise PduError("empty PDU")
    if not _HEX.fullmatch(text):
        raise PduError("PDU contains non-hex characters")
    if len(text) % 2:
        # A dangling nibble means the line was cut or mangled; guessing would misread every field.
        raise PduError("PDU has an odd number of hex digits")
    return bytes.fromhex(text)


class Reader:
    """Sequential reads over a PDU's octets; running short raises PduError, never IndexError."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self.pos

    def octet(self, what: str) -> int:
        return self.take(1, what)[0]

    def take(self, count: int, what: str) -> bytes:
        if count < 0 or self.remaining < count:
            raise PduError(
                f"truncated PDU: {what} needs {count} octet(s) at offset {self.pos}, "
                f"{self.remaining} left"
            )
        chunk = self._data[self.pos : self.pos + count]
        self.pos += count
        return chunk
