"""Time fields: TP-SCTS / TP-DT / absolute TP-VP, and the relative validity period.

Knows: TS 23.040 §9.2.3.11 (seven swapped-BCD octets, time zone in quarter hours with a sign
bit) and §9.2.3.12.1 (relative TP-VP octet ranges). Must not know: local policy for time
zones or clocks.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta, timezone

from .errors import PduError


def _bcd_pair(octet: int, what: str) -> int:
    # Semi-octet swapped: low nibble is the tens digit.
    tens, units = octet & 0x0F, octet >> 4
    if tens > 9 or units > 9:
        raise PduError(f"{what}: {octet:02X} is not a BCD pair")
    return tens * 10 + units


def _to_bcd_pair(value: int) -> int:
    return (value // 10) | ((value % 10) << 4)


def decode_timestamp(data: bytes, what: str = "timestamp") -> datetime:
    """Seven octets → a tz-aware datetime."""
    if len(data) != 7:
        raise PduError(f"{what}: needs 7 octets, got {len(data)}")
    yy, mo, dd, hh, mi, ss = (_bcd_pair(octet, what) for octet in data[:6])
    tz_octet = data[6]
    # Bit 3 of the (swapped) first semi-octet is the sign: §9.2.3.11 "Time Zone".
    negative = bool(tz_octet & 0x08)
    quarters = _bcd_pair(tz_octet & 0xF7, what)
    offset = timedelta(minutes=15 * quarters)
    # Two-digit year: same pivot as POSIX strptime %y (69-99 → 19xx), which the oracles use.
    year = 1900 + yy if yy >= 69 else 2000 + yy
    try:
        return datetime(year, mo, dd, hh, mi, ss, tzinfo=timezone(-offset if negative else offset))
    except ValueError as exc:
        raise PduError(f"{what}: {exc}") from None


def encode_timestamp(when: datetime) -> bytes:
    """A tz-aware datetime → seven octets; the offset must be whole quarter hours."""
    offset = when.utcoffset()
    if offset is None:
        raise PduError("timestamp must be timezone-aware (the SCTS carries a time zone)")
    minutes, rest = divmod(int(offset.total_seconds()), 60)
    if rest or minutes % 15 or abs(minutes) >= 24 * 60:
        raise PduError(f"time zone offset {offset} is not a whole number of quarter hours")
    quarters = abs(minutes) // 15
    tz_octet = _to_bcd_pair(quarters) | (0x08 if minutes < 0 else 0)
    fields = (when.year % 100, when.month, when.day, when.hour, when.minute, when.second)
    return bytes(_to_bcd_pair(v) for v in fields) + bytes((tz_octet,))


def decode_relative_validity(octet: int) -> timedelta:
    """TP-VP relative format, §9.2.3.12.1."""
    if octet <= 143:
        return timedelta(minutes=(octet + 1) * 5)
    if octet <= 167:
        return timedelta(hours=12, minutes=(octet - 143) * 30)
    if octet <= 196:
        return timedelta(days=octet - 166)
    return timedelta(weeks=octet - 192)


_PERIODS = tuple(decode_relative_validity(octet) for octet in range(256))  # ascending


def encode_relative_validity(validity: timedelta) -> int:
    """The smallest TP-VP whose period is at least `validity` (never expire earlier than asked)."""
    if validity <= timedelta(0):
        raise PduError(f"validity must be positive, got {validity}")
    if validity > timedelta(weeks=63):
        raise PduError(f"validity {validity} exceeds the 63-week maximum of relative TP-VP")
    # Every part of every message asks this: a binary search over the 256 periods.
    return bisect.bisect_left(_PERIODS, validity)
