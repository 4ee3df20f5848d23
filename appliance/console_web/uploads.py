"""Spreadsheet uploads, for every console page that takes one (the address book's import,
compose's recipients): the body read past the box's 1 MB request limit, and what a table that
cannot be read is told as.

Knows: that an upload's body is read in chunks up to the table reader's own limit, and only for
a logged-in session (a stranger's body is never read; the guard then answers as for any form);
the messages for contacts.tabular's TableError codes, in the user's language.
Must not know: what a page does with the table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.console_web.render import text
from appliance.console_web.session import load_session
from appliance.contacts import tabular

MAX_UPLOAD_BODY = tabular.MAX_BYTES + 64 * 1024  # the file and the form's other parts

TABLE_ERRORS = {
    "empty": "The file is empty.",
    "too_big": "The file is too large (at most {mb} MB).",
    "too_many_rows": "The file has more than {rows} rows: split it into smaller files.",
    "too_many_columns": "The file has more than {columns} columns.",
    "unknown_type": "Upload a CSV or XLSX file.",
    "old_xls": "An Excel 97-2003 (.xls) file cannot be read: save it as .xlsx or CSV in "
               "Excel and upload that.",
    "binary": "This file is not a table: upload a CSV or XLSX file.",
    "unreadable": "The file cannot be read as CSV or XLSX: it may be damaged.",
}


def table_error(request: Request, exc: tabular.TableError) -> str:
    """Why an uploaded table cannot be used, in the request's language."""
    return text(request, TABLE_ERRORS.get(exc.code, TABLE_ERRORS["unreadable"]),
                mb=tabular.MAX_BYTES // (1024 * 1024), rows=f"{tabular.MAX_ROWS:,}",
                columns=tabular.MAX_COLUMNS)


Handler = Callable[[Request], Awaitable[HTTPResponse]]


def add_upload_route(bp: Blueprint, path: str, guarded: Handler, *, name: str,
                     too_big: Callable[[Request, str], HTTPResponse]) -> None:
    """POST `path` on `bp`, streamed: a logged-in user's body is read up to MAX_UPLOAD_BODY
    (beyond: `too_big(request, message)`), then `guarded` (a `@page(...)` handler: role and
    CSRF checked as for any form) runs with it as the request's body."""

    async def upload(request: Request) -> HTTPResponse:
        await load_session(request)
        if request.ctx.user is not None:
            body = bytearray()
            while (chunk := await request.stream.read()) is not None:
                body += chunk
                if len(body) > MAX_UPLOAD_BODY:
                    return too_big(request, table_error(
                        request, tabular.TableError("too_big", "")))
            request.body = bytes(body)
            request.parsed_form = request.parsed_files = None
        return await guarded(request)

    bp.add_route(upload, path, methods=["POST"], name=name, stream=True)
