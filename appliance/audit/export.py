"""The audit log as CSV or JSON lines, produced a batch at a time (never all in memory).

Knows: the two formats and their columns, and how a batch of entries becomes text.
Must not know: SQL (it is given batches by `store.audit`), HTTP.

JSON lines keep every column exactly as stored, so an exported file can be checked again
(each line's hash over the line before it). CSV is for a spreadsheet: a cell that a
spreadsheet would run as a formula (starting with = + - @ or a tab) gets a leading "'"
(OWASP's advice on CSV injection), so re-check the chain from the JSON lines, not the CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from appliance.store.audit import COLUMNS

FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


def _plain(value: Any) -> Any:
    return value.isoformat(timespec="microseconds") if isinstance(value, datetime) else value


def entry_json(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as JSON: its columns, times in ISO 8601, `detail` as stored (a JSON text)."""
    return {name: _plain(entry[name]) for name in COLUMNS}


def _cell(value: Any) -> str:
    text = "" if value is None else str(_plain(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_header() -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(COLUMNS)
    return out.getvalue()


def csv_rows(entries: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for entry in entries:
        writer.writerow([_cell(entry[name]) for name in COLUMNS])
    return out.getvalue()


def jsonl_rows(entries: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(entry_json(e), ensure_ascii=False) + "\n" for e in entries)


def chunks(fmt: str, batches: Iterable[list[dict[str, Any]]]) -> Iterator[str]:
    """The export as text chunks: a header (CSV), then one chunk per batch."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
    if fmt == "csv":
        yield csv_header()
    for batch in batches:
        yield csv_rows(batch) if fmt == "csv" else jsonl_rows(batch)
