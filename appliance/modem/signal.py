"""Signal strength: the +CSQ rssi scale, dBm, and the 0-5 bars a technician reads.

Knows: 3GPP TS 27.007 §8.5 (+CSQ) and the thresholds chosen for bars.
Must not know: AT syntax or modems.
"""

from __future__ import annotations

from dataclasses import dataclass

RSSI_UNKNOWN = 99

# Bars from dBm, strongest first. A GSM/UMTS handset shows roughly these steps; for SMS what
# matters is the bottom: below -105 dBm (rssi < 4) sends start to fail or time out, and -113
# (rssi 0) is the floor of the scale, effectively no service.
BAR_THRESHOLDS: tuple[tuple[int, int], ...] = (
    (-65, 5),  # rssi >= 24: excellent
    (-75, 4),  # rssi >= 19: good
    (-85, 3),  # rssi >= 14: fair
    (-95, 2),  # rssi >= 9: weak, SMS still reliable
    (-105, 1),  # rssi >= 4: poor, expect retries
)


def csq_to_dbm(rssi: int) -> int | None:
    """TS 27.007 §8.5 <rssi>: 0 is -113 dBm or less, 1 is -111, 2..30 are -109..-53 in steps
    of 2, 31 is -51 or greater, 99 (or anything else) is not known or not detectable."""
    if 0 <= rssi <= 31:
        return -113 + 2 * rssi
    return None


def dbm_to_bars(dbm: int | None) -> int:
    """0-5 bars (see BAR_THRESHOLDS); unknown signal shows as 0."""
    if dbm is None:
        return 0
    for floor, bars in BAR_THRESHOLDS:
        if dbm >= floor:
            return bars
    return 0


@dataclass(frozen=True)
class Signal:
    """One reading: rssi/ber as the modem gave them, dBm and bars derived."""

    rssi: int = RSSI_UNKNOWN
    ber: int = RSSI_UNKNOWN  # <ber> 0-7 (RXQUAL, TS 45.008 §8.2.4), 99 unknown

    @property
    def dbm(self) -> int | None:
        return csq_to_dbm(self.rssi)

    @property
    def bars(self) -> int:
        return dbm_to_bars(self.dbm)

    @property
    def known(self) -> bool:
        return self.dbm is not None
