"""A rule's conditions: who sent the message, which SIM received it, and when.

Knows: the sender kinds (any / known / unknown / group), SIM lists, time windows and weekdays,
and how to read them from a rule's JSON. Must not know: storage, the clock (the local time of
arrival is given), matching, actions.

Time windows are local wall-clock times in `dispatch.timezone`, [from, to): "09:00"-"18:00" is
office hours; "22:00"-"08:00" crosses midnight. With weekdays, a window that crosses midnight
belongs to the day it starts on: Friday's 22:00-08:00 covers Saturday 03:00, not Friday 03:00
(the night of Friday, as anyone means it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

SENDERS = ("any", "known", "unknown", "group")
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_SIMS = 64
MAX_GROUPS = 100
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class ConditionError(ValueError):
    """A condition that cannot be used; `field` names it (conditions.time.from...)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Facts:
    """What conditions look at, about one received message."""

    sim: str  # ICCID that received it
    local_time: datetime  # arrival, in dispatch.timezone
    known: bool = False  # the number belongs to a contact
    group_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Conditions:
    senders: str = "any"
    groups: frozenset[int] = frozenset()  # for senders == "group": in any of them
    sims: frozenset[str] = frozenset()  # empty: any SIM
    start: time | None = None  # the window, [start, end); None: any time
    end: time | None = None
    weekdays: frozenset[int] = frozenset()  # 0 = Monday ... 6 = Sunday; empty: every day

    @property
    def needs_contact(self) -> bool:
        return self.senders != "any"

    def check(self, facts: Facts) -> str | None:
        """None when every condition holds, else the first that does not (said plainly)."""
        if self.senders == "known" and not facts.known:
            return "the sender is not a contact"
        if self.senders == "unknown" and facts.known:
            return "the sender is a contact"
        if self.senders == "group" and self.groups.isdisjoint(facts.group_ids):
            return "the sender is in none of the rule's groups"
        if self.sims and facts.sim not in self.sims:
            return f"received on SIM {facts.sim}, not one of the rule's SIMs"
        return self._check_when(facts.local_time)

    def _check_when(self, at: datetime) -> str | None:
        day = at.date()
        if self.start is not None and self.end is not None:
            now = at.time().replace(tzinfo=None)
            if self.start < self.end:
                inside = self.start <= now < self.end
            else:  # crosses midnight: the early hours belong to the night before
                inside = now >= self.start or now < self.end
                if inside and now < self.end:
                    day -= timedelta(days=1)
            if not inside:
                return f"{now:%H:%M} is outside {self.start:%H:%M}-{self.end:%H:%M}"
        if self.weekdays and day.weekday() not in self.weekdays:
            return f"{WEEKDAY_NAMES[day.weekday()]} is not one of the rule's weekdays"
        return None

    def describe(self) -> dict[str, Any]:
        """The JSON form (what `parse_conditions` reads back)."""
        out: dict[str, Any] = {"senders": self.senders}
        if self.senders == "group":
            out["groups"] = sorted(self.groups)
        if self.sims:
            out["sims"] = sorted(self.sims)
        if self.start is not None and self.end is not None:
            out["time"] = {"from": f"{self.start:%H:%M}", "to": f"{self.end:%H:%M}"}
        if self.weekdays:
            out["weekdays"] = [WEEKDAY_NAMES[d] for d in sorted(self.weekdays)]
        return out


def _parse_time(value: Any, field: str) -> time:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise ConditionError(field, f'must be a time "HH:MM" (00:00 to 23:59), got {value!r}')
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _parse_weekday(value: Any, field: str) -> int:
    if isinstance(value, str) and value.strip().lower()[:3] in WEEKDAY_NAMES:
        return WEEKDAY_NAMES.index(value.strip().lower()[:3])
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 7:
        return value - 1  # ISO 8601: 1 = Monday ... 7 = Sunday
    raise ConditionError(field, f'must be a weekday ("mon" ... "sun", or 1 = Monday ... '
                                f"7 = Sunday), got {value!r}")


def parse_conditions(data: Any) -> Conditions:
    """Conditions from a rule's JSON (None or {} means none); ConditionError names the field."""
    base = "conditions"
    if data is None:
        return Conditions()
    if not isinstance(data, dict):
        raise ConditionError(base, "must be an object")
    unknown = sorted(set(data) - {"senders", "groups", "sims", "time", "weekdays"})
    if unknown:
        raise ConditionError(f"{base}.{unknown[0]}", "unknown condition")
    senders = data.get("senders", "any")
    if senders not in SENDERS:
        raise ConditionError(f"{base}.senders", f"must be one of {', '.join(SENDERS)}, got "
                                                f"{senders!r}")
    groups: frozenset[int] = frozenset()
    raw_groups = data.get("groups")
    if senders == "group":
        if not isinstance(raw_groups, list) or not raw_groups or len(raw_groups) > MAX_GROUPS:
            raise ConditionError(f"{base}.groups", f'senders "group" needs a list of 1 to '
                                                   f"{MAX_GROUPS} group ids")
        for i, g in enumerate(raw_groups):
            if not isinstance(g, int) or isinstance(g, bool) or g <= 0:
                raise ConditionError(f"{base}.groups[{i}]", f"must be a group id, got {g!r}")
        groups = frozenset(raw_groups)
    elif raw_groups not in (None, []):
        raise ConditionError(f"{base}.groups", 'only with senders "group"')
    sims: frozenset[str] = frozenset()
    raw_sims = data.get("sims")
    if raw_sims is not None:
        if not isinstance(raw_sims, list) or len(raw_sims) > MAX_SIMS:
            raise ConditionError(f"{base}.sims", f"must be a list of at most {MAX_SIMS} ICCIDs")
        for i, s in enumerate(raw_sims):
            if not isinstance(s, str) or not re.fullmatch(r"[0-9A-Fa-f]{6,22}", s):
                raise ConditionError(f"{base}.sims[{i}]", f"must be an ICCID, got {s!r}")
        sims = frozenset(raw_sims)
    start = end = None
    window = data.get("time")
    if window is not None:
        if not isinstance(window, dict) or set(window) != {"from", "to"}:
            raise ConditionError(f"{base}.time", 'must be {"from": "HH:MM", "to": "HH:MM"}')
        start = _parse_time(window["from"], f"{base}.time.from")
        end = _parse_time(window["to"], f"{base}.time.to")
        if start == end:
            raise ConditionError(f"{base}.time", "from and to are the same time: an empty "
                                                 "window (leave time out for any time)")
    days: frozenset[int] = frozenset()
    raw_days = data.get("weekdays")
    if raw_days is not None:
        if not isinstance(raw_days, list) or not raw_days:
            raise ConditionError(f"{base}.weekdays", "must be a non-empty list of weekdays")
        days = frozenset(_parse_weekday(d, f"{base}.weekdays[{i}]")
                         for i, d in enumerate(raw_days))
    return Conditions(senders, groups, sims, start, end, days)


__all__ = ["ConditionError", "Conditions", "Facts", "SENDERS", "WEEKDAY_NAMES",
           "parse_conditions"]
