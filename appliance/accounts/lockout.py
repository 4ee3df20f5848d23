"""Lockout after failed logins, with exponential backoff, as pure functions of a clock.

Knows: the subjects a login counts against (the user's name and the client's address), when
a run of failures starts to lock, how long each lock lasts, and when a count is forgotten.
Must not know: storage (store.accounts keeps the counts), passwords, HTTP.

A subject's failures in a row are counted; once they reach the threshold (`lockout_after`
for a user, `address_lockout_after` for an address), each failure locks the subject for
`base * 2**(failures - threshold)` seconds, at most `max`. A success clears the user's count
and the address's. A count with no failure for `forget_after` seconds starts again. The
address's own lock stops a password-guessing sweep over many names; the user's lock stops a
slow guess of one user's password from many addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LockPolicy:
    user_threshold: int = 5
    address_threshold: int = 20
    base_seconds: float = 30.0
    max_seconds: float = 3600.0
    forget_after: float = 86400.0

    @classmethod
    def from_config(cls, config) -> LockPolicy:
        return cls(config.lockout_after, config.address_lockout_after,
                   config.lockout_base_seconds, config.lockout_max_seconds,
                   config.forget_failures_after)

    def threshold(self, subject: str) -> int:
        return self.address_threshold if subject.startswith("address:") else self.user_threshold


def user_subject(name: str) -> str:
    return f"user:{name.strip().casefold()[:100]}"


def address_subject(address: str) -> str:
    return f"address:{address[:100]}"


def lock_seconds(failures: int, threshold: int, base: float, cap: float) -> float:
    """How long the `failures`-th failure in a row locks for (0: not yet)."""
    if failures < threshold:
        return 0.0
    return min(cap, base * 2.0 ** min(failures - threshold, 60))


def after_failure(previous: tuple[int, datetime] | None, now: datetime, subject: str,
                  policy: LockPolicy) -> tuple[int, datetime | None]:
    """(failures in a row, locked until or None) after one more failure of `subject`.
    `previous` is its stored (failures, last failure) or None."""
    failures = 1
    if previous is not None:
        count, last = previous
        if (now - last).total_seconds() < policy.forget_after:
            failures = count + 1
    seconds = lock_seconds(failures, policy.threshold(subject), policy.base_seconds,
                           policy.max_seconds)
    return failures, (now + timedelta(seconds=seconds)) if seconds else None


def retry_after(locked_until: datetime | None, now: datetime) -> int:
    """Whole seconds until a lock ends (0: not locked)."""
    if locked_until is None or locked_until <= now:
        return 0
    return max(1, int((locked_until - now).total_seconds() + 0.999))
