"""The address book as the front doors use it (the contacts API and the web console): a
contact with its consent, importing a table of contacts, and the book as a table to export.

Knows: which store functions make up each of these and in which thread they run (store
reads and writes through `Store.read` / `Store.write`; normalising thousands of numbers in a
worker thread, never on the event loop); that an import writes nothing until it is
confirmed, and then in batches so the writer thread is never held for long.
Must not know: SQL (`store.contacts`, `store.consent`), HTTP, HTML, languages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from appliance.contacts import importing
from appliance.contacts.tabular import Table
from appliance.policy.consent import contact_consent
from appliance.store import consent as consent_store
from appliance.store import contacts as book
from appliance.store.writer import Store

IMPORT_BATCH = 500  # rows per write transaction: the writer serves the outbox between them
EXPORT_BATCH = 1000
EXPORT_COLUMNS = ("name", "numbers", "groups", "consent", "note")


# -- consent (in the store's thread) ---------------------------------------------------------


def with_consent(contacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The contacts with their numbers' consent (in the store's thread: one query)."""
    on_file = consent_store.of_numbers(n for c in contacts for n in c["numbers"])
    for c in contacts:
        c["consent"] = contact_consent(c["numbers"], on_file)
    return contacts


def set_consent(contact: dict[str, Any], consent: tuple[str, str] | None,
                detail: str) -> dict[str, Any]:
    """Record `consent` ((state, source), or None: unchanged) for every number of `contact`,
    in the store's thread and the same transaction as the contact's change; the contact
    with its consent."""
    if consent is not None:
        state, source = consent
        consent_store.record_many(contact["numbers"], state, source, detail)
    return with_consent([contact])[0]


# -- import ----------------------------------------------------------------------------------


async def plan_import(store: Store, table: Table, roles: list[str],
                      region: str) -> tuple[list[importing.Row], importing.Report]:
    """What importing `table` with `roles` would do, and its report. Reads only."""
    rows = await asyncio.to_thread(importing.plan_rows, table, roles, region)
    numbers = [n for r in rows if r.status == "new" for n in r.numbers]

    def look_up() -> tuple[dict[str, dict[str, Any]], set[str]]:
        return book.contacts_for_numbers(numbers), book.group_names()

    owners, groups = await store.read(look_up)
    importing.mark_existing(rows, owners)
    return rows, importing.report(rows, groups, roles, table.columns)


async def run_import(store: Store, table: Table, roles: list[str], region: str, *,
                     update_existing: bool, group_ids: Iterable[int] = (),
                     detail: str = "",
                     progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Import `table` as confirmed: the plan made again (the book may have changed since the
    preview), then its rows written IMPORT_BATCH at a time; each batch checks again who has
    a number, inside its own transaction; `progress(rows written, rows to write)` after
    each. {"created", "updated", "skipped", "conflicts", "invalid", "duplicate",
    "groups_made"}."""
    rows, summary = await plan_import(store, table, roles, region)
    chosen = importing.importable(rows, update_existing=update_existing)
    group_ids = list(group_ids)
    out: dict[str, Any] = {"created": 0, "updated": 0, "skipped": 0, "conflicts": 0,
                           "invalid": summary.invalid, "duplicate": summary.duplicate,
                           "groups_made": []}
    if not update_existing:
        out["skipped"] = summary.existing
    for i in range(0, len(chosen), IMPORT_BATCH):
        items = [r.item() for r in chosen[i:i + IMPORT_BATCH]]
        done = await store.write(lambda items=items: book.import_contacts(
            items, update_existing=update_existing, group_ids=group_ids,
            consent_detail=detail))
        for key in ("created", "updated", "skipped", "conflicts"):
            out[key] += done[key]
        out["groups_made"] += done["groups_made"]
        if progress is not None:
            progress(min(i + IMPORT_BATCH, len(chosen)), len(chosen))
    return out


# -- export ----------------------------------------------------------------------------------


async def export_table(store: Store, *, group_id: int | None = None
                       ) -> tuple[list[str], list[list[str]]]:
    """The book (or one group) as a table: EXPORT_COLUMNS then each custom field's key; the
    consent cell is "granted", "withdrawn" or "" (unknown or mixed). Read a batch at a time
    so no read transaction holds the whole book."""
    keys = await store.read(lambda: book.custom_field_keys(group_id=group_id))
    rows: list[list[str]] = []
    after = 0
    while True:
        batch = await store.read(lambda after=after: with_consent(
            book.contacts_after(after, EXPORT_BATCH, group_id=group_id)))
        if not batch:
            break
        for c in batch:
            state = c["consent"]["state"]
            rows.append([c["name"], "; ".join(c["numbers"]),
                         "; ".join(g["name"] for g in c["groups"]),
                         state if state in ("granted", "withdrawn") else "", c["note"]]
                        + [_text(c["fields"].get(k)) for k in keys])
        after = batch[-1]["id"]
    return list(EXPORT_COLUMNS) + keys, rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


__all__ = ["EXPORT_COLUMNS", "export_table", "plan_import", "run_import", "set_consent",
           "with_consent"]
