"""A SIM's health: whether it may send now, how much it is trusted, and whether it looks barred.

Knows: how a success, a classified failure (cms_errors.ErrorClass) or a registration change moves a
SIM's score, its rest (bounded exponential backoff), and the evidence that the operator has barred
it (several barring-type refusals, or a run of "network out of order"/"congestion" that other SIMs
do not see, within an hour; or a denied registration).
Must not know: modems, the database or the clock. Every function takes `now` and returns a new
SimHealth; the caller stores it.

A PERMANENT error is the recipient's or the message's fault and leaves the SIM untouched: a bad
number must not rest a good SIM.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from appliance.dispatch.cms_errors import ErrorClass

BASE_REST = timedelta(seconds=30)
MAX_REST = timedelta(minutes=30)
"""Rest after n consecutive failures: BASE_REST * 2**(n-1), never more than MAX_REST."""
SCORE_STEP = 0.2
"""How far one outcome moves the score toward 1 (success) or 0 (failure)."""
BARRING_WINDOW = timedelta(hours=1)
BARRING_THRESHOLD = 6
"""Weight of barring evidence within BARRING_WINDOW that marks a SIM barred."""
BARRING_WEIGHT = {ErrorClass.BARRING_SUSPECT: 2}
"""Three barring-type refusals (+CMS 8, 10, 21, 29, 50, 69…) within an hour bar a SIM."""
CONGESTION_CODES = frozenset({38, 42})
"""+CMS 38 (network out of order) and 42 (congestion) are how Chinese operators often refuse a
SIM they have quietly restricted. Alone each is transient; six in a row within an hour, with no
success in between, count as barring (weight 1 each)."""


@dataclass(frozen=True)
class BarringEvidence:
    at: datetime
    code: int | None
    weight: int


@dataclass(frozen=True)
class SimHealth:
    score: float = 1.0
    """0..1, moved toward 1 by successes and toward 0 by failures the SIM is to blame for."""
    consecutive_failures: int = 0
    rest_until: datetime | None = None
    barred: bool = False
    barred_reason: str = ""
    recent_barring_errors: tuple[BarringEvidence, ...] = field(default=())
    """Barring evidence within the last BARRING_WINDOW; cleared by a success."""
    registered: bool = True


def rest_for(consecutive_failures: int) -> timedelta:
    """The rest after `consecutive_failures` failures in a row (0 → none)."""
    if consecutive_failures <= 0:
        return timedelta(0)
    # Cap the exponent first so a SIM failing for days does not build a huge integer.
    exponent = min(consecutive_failures - 1, 16)
    return min(BASE_REST * (2**exponent), MAX_REST)


def is_available(h: SimHealth, now: datetime) -> bool:
    """May this SIM be given a message now?"""
    if h.barred or not h.registered:
        return False
    return h.rest_until is None or now >= h.rest_until


def after_success(h: SimHealth, now: datetime) -> SimHealth:
    """A part went out: the run of failures and the barring evidence end (a barred SIM that can
    send is not barred; this happens when a technician tries it by hand)."""
    return dataclasses.replace(
        h,
        score=min(1.0, h.score + SCORE_STEP * (1.0 - h.score)),
        consecutive_failures=0,
        rest_until=None,
        barred=False,
        barred_reason="",
        recent_barring_errors=(),
    )


def _evidence_weight(error_class: ErrorClass, code: int | None) -> int:
    if error_class in BARRING_WEIGHT:
        return BARRING_WEIGHT[error_class]
    if error_class is ErrorClass.TRANSIENT and code in CONGESTION_CODES:
        return 1
    return 0


def after_failure(h: SimHealth, error_class: ErrorClass, code: int | None,
                  now: datetime) -> SimHealth:
    """A send through this SIM failed with `error_class` (`code` is the +CMS code, if any)."""
    if error_class is ErrorClass.PERMANENT:
        return h
    failures = h.consecutive_failures + 1
    # A missing or locked SIM will not fix itself in seconds: rest it the longest, until the pool
    # sees it change (after_registration_change) or the rest runs out.
    rest = MAX_REST if error_class is ErrorClass.SIM_PROBLEM else rest_for(failures)
    evidence = tuple(e for e in h.recent_barring_errors if now - e.at < BARRING_WINDOW)
    weight = _evidence_weight(error_class, code)
    if weight:
        evidence += (BarringEvidence(now, code, weight),)
    barred, reason = h.barred, h.barred_reason
    total = sum(e.weight for e in evidence)
    if not barred and total >= BARRING_THRESHOLD:
        codes = ", ".join(str(e.code) for e in evidence if e.code is not None)
        barred = True
        reason = f"the operator appears to have barred this SIM ({len(evidence)} refusals " \
                 f"within an hour: +CMS ERROR {codes})"
    return dataclasses.replace(
        h,
        score=max(0.0, h.score * (1.0 - SCORE_STEP)),
        consecutive_failures=failures,
        rest_until=now + rest,
        barred=barred,
        barred_reason=reason,
        recent_barring_errors=evidence,
    )


REGISTRATION_DENIED_REASON = "the network denied this SIM's registration"


def after_registration_change(h: SimHealth, registered: bool, now: datetime, *,
                              denied: bool = False) -> SimHealth:
    """The modem's registration changed (+CREG/+CEREG). `denied` is the "registration denied"
    state (stat 3), which is how an operator's barring of a SIM shows; a plain loss (searching,
    no signal) only makes the SIM unavailable until it registers again."""
    if not registered:
        if denied:
            return dataclasses.replace(h, registered=False, barred=True,
                                       barred_reason=REGISTRATION_DENIED_REASON)
        return dataclasses.replace(h, registered=False)
    # Registered again: the denial is over, and any rest for a SIM problem ends (the SIM answered).
    # Barring inferred from send errors stays: registering does not prove the SIM may send SMS.
    unbarred = h.barred and h.barred_reason == REGISTRATION_DENIED_REASON
    return dataclasses.replace(
        h,
        registered=True,
        barred=False if unbarred else h.barred,
        barred_reason="" if unbarred else h.barred_reason,
        consecutive_failures=0,
        rest_until=None,
    )


def clear_barring(h: SimHealth) -> SimHealth:
    """A person says the SIM is fine again (topped up, unblocked by the operator)."""
    return dataclasses.replace(h, barred=False, barred_reason="", recent_barring_errors=(),
                               consecutive_failures=0, rest_until=None)


def to_dict(h: SimHealth) -> dict[str, object]:
    """For keeping health across restarts."""
    return {
        "score": h.score,
        "consecutive_failures": h.consecutive_failures,
        "rest_until": h.rest_until.isoformat() if h.rest_until else None,
        "barred": h.barred,
        "barred_reason": h.barred_reason,
        "recent_barring_errors": [
            {"at": e.at.isoformat(), "code": e.code, "weight": e.weight}
            for e in h.recent_barring_errors],
        "registered": h.registered,
    }


def from_dict(data: dict) -> SimHealth:
    rest = data.get("rest_until")
    return SimHealth(
        score=float(data.get("score", 1.0)),
        consecutive_failures=int(data.get("consecutive_failures", 0)),
        rest_until=datetime.fromisoformat(rest) if rest else None,
        barred=bool(data.get("barred", False)),
        barred_reason=str(data.get("barred_reason", "")),
        recent_barring_errors=tuple(
            BarringEvidence(datetime.fromisoformat(e["at"]), e.get("code"), int(e["weight"]))
            for e in data.get("recent_barring_errors", [])),
        registered=bool(data.get("registered", True)),
    )


__all__ = [
    "BARRING_THRESHOLD", "BARRING_WINDOW", "BASE_REST", "CONGESTION_CODES", "MAX_REST",
    "BarringEvidence", "SimHealth",
    "after_failure", "after_registration_change", "after_success", "clear_barring",
    "from_dict", "is_available", "rest_for", "to_dict",
]
