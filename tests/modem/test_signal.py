"""+CSQ rssi to dBm (TS 27.007 §8.5) and to bars."""

import pytest

from appliance.modem.signal import Signal, csq_to_dbm, dbm_to_bars


@pytest.mark.parametrize(
    ("rssi", "dbm"),
    [(0, -113), (1, -111), (2, -109), (10, -93), (17, -79), (30, -53), (31, -51),
     (99, None), (32, None), (-1, None)],
)
def test_csq_to_dbm_follows_ts_27_007(rssi: int, dbm: int | None) -> None:
    assert csq_to_dbm(rssi) == dbm


def test_every_step_between_2_and_30_is_two_db() -> None:
    values = [csq_to_dbm(r) for r in range(2, 31)]
    assert values == list(range(-109, -52, 2))


@pytest.mark.parametrize(
    ("dbm", "bars"),
    [(None, 0), (-113, 0), (-107, 0), (-105, 1), (-97, 1), (-95, 2), (-87, 2), (-85, 3),
     (-77, 3), (-75, 4), (-67, 4), (-65, 5), (-51, 5)],
)
def test_dbm_to_bars_thresholds(dbm: int | None, bars: int) -> None:
    assert dbm_to_bars(dbm) == bars


def test_signal_reading_derives_dbm_and_bars() -> None:
    s = Signal(rssi=20, ber=99)
    assert (s.dbm, s.bars, s.known) == (-73, 4, True)
    assert Signal().known is False and Signal().bars == 0
