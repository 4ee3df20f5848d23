"""A SIM's health: whether it may send now, how much it is trusted, and whether it looks barred.

Knows: how a success, a classified failure (cms_errors.ErrorClass), an unanswered send or a
registration change moves a SIM's score, its rest, and the evidence that the operator has barred
it (several barring-type refusals, or a run of "network out of order"/"congestion" that other SIMs
do not see, within an hour; or a denied registration).
Must not know: modems, the database or the clock. Every function takes `now` and returns a new
SimHealth; the caller stores it. The settings come in a HealthPolicy (from config), defaulted.

A bad SIM from a bad moment: one transient error is a bad moment, and the part is better retried
at once on another SIM (the dispatcher's job) than the SIM rested. Only a run of
`rest_after_failures` failures in a row rests it: `rest_base` for the first, doubling with each
further failure up to `rest_max`. One success ends the run and the rest. A SIM problem (no SIM,
PIN, SIM busy/failure) is no moment: it rests `sim_problem_rest` at once.

An unanswered +CMGS (the part is ambiguous) is neither: the modem may be hung, or the network
slow. The dispatcher checks the modem with a probe (does it answer AT again?) and goes on; health
only counts silences in a row, and rests the SIM after `rest_after_silences` of them, with the
same backoff. A success ends that run too.

A PERMANENT error is the recipient's or the message's fault and leaves the SIM untouched: a bad
number must not rest a good SIM.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from appliance.dispatch.cms_errors import ErrorClass

SIM_PROBLEM_REST = timedelta(minutes=30)
"""The rest after a SIM problem, unless the pool sees the SIM register again before."""
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
class HealthPolicy:
    """When a SIM rests, and for how long (config: dispatch.rest_*)."""

    rest_after_failures: int = 3
    """Failures in a row (transient, barring-type) before the SIM rests."""
    rest_after_silences: int = 2
    """Unanswered +CMGS in a row before the SIM rests (one is checked by a probe, not rested)."""
    rest_base: timedelta = timedelta(seconds=5)
    """The first rest; each further failure (or silence) in the run doubles it."""
    rest_max: timedelta = timedelta(minutes=5)
    """No rest for failures or silences is longer."""
    sim_problem_rest: timedelta = SIM_PROBLEM_REST

    def __post_init__(self) -> None:
        if self.rest_after_failures < 1 or self.rest_after_silences < 1:
            raise ValueError("rest_after_failures and rest_after_silences must be >= 1")
        if not timedelta(0) < self.rest_base <= self.rest_max:
            raise ValueError(f"need 0 < rest_base <= rest_max, got {self.rest_base} and "
                             f"{self.rest_max}")

    @classmethod
    def from_config(cls, dispatch: object) -> HealthPolicy:
        """From a config.DispatchConfig (its rest_* keys)."""
        return cls(
            rest_after_failures=dispatch.rest_after_failures,  # type: ignore[attr-defined]
            rest_after_silences=dispatch.rest_after_silences,  # type: ignore[attr-defined]
            rest_base=timedelta(seconds=dispatch.rest_base_seconds),  # type: ignore[attr-defined]
            rest_max=timedelta(seconds=dispatch.rest_max_seconds),  # type: ignore[attr-defined]
        )


DEFAULT_POLICY = HealthPolicy()


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
    consecutive_silences: int = 0
    """Unanswered +CMGS in a row (after_silence); cleared by a success."""


def rest_for(consecutive: int, policy: HealthPolicy = DEFAULT_POLICY, *,
             threshold: int | None = None) -> timedelta:
    """The rest after `consecutive` failures in a row: none below `threshold` (default
    policy.rest_after_failures), then rest_base doubling per further one, at most rest_max."""
    threshold = policy.rest_after_failures if threshold is None else threshold
    if consecutive < threshold:
        return timedelta(0)
    # Cap the exponent first so a SIM failing for days does not build a huge integer.
    exponent = min(consecutive - threshold, 32)
    return min(policy.rest_base * (2**exponent), policy.rest_max)


def _rest_until(current: datetime | None, now: datetime, rest: timedelta) -> datetime | None:
    """A new rest never shortens one already running (a SIM problem's long rest, say)."""
    if rest <= timedelta(0):
        return current
    until = now + rest
    return until if current is None or until > current else current


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
        consecutive_silences=0,
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
                  now: datetime, *, policy: HealthPolicy = DEFAULT_POLICY) -> SimHealth:
    """A send through this SIM failed with `error_class` (`code` is the +CMS code, if any). It
    rests only from the policy's rest_after_failures-th failure in a row (a SIM problem: at
    once, for sim_problem_rest)."""
    if error_class is ErrorClass.PERMANENT:
        return h
    failures = h.consecutive_failures + 1
    # A missing or locked SIM will not fix itself in seconds: rest it the longest, until the pool
    # sees it change (after_registration_change) or the rest runs out.
    rest = (policy.sim_problem_rest if error_class is ErrorClass.SIM_PROBLEM
            else rest_for(failures, policy))
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
        rest_until=_rest_until(h.rest_until, now, rest),
        barred=barred,
        barred_reason=reason,
        recent_barring_errors=evidence,
    )


