"""How long a SIM's +CMGS may stay unanswered: a timeout learnt from its own recent answers.

Knows: the recent +CMGS turnarounds of one SIM (seconds from the command to its answer), kept in
a bounded ring, their p99, and the rule that turns them into a timeout between a floor and a
ceiling (config: dispatch.send_timeout_floor, dispatch.send_timeout_factor, and
modems.send_timeout as the ceiling).
Must not know: asyncio, the clock, modems. The sender measures with its own monotonic clock and
feeds the seconds in; this module only counts.

Why: a flat 60 s timeout let one unanswered +CMGS hold its modem for a minute, and four of them
stopped a pool of four. A SIM whose answers come back in 0.1-0.3 s is not going to answer after
5 s either; a SIM on a slow network (answers in 3 s) must not be cut off at 1 s.

The rule: timeout = factor x reference, clamped to [floor, ceiling] (the ceiling wins where the
two cross), with

- reference = the p99 of the ring, once `min_samples` (5) answers are in it;
- before that, reference = max(the slowest answer seen, floor): the first sends of a SIM get at
  least factor x floor (15 s with the defaults), whatever their first answer said.

Arguing the cold start. With no answers yet there is nothing to learn from, and two ways to be
wrong: the ceiling (60 s) makes every silent first send cost a minute, and a fresh pool of SIMs
sends nothing else while it waits; the floor (5 s) cuts off a network that is slow today before
it has answered once. factor x floor sits between: three times the floor is more than a slow
network's usual 3 s by a margin of five, and a silent SIM costs 15 s, not 60. One or two quick
answers are not trusted to bring it down (a lucky 0.1 s answer says little about the tail), but
a slow one raises it at once (max seen); after five answers the p99 rules. And a timeout that
turns out too short is not a loss: the sender feeds a late answer in as well (its turnaround is
real), so the next timeout is long enough.

p99 is the nearest-rank quantile: with n samples, the ceil(0.99 n)-th smallest. Below 100 samples
that is the largest; at 100 the second largest; for the full 200-sample ring it ignores the two
slowest answers. It is found with
heapq.nlargest over the ring (O(n), n <= 200) once per new sample, not by sorting per send.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

DEFAULT_SIZE = 200
"""Answers kept per SIM: about the last hour of a busy SIM at the default caps."""
MIN_SAMPLES = 5
"""Answers needed before the p99 alone sets the timeout."""
DEFAULT_FACTOR = 3.0
QUANTILE = 0.99


class TurnaroundTracker:
    """The recent +CMGS turnarounds of one SIM, and the timeout they earn."""

    __slots__ = ("_max_seen", "_min_samples", "_p99", "_ring")

    def __init__(self, size: int = DEFAULT_SIZE, *, min_samples: int = MIN_SAMPLES) -> None:
        if size < 1 or not 1 <= min_samples <= size:
            raise ValueError(f"need size >= 1 and 1 <= min_samples <= size, got {size} and "
                             f"{min_samples}")
        self._ring: deque[float] = deque(maxlen=size)
        self._min_samples = min_samples
        self._max_seen = 0.0
        self._p99: float | None = None

    def record(self, seconds: float) -> None:
        """An answer came `seconds` after its +CMGS (a late one, after its timeout, too)."""
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"a turnaround must be a finite number >= 0, got {seconds}")
        self._ring.append(seconds)
        self._max_seen = max(self._max_seen, seconds)
        self._p99 = None  # found again when asked

    def __len__(self) -> int:
        return len(self._ring)

    def p99(self) -> float | None:
        """The nearest-rank p99 of the ring; None before any answer."""
        if not self._ring:
            return None
        if self._p99 is None:
            n = len(self._ring)
            from_top = n - math.ceil(QUANTILE * n) + 1  # 1 for n < 100, 3 for n = 200
            self._p99 = heapq.nlargest(from_top, self._ring)[-1]
        return self._p99

    def timeout(self, floor: float, ceiling: float, factor: float = DEFAULT_FACTOR) -> float:
        """Seconds the next +CMGS of this SIM may take before its part counts as unanswered."""
        if not (floor > 0 and ceiling > 0 and factor >= 1):
            raise ValueError(f"need floor > 0, ceiling > 0 and factor >= 1, got {floor}, "
                             f"{ceiling} and {factor}")
        if len(self._ring) >= self._min_samples:
            reference = self.p99() or 0.0
        else:
            reference = max(self._max_seen, floor)
        return min(ceiling, max(floor, factor * reference))


__all__ = ["DEFAULT_FACTOR", "DEFAULT_SIZE", "MIN_SAMPLES", "QUANTILE", "TurnaroundTracker"]
