"""appliance.wire_values: whole numbers and times as parameters carry them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appliance.wire_values import OutOfRange, utc_time, whole_number


@pytest.mark.parametrize("raw", ["", "-1", "1e3", "²", "１２", " 1", "9" * 20, "1.0"])
def test_what_is_not_a_whole_number(raw: str) -> None:
    with pytest.raises(ValueError) as err:
        whole_number(raw, 0, 10**18)
    assert not isinstance(err.value, OutOfRange)


def test_whole_numbers_and_their_range() -> None:
    assert whole_number("0", 0, 5) == 0 and whole_number("05", 0, 5) == 5
    with pytest.raises(OutOfRange):
        whole_number(str(2**63), 1, 2**63 - 1)


def test_times_are_read_in_utc() -> None:
    assert utc_time("2026-12-02T08:00:00+08:00") == datetime(2026, 12, 2, tzinfo=UTC)
    assert utc_time("2026-12-02T00:00:00Z") == datetime(2026, 12, 2, tzinfo=UTC)
    assert utc_time("2026-12-02") == datetime(2026, 12, 2, tzinfo=UTC)  # no offset: UTC
    for raw in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00"):
        with pytest.raises(OutOfRange):
            utc_time(raw)
    for raw in ("now", "2026-13-01", "2026-02-30"):
        with pytest.raises(ValueError) as err:
            utc_time(raw)
        assert not isinstance(err.value, OutOfRange)
