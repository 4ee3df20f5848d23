"""The one exception the PDU codec raises.

Knows: nothing but the error type. Must not know: anything about modems or storage; callers
(the modem reader) catch `PduError`, quarantine the raw hex and carry on.
"""

from __future__ import annotations


class PduError(ValueError):
    """A PDU that cannot be decoded, or arguments that cannot be encoded into one.

    Every failure while decoding raises this (never IndexError, KeyError, UnicodeError...),
    so one `except PduError` is enough to keep a reader alive on a bad PDU.
    """
