"""Imported recipient tables held between the upload (preview and validation report) and the
send the user confirms: nothing is sent from an upload until then.

Knows: that an upload belongs to the user who made it, lives at most TTL, and that the box
keeps at most MAX_HELD of them (the oldest goes first): a draft, not data (a restart loses it;
the user uploads again).
Must not know: HTTP, how a table is read (contacts.tabular), storage.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from appliance.compose.recipients import Candidate, candidates_from_table, guess_columns
from appliance.contacts.tabular import Table

TTL = 3600.0
MAX_HELD = 20


@dataclass
class Held:
    user_id: int
    filename: str
    table: Table
    number_col: int | None
    name_col: int | None
    at: float

    def candidates(self) -> list[Candidate]:
        if self.number_col is None:
            return []
        # Table.row_numbers comes with the contacts lane's later tabular (the file's own row
        # numbers, "row 57" as Excel shows it); without it rows count from 1.
        return candidates_from_table(self.table.columns, self.table.rows, self.number_col,
                                     self.name_col, getattr(self.table, "row_numbers", None)
                                     or None)


def guess_number_column(table: Table) -> int | None:
    """The number column: by header, else the first column whose first cells are mostly
    digits (a file without a header row)."""
    number, _ = guess_columns(table.columns)
    if number is not None:
        return number
    sample = table.rows[:20]
    for i in range(len(table.columns)):
        cells = [r[i] for r in sample if i < len(r) and r[i].strip()]
        digits = [c for c in cells if sum(ch.isdigit() for ch in c) >= 5]
        if cells and len(digits) * 2 > len(cells):
            return i
    return None


class ImportStash:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._held: OrderedDict[str, Held] = OrderedDict()

    def put(self, user_id: int, filename: str, table: Table) -> tuple[str, Held]:
        self._expire()
        number = guess_number_column(table)
        _, name = guess_columns(table.columns)
        held = Held(user_id, filename, table, number, name if name != number else None,
                    self.clock())
        token = secrets.token_urlsafe(16)
        self._held[token] = held
        while len(self._held) > MAX_HELD:
            self._held.popitem(last=False)
        return token, held

    def get(self, user_id: int, token: str) -> Held | None:
        self._expire()
        held = self._held.get(token or "")
        if held is None or held.user_id != user_id:
            return None
        return held

    def drop(self, token: str) -> None:
        self._held.pop(token, None)

    def _expire(self) -> None:
        now = self.clock()
        for token in [t for t, h in self._held.items() if now - h.at > TTL]:
            del self._held[token]


__all__ = ["ImportStash", "Held", "guess_number_column"]