def after_silence(h: SimHealth, now: datetime, *,
                  policy: HealthPolicy = DEFAULT_POLICY) -> SimHealth:
    """A +CMGS through this SIM got no answer within its timeout (the part is ambiguous).

    One silence does not rest the SIM: the dispatcher probes the modem and, if it answers, goes
    on sending. From the policy's rest_after_silences-th silence in a row the SIM rests, with the
    failures' backoff. The run of failures is left as it is (a silence is not a refusal), and a
    silence is no barring evidence.
    """
    silences = h.consecutive_silences + 1
    rest = rest_for(silences, policy, threshold=policy.rest_after_silences)
    return dataclasses.replace(
        h,
        score=max(0.0, h.score * (1.0 - SCORE_STEP)),
        consecutive_silences=silences,
        rest_until=_rest_until(h.rest_until, now, rest),
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
        consecutive_silences=0,
        rest_until=None,
    )


def clear_barring(h: SimHealth) -> SimHealth:
    """A person says the SIM is fine again (topped up, unblocked by the operator)."""
    return dataclasses.replace(h, barred=False, barred_reason="", recent_barring_errors=(),
                               consecutive_failures=0, consecutive_silences=0, rest_until=None)


def to_dict(h: SimHealth) -> dict[str, object]:
    """For keeping health across restarts."""
    return {
        "score": h.score,
        "consecutive_failures": h.consecutive_failures,
        "consecutive_silences": h.consecutive_silences,
        "rest_until": h.rest_until.isoformat() if h.rest_until else None,
        "barred": h.barred,
        "barred_reason": h.barred_reason,
        "recent_barring_errors": [
            {"at": e.at.isoformat(), "code": e.code, "weight": e.weight}
            for e in h.recent_barring_errors],
        "registered": h.registered,
    }


def from_dict(data: dict) -> SimHealth:
    """Inverse of to_dict. Also reads what older versions stored (no consecutive_silences); a
    missing key takes its default, and a score outside 0..1 is brought back into it."""
    rest = data.get("rest_until")
    score = float(data.get("score", 1.0))
    return SimHealth(
        score=min(1.0, max(0.0, score)) if math.isfinite(score) else 1.0,
        consecutive_failures=int(data.get("consecutive_failures", 0)),
        consecutive_silences=int(data.get("consecutive_silences", 0)),
        rest_until=datetime.fromisoformat(rest) if rest else None,
        barred=bool(data.get("barred", False)),
        barred_reason=str(data.get("barred_reason", "")),
        recent_barring_errors=tuple(
            BarringEvidence(datetime.fromisoformat(e["at"]), e.get("code"), int(e["weight"]))
            for e in data.get("recent_barring_errors", [])),
        registered=bool(data.get("registered", True)),
    )


__all__ = [
    "BARRING_THRESHOLD", "BARRING_WINDOW", "CONGESTION_CODES", "DEFAULT_POLICY",
    "SIM_PROBLEM_REST",
    "BarringEvidence", "HealthPolicy", "SimHealth",
    "after_failure", "after_registration_change", "after_silence", "after_success",
    "clear_barring", "from_dict", "is_available", "rest_for", "to_dict",
]
