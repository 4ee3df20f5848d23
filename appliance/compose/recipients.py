"""Who a console send goes to: numbers typed or pasted, a consecutive range (连号), the members
of groups, the rows of an imported table; and the report of the ones that cannot be sent to.

Knows: the separators people paste numbers with (comma, 、，；; spaces, newlines, tabs), what a
consecutive range is, which column of an imported table holds the number and which the name,
and the four reasons a row is left out: invalid (not a number that can get an SMS:
`contacts.quality.number_problem`), duplicate (the same number earlier in the list),
blacklisted (`contacts.blacklist`), unconsented (a marketing send to a number without the
consent it needs: `policy.consent.marketing_refusal`, the rule the policy layer applies).
Must not know: SQL, HTTP. The blacklist and the consent records are passed in.

Numbers are normalised once here (`dispatch.phone.normalize_number`, the one normaliser, with
`[contacts] default_region`), so duplicates are found whatever way they were written
("138 0013 8000", "+86 13800138000").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from appliance.contacts.quality import number_problem
from appliance.dispatch.phone import InvalidNumber, normalize_number
from appliance.policy.consent import marketing_refusal

MAX_RANGE = 1_000
"""At most this many numbers in one consecutive range: 连号 sends go to a block of numbers a
company owns (a department's phones); more than that is more likely a typo in the count."""
INVALID, DUPLICATE, BLACKLISTED, UNCONSENTED = "invalid", "duplicate", "blacklisted", \
    "unconsented"
KINDS = (INVALID, DUPLICATE, BLACKLISTED, UNCONSENTED)

_SEPARATORS = re.compile(r"[,，、;；\s]+")
_HARD_SEPARATORS = re.compile(r"[,，、;；\r\n]+")
# Inside one number people write spaces, dashes, dots and brackets: "138-0013-8000",
# "(010) 1234 5678" keeps its spaces only where a separator cannot be meant (see split_typed).
_NUMBER_COLUMNS = ("number", "numbers", "phone", "mobile", "tel", "telephone", "cell",
                   "手机", "手机号", "手机号码", "号码", "电话", "电话号码", "联系电话", "移动电话")
_NAME_COLUMNS = ("name", "full name", "contact", "姓名", "名字", "名称", "联系人", "称呼")


class RangeError(ValueError):
    """A consecutive range that cannot be made; `field` is "range_start" or "range_count"."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Candidate:
    """One recipient as given, before it is checked."""

    raw: str
    source: str  # typed / range / group / import / contact
    name: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    row: int | None = None  # the row of an imported table (1 = the first data row)


@dataclass(frozen=True)
class Recipient:
    number: str  # E.164
    name: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    source: str = "typed"


@dataclass(frozen=True)
class Problem:
    kind: str  # one of KINDS
    raw: str
    reason: str
    """Why, in English; `{fields}` filled from `values` (the page translates `reason`, then
    fills them: `text` is the English)."""
    number: str | None = None
    row: int | None = None
    source: str = ""
    values: Mapping[str, object] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.reason.format(**self.values) if self.values else self.reason


@dataclass
class Checked:
    recipients: list[Recipient] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for p in self.problems if p.kind == kind)


def split_typed(text: str) -> list[str]:
    """The numbers in pasted text, in order. Any run of commas (also 、，), semicolons (；) or
    white space separates; but a space or dash inside a number written in groups ("138 0013
    8000", "+86 138 0013 8000") does not: short digit groups that together make a number are
    joined back."""
    out: list[str] = []

    def digits(parts: list[str]) -> int:
        return sum(sum(c.isdigit() for c in p) for p in parts)

    def flush(pending: list[str]) -> None:
        if pending:
            out.extend(pending if digits(pending) < 5 else [" ".join(pending)])

    # Only white space joins groups: a comma or semicolon always ends a number.
    for chunk in _HARD_SEPARATORS.split(text or ""):
        pending: list[str] = []
        for token in (t for t in _SEPARATORS.split(chunk) if t):
            bare = token.strip("()-.")
            short = (len(re.sub(r"\D", "", bare)) < 7
                     and re.fullmatch(r"\+?[\d()\-.]+", token) is not None)
            # A whole number after a stray group ("123 13800138000") is a number of its own,
            # not the end of one: together they would be longer than any phone number.
            if pending and digits(pending + [token]) > (15 if pending[0].startswith("+") else 13):
                flush(pending)
                pending = []
            # A group too short to be a number on its own ("138", "0013", "+86") joins the next.
            if pending or short:
                pending.append(token)
                if digits(pending) >= 11 or (pending[0].startswith("+") and digits(pending) >= 13):
                    out.append(" ".join(pending))
                    pending = []
                continue
            out.append(token)
        flush(pending)
    return out


def number_range(start: str, count: int) -> list[str]:
    """`count` consecutive numbers from `start` ("13800138000", 3 -> ...000, ...001, ...002),
    kept in the form given (a "+86" prefix stays). RangeError naming the field if not."""
    start = (start or "").strip()
    m = re.fullmatch(r"(\+?)(\d{5,15})", re.sub(r"[\s\-]", "", start))
    if m is None:
        raise RangeError("range_start", "must be a phone number of digits (e.g. 13800138000)")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_RANGE:
        raise RangeError("range_count", f"must be a whole number from 1 to {MAX_RANGE}")
    plus, digits = m.groups()
    first = int(digits)
    if len(str(first + count - 1)) > len(digits):
        raise RangeError("range_count", "the range runs past the last number of that length")
    return [f"{plus}{str(first + i).zfill(len(digits))}" for i in range(count)]


def guess_columns(columns: Sequence[str]) -> tuple[int | None, int | None]:
    """(the number column, the name column) of an imported table's header, by name; the
    number column is None when no header names one."""
    folded = [c.strip().casefold() for c in columns]
    number = next((i for i, c in enumerate(folded) if c in _NUMBER_COLUMNS), None)
    if number is None:
        number = next((i for i, c in enumerate(folded)
                       if any(k in c for k in ("phone", "mobile", "手机", "号码", "电话"))), None)
    name = next((i for i, c in enumerate(folded) if c in _NAME_COLUMNS and i != number), None)
    return number, name


def candidates_from_table(columns: Sequence[str], rows: Iterable[Sequence[str]],
                          number_col: int, name_col: int | None = None,
                          row_numbers: Sequence[int] | None = None) -> list[Candidate]:
    """One candidate per row; the other columns become its merge fields (by header).
    `row_numbers`: each row's number in the user's file (`Table.row_numbers`, as the
    spreadsheet numbers it), else the rows are numbered from 1."""
    out = []
    for i, row in enumerate(rows, start=1):
        row_no = row_numbers[i - 1] if row_numbers is not None and i <= len(row_numbers) \
            else i
        cells = [(c or "").strip() for c in row]
        raw = cells[number_col] if number_col < len(cells) else ""
        name = cells[name_col] if name_col is not None and name_col < len(cells) else ""
        extra = {columns[j].strip(): v for j, v in enumerate(cells)
                 if j not in (number_col, name_col) and j < len(columns) and columns[j].strip()}
        out.append(Candidate(raw=raw, source="import", name=name, fields=extra, row=row_no))
    return out


def check_candidates(candidates: Iterable[Candidate], *, region: str = "CN",
                     blocked: Callable[[str], str | None] | None = None,
                     consent: Mapping[str, Mapping[str, Any]] | None = None,
                     consent_required: bool = False) -> Checked:
    """The recipients to send to, and a problem for each candidate left out. `blocked`: the
    blacklist's reason for a number (None: not on it); `consent`: the stored consent of the
    numbers, given only for a marketing send (None: not checked)."""
    checked = Checked()
    seen: dict[str, Candidate] = {}
    for c in candidates:
        raw = c.raw.strip()
        try:
            number = normalize_number(raw, region)
        except InvalidNumber:
            checked.problems.append(Problem(INVALID, raw, "not a valid phone number" if raw
                                            else "no number", None, c.row, c.source))
            continue
        why = number_problem(number, region)
        if why:
            checked.problems.append(Problem(INVALID, raw, why, number, c.row, c.source))
            continue
        if number in seen:
            first = seen[number]
            if first.row:
                why, values = "the same number as row {row}", {"row": first.row}
            else:
                why, values = "the same number as “{first}”", {"first": first.raw}
            checked.problems.append(Problem(DUPLICATE, raw, why, number, c.row, c.source,
                                            values))
            continue
        seen[number] = c
        reason = blocked(number) if blocked is not None else None
        if reason is not None:
            checked.problems.append(Problem(BLACKLISTED, raw, "on the blacklist: {why}"
                                            if reason else "on the blacklist", number, c.row,
                                            c.source, {"why": reason} if reason else {}))
            continue
        if consent is not None:
            refusal = marketing_refusal(consent.get(number), consent_required)
            if refusal:
                checked.problems.append(Problem(UNCONSENTED, raw, refusal, number, c.row,
                                                c.source))
                continue
        checked.recipients.append(Recipient(number, c.name, dict(c.fields), c.source))
    return checked


def normalised(candidates: Iterable[Candidate], region: str = "CN") -> list[str]:
    """The numbers among `candidates` that normalise (for the consent look-up)."""
    out = []
    for c in candidates:
        try:
            out.append(normalize_number(c.raw.strip(), region))
        except InvalidNumber:
            continue
    return out


__all__ = ["BLACKLISTED", "DUPLICATE", "INVALID", "KINDS", "MAX_RANGE", "UNCONSENTED",
           "Candidate", "Checked", "Problem", "RangeError", "Recipient", "candidates_from_table",
           "check_candidates", "guess_columns", "normalised", "number_range", "split_typed"]
