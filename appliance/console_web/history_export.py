"""Export of a filtered history view as CSV or XLSX, streamed.

Knows: the columns of each tab, the two file formats (CSV in UTF-8 with a BOM, so Excel shows
Chinese; XLSX through openpyxl's write-only workbook), and how to neutralise a spreadsheet
formula hidden in an SMS.
Must not know: SQL (store.history), what the filters mean (history.py parses them).

Memory and the event loop: rows are read in chunks of CHUNK by keyset (each chunk one store
read on a reader thread, formatted there too); a CSV chunk is sent as soon as it is made, so
the whole result is never in memory. An XLSX file cannot be written as a stream (a zip whose
index comes last): openpyxl's write-only sheet writes its rows to a temporary file on worker
threads, the workbook is saved on a worker thread, and the file is then streamed.

Formula injection (OWASP "CSV Injection"): a cell that starts with = + - @ (or a tab or CR)
is a formula to Excel and LibreOffice, and SMS text is hostile (`=HYPERLINK(...)`,
`@SUM(...)`, `-2+3+cmd|' /C calc'!A0`). Every text cell goes through contacts.tabular's
`safe_cell` (the one rule of the console's exports): such a cell gets a leading apostrophe; a
plain number such as +8613800138000 stays as it is.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sanic import Request

from appliance.console_web.i18n import translate
from appliance.console_web.reasons import message_error
from appliance.contacts.tabular import safe_cell, xlsx_text
from appliance.store import history as store_history

CHUNK = 1000
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header row
BOM = "\ufeff".encode()

Column = tuple[str, Callable[[dict[str, Any], ZoneInfo], Any]]


def _time(key: str) -> Callable[[dict[str, Any], ZoneInfo], str]:
    def cell(row: dict[str, Any], zone: ZoneInfo) -> str:
        value: datetime | None = row.get(key)
        return "" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    return cell


def _plain(key: str) -> Callable[[dict[str, Any], ZoneInfo], Any]:
    return lambda row, zone: "" if row.get(key) is None else row[key]


OUTBOUND_COLUMNS: tuple[Column, ...] = (
    ("ID", _plain("id")), ("Time", _time("at")), ("Number", _plain("number")),
    ("Contact", _plain("contact")), ("Text", _plain("text")), ("State", _plain("state")),
    ("SIM", _plain("sim")), ("SIM label", _plain("sim_label")), ("User", _plain("user")),
    ("Campaign", _plain("campaign")), ("Parts", _plain("parts")),
    ("Sent at", _time("sent_at")), ("Finished at", _time("final_at")),
    ("Error", _plain("error")),
)
INBOUND_COLUMNS: tuple[Column, ...] = (
    ("ID", _plain("id")), ("Time", _time("at")), ("Number", _plain("number")),
    ("Sender", _plain("sender")), ("Contact", _plain("contact")), ("Text", _plain("text")),
    ("SIM", _plain("sim")), ("SIM label", _plain("sim_label")),
    ("Incomplete", lambda row, zone: "yes" if row.get("partial") else ""),
)


def excel_safe(value: Any) -> Any:
    """A text cell through `safe_cell` (see the module docstring); numbers stay numbers."""
    return safe_cell(value) if isinstance(value, str) else value


def columns_of(tab: str, lang: str = "en") -> tuple[Column, ...]:
    """The columns of `tab`; a state, an error and "yes" in `lang`, as the page shows them."""
    columns = INBOUND_COLUMNS if tab == "in" else OUTBOUND_COLUMNS
    if lang == "en":
        return columns
    worded: dict[str, Callable[[dict[str, Any], ZoneInfo], Any]] = {
        "State": lambda row, zone: translate(lang, row["state"]) if row.get("state") else "",
        "Error": lambda row, zone: message_error(lang, row.get("error")),
        "Incomplete": lambda row, zone: translate(lang, "yes") if row.get("partial") else "",
    }
    return tuple((title, worded.get(title, cell)) for title, cell in columns)


def cells(columns: tuple[Column, ...], row: dict[str, Any], zone: ZoneInfo) -> list[Any]:
    return [excel_safe(cell(row, zone)) for _, cell in columns]


def read_chunk(tab: str, f: Any, before: int | None,
               size: int = CHUNK) -> tuple[list[dict[str, Any]], int | None]:
    """The `size` rows after `before` (newest first) and the `before` of the next chunk
    (None when done). Runs on a store reader thread."""
    if tab == "in":
        page = store_history.inbound_page(f, before=before, limit=size, probe_newer=False)
    else:
        page = store_history.outbound_page(f, before=before, limit=size, probe_newer=False)
    return page.rows, page.older


def csv_text(columns: tuple[Column, ...], rows: list[dict[str, Any]], zone: ZoneInfo,
             header: list[str] | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header is not None:
        writer.writerow([excel_safe(h) for h in header])
    for row in rows:
        writer.writerow(cells(columns, row, zone))
    return out.getvalue()


def filename(tab: str, extension: str, zone: ZoneInfo) -> str:
    stamp = datetime.now(zone).strftime("%Y%m%d-%H%M")
    return f"history-{'inbound' if tab == 'in' else 'outbound'}-{stamp}.{extension}"


async def stream_csv(request: Request, tab: str, f: Any, header: list[str],
                     zone: ZoneInfo) -> None:
    """Send the view as CSV, chunk by chunk (UTF-8 with a BOM)."""
    store = request.app.ctx.appliance.store
    columns = columns_of(tab, getattr(request.ctx, "lang", "en"))
    response = await request.respond(
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename(tab, "csv", zone)}"',
                 "Cache-Control": "no-store"})
    await response.send(BOM + csv_text(columns, [], zone, header).encode())
    before: int | None = None
    while True:
        def chunk(before: int | None = before) -> tuple[bytes, int | None]:
            rows, older = read_chunk(tab, f, before)
            return csv_text(columns, rows, zone).encode(), older

        data, before = await store.read(chunk)
        if data:
            await response.send(data)
        if before is None:
            break
    await response.eof()


def _append(sheet: Any, columns: tuple[Column, ...], rows: list[dict[str, Any]],
            zone: ZoneInfo) -> None:
    for row in rows:
        sheet.append([xlsx_text(c) for c in cells(columns, row, zone)])


async def build_xlsx(request: Request, tab: str, f: Any, header: list[str], title: str,
                     zone: ZoneInfo) -> str:
    """Write the view to a temporary .xlsx file (rows read by chunks, written on worker
    threads); returns its path. The caller deletes it."""
    store = request.app.ctx.appliance.store
    from openpyxl import Workbook  # only an export pays for the import

    columns = columns_of(tab, getattr(request.ctx, "lang", "en"))
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    sheet.append([xlsx_text(excel_safe(h)) for h in header])
    before: int | None = None
    written = 0
    while written < XLSX_MAX_ROWS:
        size = min(CHUNK, XLSX_MAX_ROWS - written)
        rows, before = await store.read(lambda b=before, s=size: read_chunk(tab, f, b, s))
        await asyncio.to_thread(_append, sheet, columns, rows, zone)
        written += len(rows)
        if before is None:
            break
    handle, path = tempfile.mkstemp(prefix="cardgate-export-", suffix=".xlsx")
    os.close(handle)
    try:
        await asyncio.to_thread(book.save, path)
    except BaseException:
        os.unlink(path)
        raise
    return path


async def stream_xlsx(request: Request, tab: str, f: Any, header: list[str], title: str,
                      zone: ZoneInfo) -> None:
    path = await build_xlsx(request, tab, f, header, title, zone)
    try:
        response = await request.respond(
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition":
                     f'attachment; filename="{filename(tab, "xlsx", zone)}"',
                     "Content-Length": str(os.path.getsize(path)),
                     "Cache-Control": "no-store"})
        file = await asyncio.to_thread(open, path, "rb")
        with file:
            while True:
                data = await asyncio.to_thread(file.read, 256 * 1024)
                if not data:
                    break
                await response.send(data)
        await response.eof()
    finally:
        os.unlink(path)
