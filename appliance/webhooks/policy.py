"""Retry policy for deliveries, as pure functions (the clock and the random source passed in).

Knows: which answers are final, how long to wait after n failures, when to give up.
Must not know: HTTP clients, the queue, the event loop.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

RETRYABLE_4XX = frozenset({408, 425, 429})


def classify(status: int | None) -> str:
    """"delivered", "retry" or "failed" for an HTTP status (None: no answer at all)."""
    if status is None:
        return "retry"
    if 200 <= status < 300:
        return "delivered"
    if status >= 500 or status in RETRYABLE_4XX:
        return "retry"
    return "failed"  # 1xx, 3xx (redirects not followed), other 4xx


def backoff(failures: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait after the `failures`-th failure in a row (1, 2, ...): base * 2^(n-1),
    at most `cap`, times a random factor in [0.5, 1) so retries of many rows spread out."""
    exponent = min(max(failures - 1, 0), 62)
    delay = min(cap, base * (2.0 ** exponent))
    return delay * (0.5 + rng.random() / 2)


def gives_up(attempts: int, created_at: datetime, now: datetime, *, max_attempts: int,
             max_age: float) -> bool:
    """Whether a delivery that just failed its `attempts`-th attempt fails for good."""
    if max_attempts and attempts >= max_attempts:
        return True
    return bool(max_age) and now - created_at >= timedelta(seconds=max_age)
