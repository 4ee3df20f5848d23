"""Importing contacts from a spreadsheet: which column means what, what each row would
become, and the report a user reads before anything is written.

Knows: the roles a column can play (name, number, group, consent, note, a custom field, or
nothing), how to guess them from headers in Chinese or English, how a row's cells become a
contact (several numbers or groups in one cell, consent words), and what makes a row
invalid or a duplicate within the file.
Must not know: SQL (`store.contacts.import_contacts` writes, `contacts_for_numbers` says who
already has a number), HTTP, the event loop. Everything here is pure and runs in a thread:
normalising 100,000 numbers takes seconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from appliance.contacts.numbers import InvalidNumber, stored_number
from appliance.contacts.tabular import Table

ROLES = ("name", "number", "group", "consent", "note", "field", "skip")
SINGLE_ROLES = ("name", "consent", "note")  # at most one column each
MAX_NAME = 255  # as the contacts API (api.jsonbody.MAX_NAME)
MAX_NOTE = 10_000
MAX_NUMBERS = 20  # per contact, as the contacts API
MAX_FIELD_KEY = 64
MAX_FIELD_VALUE = 4000
MAX_FIELDS = 50
REPORT_LIMIT = 200  # rows listed per kind of problem; all are counted

# Header words, compared lower-cased with blanks, "_" and "-" removed.
_HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "名字", "名称", "联系人", "联系人姓名", "客户", "客户名称", "客户姓名",
             "称呼", "name", "fullname", "contact", "contactname", "person"),
    "number": ("手机", "手机号", "手机号码", "电话", "电话号码", "号码", "联系电话",
               "联系方式", "移动电话", "手机电话", "mobile", "mobilephone", "mobileno",
               "phone", "phonenumber", "phoneno", "cell", "cellphone", "tel", "telephone",
               "number", "numbers", "msisdn", "sms"),
    "group": ("分组", "组", "组别", "群组", "所属分组", "分组名称", "组名", "标签", "group",
              "groups", "tag", "tags", "list"),
    "consent": ("同意", "营销同意", "授权", "订阅", "是否同意", "是否订阅", "consent",
                "optin", "marketingconsent", "subscribed", "subscription"),
    "note": ("备注", "说明", "备注信息", "note", "notes", "remark", "remarks", "comment",
             "comments"),
}
_HEADER_ROLE = {word: role for role, words in _HEADERS.items() for word in words}

_CONSENT_WORDS: dict[str, str | None] = {
    **dict.fromkeys(("是", "同意", "已同意", "订阅", "已订阅", "允许", "y", "yes", "true",
                     "1", "granted", "grant", "optin", "opted in", "subscribed", "✓", "√"),
                    "granted"),
    **dict.fromkeys(("否", "不同意", "拒绝", "退订", "已退订", "撤回", "已撤回", "不允许",
                     "n", "no", "false", "0", "withdrawn", "optout", "opted out",
                     "unsubscribed", "✗", "×"), "withdrawn"),
    **dict.fromkeys(("", "未知", "unknown", "-"), None),
}
_LIST_SPLIT = re.compile(r"[;,，；、|/\n]+")  # several numbers or groups in one cell


def _header_key(text: str) -> str:
    return re.sub(r"[\s_\-:：()（）]+", "", text).lower()


def guess_mapping(table: Table) -> list[str]:
    """A role for each column from its header; a column of phone numbers under no known
    header is a number column; an unnamed empty column is skipped; the rest are custom
    fields. The first of name/consent/note wins, later ones become fields."""
    roles: list[str] = []
    for i, header in enumerate(table.columns):
        role = _HEADER_ROLE.get(_header_key(header))
        if role is None:
            numeric = header.startswith("#")
            sample = [r[i] for r in table.rows[:20] if r[i]]
            if sample and all(re.fullmatch(r"\+?[0-9][0-9 ()-]{4,}", c) for c in sample):
                role = "number"
            elif numeric and not sample:
                role = "skip"
            else:
                role = "field"
        if role in SINGLE_ROLES and role in roles:
            role = "field"
        roles.append(role)
    if "number" not in roles and "name" not in roles and table.columns[0].startswith("#"):
        roles[0] = "number"
    return roles


class MappingError(ValueError):
    """A mapping that cannot import: `code` (no_number, twice, unknown_role, length) and the
    column index it concerns (or None)."""

    def __init__(self, code: str, message: str, column: int | None = None):
        super().__init__(message)
        self.code = code
        self.column = column


def check_mapping(table: Table, roles: Sequence[str]) -> list[str]:
    roles = list(roles)
    if len(roles) != len(table.columns):
        raise MappingError("length", "one role per column is needed")
    for i, role in enumerate(roles):
        if role not in ROLES:
            raise MappingError("unknown_role", f"unknown role {role!r}", i)
    for role in SINGLE_ROLES:
        if roles.count(role) > 1:
            raise MappingError("twice", f"only one column can be the {role}",
                               [i for i, r in enumerate(roles) if r == role][1])
    if "number" not in roles:
        raise MappingError("no_number", "choose the column that holds the phone numbers")
    return roles


def consent_state(text: str) -> str | None:
    """"granted", "withdrawn" or None (unknown, nothing recorded) for a consent cell;
    ValueError for a word that says neither."""
    key = text.strip().lower().replace("-", "").replace("_", "")
    if key in _CONSENT_WORDS:
        return _CONSENT_WORDS[key]
    if text.strip().lower() in _CONSENT_WORDS:
        return _CONSENT_WORDS[text.strip().lower()]
    raise ValueError(text)


@dataclass
class Row:
    """What one row of the file would become. `status`: new, existing (its numbers belong to
    a contact: updated or skipped as the user chooses), invalid, duplicate (its number is on
    an earlier row of the file). `problem` names why a row is invalid or a duplicate: no_number,
    bad_number, too_many_numbers, bad_consent, name_too_long, note_too_long, bad_field,
    duplicate, two_contacts; `detail` is what it concerns (the number, the cell, the row of
    the first occurrence)."""

    line: int
    index: int = 0  # in table.rows: a report shows the row's own cells
    name: str = ""
    numbers: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    consent: str | None = None
    note: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    status: str = "new"
    problem: str = ""
    detail: str = ""
    contact_id: int | None = None
    contact_name: str = ""

    def item(self) -> dict[str, Any]:
        """The row as `store.contacts.import_contacts` takes it."""
        return {"name": self.name, "numbers": self.numbers, "groups": self.groups,
                "consent": self.consent, "note": self.note, "fields": self.fields}


def plan_rows(table: Table, roles: Sequence[str], region: str) -> list[Row]:
    """Every data row as it would be imported, with invalid rows and duplicates within the
    file marked (the first row with a number wins). Existing contacts are the store's to
    mark (`mark_existing`)."""
    roles = check_mapping(table, roles)
    headers = table.columns
    seen: dict[str, int] = {}
    out: list[Row] = []
    for index, cells in enumerate(table.rows):
        line = table.row_numbers[index] if table.row_numbers else index + 2
        row = Row(line=line, index=index)
        out.append(row)
        raw_numbers: list[str] = []
        for i, role in enumerate(roles):
            cell = cells[i] if i < len(cells) else ""
            if role == "name" and cell:
                row.name = cell
            elif role == "number":
                raw_numbers += [p.strip() for p in _LIST_SPLIT.split(cell) if p.strip()]
            elif role == "group":
                row.groups += [g.strip() for g in _LIST_SPLIT.split(cell) if g.strip()]
            elif role == "consent":
                try:
                    row.consent = consent_state(cell)
                except ValueError:
                    _invalid(row, "bad_consent", cell)
            elif role == "note" and cell:
                row.note = cell
            elif role == "field" and cell:
                key = headers[i][:MAX_FIELD_KEY]
                row.fields[key] = cell[:MAX_FIELD_VALUE]
        row.groups = [g[:MAX_NAME] for g in dict.fromkeys(row.groups)]
        if row.status == "invalid":
            continue
        if len(row.name) > MAX_NAME:
            _invalid(row, "name_too_long", row.name[:40] + "…")
            continue
        if row.note is not None and len(row.note) > MAX_NOTE:
            _invalid(row, "note_too_long", "")
            continue
        if len(row.fields) > MAX_FIELDS:
            _invalid(row, "bad_field", str(len(row.fields)))
            continue
        if not raw_numbers:
            _invalid(row, "no_number", "")
            continue
        try:
            numbers = list(dict.fromkeys(_stored(n, region) for n in raw_numbers))
        except InvalidNumber:
            bad = next(n for n in raw_numbers if not _valid(n, region))
            _invalid(row, "bad_number", bad)
            continue
        if len(numbers) > MAX_NUMBERS:
            _invalid(row, "too_many_numbers", str(len(numbers)))
            continue
        row.numbers = numbers
        earlier = next((seen[n] for n in numbers if n in seen), None)
        if earlier is not None:
            row.status, row.problem, row.detail = "duplicate", "duplicate", str(earlier)
            continue
        seen.update(dict.fromkeys(numbers, line))
    return out


_SQUEEZE = re.compile(r"[\s().-]")
_CN_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def _stored(raw: str, region: str) -> str:
    """`stored_number(raw, region)`, faster for the commonest cell of a Chinese list: an
    11-digit mobile number given without +86 (perhaps with blanks or dashes) is handed to
    the one normaliser as +86…, the form its fast path knows (30 µs saved a number: 100,000
    rows are checked twice, at the preview and at the confirmation). Same result: the
    parse reads a number without a country code as one of `region`."""
    squeezed = _SQUEEZE.sub("", raw)
    if region == "CN" and _CN_MOBILE.fullmatch(squeezed):
        return stored_number("+86" + squeezed, region)
    return stored_number(raw, region)


def _valid(number: str, region: str) -> bool:
    try:
        stored_number(number, region)
    except InvalidNumber:
        return False
    return True


def _invalid(row: Row, problem: str, detail: str) -> None:
    row.status, row.problem, row.detail = "invalid", problem, detail


def mark_existing(rows: list[Row], owners: Mapping[str, Mapping[str, Any]]) -> None:
    """Mark the rows whose numbers already belong to a contact (`owners`:
    `store.contacts.contacts_for_numbers` of the rows' numbers); a row whose numbers belong
    to two different contacts is invalid (which one would it update?)."""
    for row in rows:
        if row.status != "new":
            continue
        found = {owners[n]["id"]: owners[n]["name"] for n in row.numbers if n in owners}
        if len(found) > 1:
            _invalid(row, "two_contacts", ", ".join(name or f"#{cid}"
                                                    for cid, name in found.items()))
        elif found:
            (cid, name), = found.items()
            row.status, row.contact_id, row.contact_name = "existing", cid, name


@dataclass
class Report:
    """What an import would do: counts by status, the problem rows (the first REPORT_LIMIT
    of each kind), the groups it would make, and a few rows as they would be imported."""

    total: int
    new: int
    existing: int
    invalid: int
    duplicate: int
    invalid_rows: list[Row]
    duplicate_rows: list[Row]
    existing_rows: list[Row]
    sample: list[Row]
    groups: list[str]
    new_groups: list[str]
    fields: list[str]


def report(rows: list[Row], existing_groups: set[str], roles: Sequence[str],
           columns: Sequence[str]) -> Report:
    by: dict[str, list[Row]] = {"new": [], "existing": [], "invalid": [], "duplicate": []}
    for row in rows:
        by[row.status].append(row)
    groups = list(dict.fromkeys(g for r in rows if r.status in ("new", "existing")
                                for g in r.groups))
    return Report(
        total=len(rows), new=len(by["new"]), existing=len(by["existing"]),
        invalid=len(by["invalid"]), duplicate=len(by["duplicate"]),
        invalid_rows=by["invalid"][:REPORT_LIMIT], duplicate_rows=by["duplicate"][:REPORT_LIMIT],
        existing_rows=by["existing"][:REPORT_LIMIT],
        sample=[r for r in rows if r.status in ("new", "existing")][:10],
        groups=groups, new_groups=[g for g in groups if g not in existing_groups],
        fields=[columns[i][:MAX_FIELD_KEY] for i, r in enumerate(roles) if r == "field"])


def importable(rows: list[Row], *, update_existing: bool) -> list[Row]:
    """The rows a confirmed import writes: the new ones, and the existing ones when the user
    chose to update them."""
    wanted = ("new", "existing") if update_existing else ("new",)
    return [r for r in rows if r.status in wanted]


__all__ = [
    "ROLES", "MappingError", "Report", "Row", "check_mapping", "consent_state",
    "guess_mapping", "importable", "mark_existing", "plan_rows", "report",
]
