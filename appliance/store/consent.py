"""Marketing consent's persistence: one row per number (granted / withdrawn), with its source
and date; no row is "unknown".

Knows: the ContactConsent table and the states and sources a row may have.
Must not know: how numbers are normalised (callers pass the stored form, as for contacts and
the blacklist), when consent is required (`policy.consent`), HTTP, the event loop.
Synchronous: runs inside `Store.write` / `Store.read`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from peewee import EXCLUDED

from appliance.store.db import utcnow
from appliance.store.models import ContactConsent

STATES = ("granted", "withdrawn", "unknown")
SOURCES = ("imported", "reply", "staff")
"""imported: came with an imported list; reply: the number replied 订阅/START (granted) or
退订/TD/STOP (withdrawn); staff: a user entered it."""


def _view(row: ContactConsent) -> dict[str, Any]:
    return {"state": row.state, "source": row.source, "detail": row.detail, "at": row.at}


def record(number: str, state: str, source: str, detail: str = "",
           at: datetime | None = None) -> None:
    """`number`'s consent from now on; "unknown" forgets what was on file."""
    if state not in STATES:
        raise ValueError(f'unknown consent state "{state}" (one of {", ".join(STATES)})')
    if source not in SOURCES:
        raise ValueError(f'unknown consent source "{source}" (one of {", ".join(SOURCES)})')
    if state == "unknown":
        ContactConsent.delete().where(ContactConsent.number == number).execute()
        return
    at = at or utcnow()
    (ContactConsent.insert(number=number, state=state, source=source, detail=detail, at=at)
     .on_conflict(conflict_target=[ContactConsent.number],
                  update={ContactConsent.state: state, ContactConsent.source: source,
                          ContactConsent.detail: detail, ContactConsent.at: at})
     .execute())


def record_many(numbers: Iterable[str], state: str, source: str, detail: str = "",
                at: datetime | None = None) -> None:
    at = at or utcnow()
    for number in dict.fromkeys(numbers):
        record(number, state, source, detail, at)


def record_states(states: Mapping[str, str], source: str, detail: str = "",
                  at: datetime | None = None) -> None:
    """Many numbers' consent at once ({number: state}: an import brings one per row), in a
    few statements instead of one per number; "unknown" forgets what was on file."""
    if source not in SOURCES:
        raise ValueError(f'unknown consent source "{source}" (one of {", ".join(SOURCES)})')
    for state in set(states.values()):
        if state not in STATES:
            raise ValueError(f'unknown consent state "{state}" (one of {", ".join(STATES)})')
    at = at or utcnow()
    forget = [n for n, s in states.items() if s == "unknown"]
    rows = [(n, s, source, detail, at) for n, s in states.items() if s != "unknown"]
    for i in range(0, len(forget), 500):
        ContactConsent.delete().where(ContactConsent.number.in_(forget[i:i + 500])).execute()
    for i in range(0, len(rows), 100):  # 5 parameters a row: under SQLite's bound
        (ContactConsent.insert_many(rows[i:i + 100], fields=[
            ContactConsent.number, ContactConsent.state, ContactConsent.source,
            ContactConsent.detail, ContactConsent.at])
         .on_conflict(conflict_target=[ContactConsent.number],
                      update={ContactConsent.state: EXCLUDED.state,
                              ContactConsent.source: EXCLUDED.source,
                              ContactConsent.detail: EXCLUDED.detail,
                              ContactConsent.at: EXCLUDED.at})
         .execute())


def of_numbers(numbers: Iterable[str]) -> dict[str, dict[str, Any]]:
    """{number: {"state", "source", "detail", "at"}} for those of `numbers` on file (in
    chunks: SQLite bounds the parameters of one statement)."""
    numbers = list(set(numbers))
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(numbers), 500):
        chunk = numbers[i:i + 500]
        for row in ContactConsent.select().where(ContactConsent.number.in_(chunk)):
            out[row.number] = _view(row)
    return out


__all__ = ["SOURCES", "STATES", "of_numbers", "record", "record_many", "record_states"]
