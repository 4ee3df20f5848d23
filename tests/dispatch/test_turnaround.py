"""The +CMGS timeout each SIM earns from its own recent answers; pure, fed from tables."""

from __future__ import annotations

import random

import pytest

from appliance.dispatch.turnaround import TurnaroundTracker


def tracker(samples: list[float], size: int = 200) -> TurnaroundTracker:
    t = TurnaroundTracker(size)
    for s in samples:
        t.record(s)
    return t


# (answers so far, floor, ceiling, factor, expected timeout): defaults floor 5, ceiling 60, 3x.
TIMEOUTS = [
    ("no answer yet: factor x floor, not the ceiling", [], 5, 60, 3, 15),
    ("a fast first answer is not trusted yet", [0.1], 5, 60, 3, 15),
    ("four fast answers: still the cold start", [0.1] * 4, 5, 60, 3, 15),
    ("five fast answers: the floor", [0.1] * 5, 5, 60, 3, 5),
    ("a slow first answer raises it at once", [8.0], 5, 60, 3, 24),
    ("a slow network: 3 x 3.2 s", [3.0, 3.1, 3.2, 2.9, 3.0, 3.1], 5, 60, 3, pytest.approx(9.6)),
    ("never above the ceiling", [30.0] * 10, 5, 60, 3, 60),
    ("a lower ceiling wins over the floor", [0.1] * 10, 5, 2, 3, 2),
    ("cold start under a low ceiling", [], 5, 10, 3, 10),
    ("the factor is the config's", [1.0] * 10, 2, 60, 4, 4),
    ("one slow answer among 50 is the p99", [0.2] * 49 + [4.0], 5, 60, 3, 12),
    ("of 100, the slowest is ignored", [0.2] * 98 + [4.0, 9.0], 5, 60, 3, 12),
    ("two slow among 200 are ignored, the third is not", [0.2] * 197 + [4.0, 9.0, 20.0], 5, 60,
     3, 12),
    ("two slow among 200 are ignored", [0.2] * 198 + [9.0, 20.0], 0.5, 60, 3,
     pytest.approx(0.6)),
]


@pytest.mark.parametrize(("samples", "floor", "ceiling", "factor", "expected"),
                         [r[1:] for r in TIMEOUTS], ids=[r[0] for r in TIMEOUTS])
def test_timeout(samples: list[float], floor: float, ceiling: float, factor: float,
                 expected: float) -> None:
    assert tracker(samples).timeout(floor, ceiling, factor) == expected


# (answers, expected nearest-rank p99)
P99 = [
    ([], None),
    ([1.0], 1.0),
    ([3.0, 1.0, 2.0], 3.0),
    ([float(i) for i in range(1, 100)], 99.0),
    ([float(i) for i in range(1, 101)], 99.0),
    ([float(i) for i in range(1, 201)], 198.0),
]


@pytest.mark.parametrize(("samples", "expected"), P99)
def test_p99_nearest_rank(samples: list[float], expected: float | None) -> None:
    shuffled = list(samples)
    random.Random(4).shuffle(shuffled)
    assert tracker(shuffled).p99() == expected


def test_the_ring_forgets_old_answers() -> None:
    t = tracker([20.0] * 10 + [0.3] * 200)  # a congested hour, long past
    assert len(t) == 200
    assert t.p99() == 0.3
    assert t.timeout(5, 60) == 5


def test_a_late_answer_fed_in_lengthens_the_next_timeout() -> None:
    t = tracker([0.2] * 20)
    assert t.timeout(5, 60) == 5
    t.record(7.5)  # the answer that came after its 5 s timeout: the network got slower
    assert t.timeout(5, 60) == 22.5


def test_p99_follows_each_new_answer() -> None:
    t = tracker([1.0] * 10)
    assert t.p99() == 1.0
    t.record(2.0)
    assert t.p99() == 2.0


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_a_turnaround_that_cannot_be_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="turnaround"):
        TurnaroundTracker().record(bad)


@pytest.mark.parametrize(("floor", "ceiling", "factor"), [(0, 60, 3), (5, 0, 3), (5, 60, 0.5),
                                                          (float("nan"), 60, 3)])
def test_bad_bounds_are_refused(floor: float, ceiling: float, factor: float) -> None:
    with pytest.raises(ValueError):
        TurnaroundTracker().timeout(floor, ceiling, factor)


@pytest.mark.parametrize(("size", "min_samples"), [(0, 1), (10, 0), (3, 5)])
def test_a_ring_that_cannot_work_is_refused(size: int, min_samples: int) -> None:
    with pytest.raises(ValueError):
        TurnaroundTracker(size, min_samples=min_samples)
