"""Bounded exponential backoff and "log a failure once, then 'recovered'" (Home Assistant's habit).

Knows: delays and log lines. Must not know: what is being retried.
"""

from __future__ import annotations

import logging
import random


class Backoff:
    """Delays growing from `first` to `cap` (with ±20% jitter), reset on success."""

    def __init__(self, first: float = 1.0, cap: float = 60.0, rng: random.Random | None = None):
        self.first = first
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        base = min(self.cap, self.first * (2 ** self.attempt))
        self.attempt += 1
        return base * self._rng.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.attempt = 0


class FailureNotice:
    """Logs the first failure of a run of failures, and one line when it recovers."""

    def __init__(self, logger: logging.Logger, what: str):
        self.logger = logger
        self.what = what
        self.failing = False
        self.failures = 0

    def failed(self, reason: str) -> None:
        self.failures += 1
        if not self.failing:
            self.failing = True
            self.logger.warning("%s: %s", self.what, reason)
        else:
            self.logger.debug("%s still failing (%d): %s", self.what, self.failures, reason)

    def recovered(self) -> None:
        if self.failing:
            self.logger.warning("%s: recovered after %d failure(s)", self.what, self.failures)
        self.failing = False
        self.failures = 0
