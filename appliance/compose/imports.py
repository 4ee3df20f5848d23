"""Imported recipient tables: which column of an uploaded table holds the numbers and which
the names, and the candidates they give. The table itself waits on disk between the upload
(preview and validation report) and the send the user confirms (contacts.uploads.UploadStash,
the same stash as the address book's import), with the chosen columns kept as its roles:
nothing is sent from an upload until then.

Knows: the roles a compose import gives its columns ("number", "name", "field": every other
column is a merge field), how the number column is guessed.
Must not know: HTTP, how a table is read (contacts.tabular) or stored (contacts.uploads).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from appliance.compose.recipients import Candidate, candidates_from_table, guess_columns
from appliance.contacts.tabular import Table

NUMBER, NAME, FIELD = "number", "name", "field"


@dataclass
class Held:
    """An imported table as the compose page uses it: its name, rows and chosen columns."""

    filename: str
    table: Table
    number_col: int | None
    name_col: int | None

    @classmethod
    def from_roles(cls, filename: str, table: Table, roles: Sequence[str]) -> Held:
        number = next((i for i, r in enumerate(roles) if r == NUMBER), None)
        name = next((i for i, r in enumerate(roles) if r == NAME), None)
        return cls(filename, table, number, name)

    @classmethod
    def guessed(cls, filename: str, table: Table) -> Held:
        number = guess_number_column(table)
        _, name = guess_columns(table.columns)
        return cls(filename, table, number, name if name != number else None)

    def roles(self) -> list[str]:
        """One role per column, to keep with the upload (the number column wins over the
        name when both are the same)."""
        return [NUMBER if i == self.number_col else NAME if i == self.name_col else FIELD
                for i in range(len(self.table.columns))]

    def candidates(self) -> list[Candidate]:
        if self.number_col is None:
            return []
        return candidates_from_table(self.table.columns, self.table.rows, self.number_col,
                                     self.name_col, self.table.row_numbers or None)


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


__all__ = ["FIELD", "NAME", "NUMBER", "Held", "guess_number_column"]
