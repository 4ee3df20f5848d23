"""Whole numbers and times as request parameters carry them, read strictly.

Shared by the doors that read such parameters (the JSON API's query strings, the Android
gateway's listings), each of which words its own error: a ValueError here means "not one at
all", an OutOfRange "one, but not allowed".

Knows: what a whole number and an ISO 8601 time look like on the wire, and that times are
compared in UTC.
Must not know: HTTP, or any door's error shape.
"""

from __future__ import annotations

from datetime import UTC, datetime


class OutOfRange(ValueError):
    """A well-formed value outside what is allowed; its argument is the value read."""


def whole_number(raw: str, low: int, high: int) -> int:
    """`raw` as an int from `low` to `high`. ASCII digits only ("²".isdigit() is true, and
    int("²") raises) and at most 19 of them (int() of thousands of digits is refused, and no
    64-bit bound needs more)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise ValueError(raw)
    value = int(raw)
    if not low <= value <= high:
        raise OutOfRange(value)
    return value


def utc_time(raw: str) -> datetime:
    """An ISO 8601 time in UTC; one without an offset is taken as UTC (times are stored in
    UTC). OutOfRange when it has no UTC equivalent (9999-12-31T23:59-01:00)."""
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise ValueError(raw) from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise OutOfRange(raw) from None
