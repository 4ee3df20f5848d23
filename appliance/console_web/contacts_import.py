"""Importing contacts in the console: upload a CSV or XLSX file → say what each column is
(guessed from its header) → read the report (invalid rows, duplicates within the file,
numbers already in the book: update them or skip them) → confirm. Nothing is written before
the confirmation.

Knows: the four steps and their forms; that the uploaded table stays on the box between
them (contacts.uploads: a file under a random token, bound to the session that uploaded it,
dropped after the import or an hour), so the browser carries a token, never the table; the
translated texts of every refusal (tabular.TableError, importing.MappingError, a row's
problem).
Must not know: SQL, how a row becomes a contact (contacts.importing, contacts.service).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, redirect

from appliance.console_web.audited import audit_change
from appliance.console_web.guard import page
from appliance.console_web.render import render, text
from appliance.console_web.stash import keep_stash, stash_of
from appliance.console_web.uploads import add_upload_route, table_error
from appliance.contacts import importing, service, tabular
from appliance.contacts.uploads import UploadStash
from appliance.store import contacts as book

log = logging.getLogger(__name__)

ROLE_LABELS = {"name": "Name", "number": "Phone number", "group": "Group",
               "consent": "Marketing consent", "note": "Note", "field": "Custom field",
               "skip": "Ignore"}
ROW_PROBLEMS = {
    "no_number": "No phone number.",
    "bad_number": "Not a valid phone number: {detail}",
    "too_many_numbers": "Too many numbers ({detail}; at most 20).",
    "bad_consent": "Consent not understood: \u201c{detail}\u201d (use yes/no, 是/否).",
    "name_too_long": "The name is too long.",
    "note_too_long": "The note is too long.",
    "bad_field": "Too many custom fields.",
    "duplicate": "Same number as row {detail}.",
    "two_contacts": "Its numbers belong to two different contacts: {detail}.",
}
MAPPING_ERRORS = {
    "no_number": "Choose the column that holds the phone numbers.",
    "twice": "Only one column can be this.",
    "unknown_role": "Choose one of the listed meanings.",
    "length": "The form does not match the file: start again.",
}
STASH = "contacts_uploads"  # app.ctx.contacts_uploads: the uploads between the steps
_SEPARATORS = re.compile(r"[\s,;，；、|/]+")
_PHONE_INNER = re.compile(r"(?<=\d)[ \-](?=\d)")


def split_numbers(pasted: str) -> list[str]:
    """Numbers typed or pasted with any common separator: new lines, commas (also the
    full-width ，), semicolons, 、, |, /, tabs. A single space or dash between digits is part
    of a number as people write it ("138 0013 8000", "138-0013-8000")."""
    joined = _PHONE_INNER.sub("", pasted)
    return [p for p in _SEPARATORS.split(joined) if p]


def _stash(request: Request) -> UploadStash:
    return stash_of(request, STASH)


def _owner(request: Request) -> str:
    return request.ctx.session_token


def problem_text(request: Request, row: importing.Row) -> str:
    return text(request, ROW_PROBLEMS.get(row.problem, "{detail}"), detail=row.detail)


async def _upload(request: Request, token: str):  # noqa: ANN202 - Upload | None
    return await asyncio.to_thread(_stash(request).get, _owner(request), token)


def _gone(request: Request) -> HTTPResponse:
    return render(request, "contacts/import_upload.html", status=404, errors={
        "file": text(request, "This import has expired or was finished: upload the file "
                              "again.")})


async def upload_form(request: Request) -> HTTPResponse:
    return render(request, "contacts/import_upload.html", errors={})


async def upload(request: Request) -> HTTPResponse:
    file = request.files.get("file") if request.files else None
    if file is None or not file.name:
        return render(request, "contacts/import_upload.html", status=400,
                      errors={"file": text(request, "Choose a file to upload.")})
    try:
        table = await asyncio.to_thread(tabular.read_table, file.body, file.name)
    except tabular.TableError as exc:
        return render(request, "contacts/import_upload.html", status=400,
                      errors={"file": table_error(request, exc)})
    if not table.rows:
        return render(request, "contacts/import_upload.html", status=400,
                      errors={"file": text(request, "The file has a header but no rows.")})
    token = await asyncio.to_thread(_stash(request).put, _owner(request), file.name, table)
    return redirect(f"/console/contacts/import/{token}")


def _mapping_page(request: Request, upload, roles: list[str], *, status: int = 200,  # noqa: ANN001
                  errors: dict[str, str] | None = None) -> HTTPResponse:
    return render(request, "contacts/import_map.html", status=status, upload=upload,
                  table=upload.table, roles=roles, role_labels=ROLE_LABELS,
                  sample=upload.table.rows[:5], errors=errors or {})


async def mapping(request: Request, token: str) -> HTTPResponse:
    upload = await _upload(request, token)
    if upload is None:
        return _gone(request)
    roles = upload.roles or importing.guess_mapping(upload.table)
    return _mapping_page(request, upload, roles)


async def save_mapping(request: Request, token: str) -> HTTPResponse:
    upload = await _upload(request, token)
    if upload is None:
        return _gone(request)
    form = request.form or {}
    roles = [form.get(f"role-{i}") or "skip" for i in range(len(upload.table.columns))]
    try:
        importing.check_mapping(upload.table, roles)
    except importing.MappingError as exc:
        key = f"role-{exc.column}" if exc.column is not None else "mapping"
        return _mapping_page(request, upload, roles, status=400, errors={
            key: text(request, MAPPING_ERRORS.get(exc.code, str(exc)))})
    await asyncio.to_thread(_stash(request).set_roles, _owner(request), token, roles)
    return redirect(f"/console/contacts/import/{token}/preview")


def _region(request: Request) -> str:
    return request.app.ctx.appliance.config.contacts.default_region


async def preview(request: Request, token: str) -> HTTPResponse:
    upload = await _upload(request, token)
    if upload is None:
        return _gone(request)
    if not upload.roles:
        return redirect(f"/console/contacts/import/{token}")
    store = request.app.ctx.appliance.store
    _, report = await service.plan_import(store, upload.table, upload.roles, _region(request))
    groups = await store.read(book.list_groups)
    return render(request, "contacts/import_preview.html", upload=upload, report=report,
                  table=upload.table, problem=lambda row: problem_text(request, row),
                  groups=groups, role_labels=ROLE_LABELS, errors={})


@dataclass
class ImportJob:
    """A confirmed import running on the appliance's loop: a big file takes longer than a
    browser waits for one answer (100,000 rows: about a minute on a Pi), so the page that
    follows shows its progress from here (memory, not the database) until it is done."""

    owner: str
    filename: str
    group_id: int | None
    written: int = 0
    total: int = 0
    done: dict[str, Any] | None = None
    failed: str = ""
    finished_at: float = 0.0
    task: asyncio.Task | None = field(default=None, repr=False)


def _jobs(request: Request) -> dict[str, ImportJob]:
    ctx = request.app.ctx
    jobs = getattr(ctx, "contacts_import_jobs", None)
    if jobs is None:
        jobs = ctx.contacts_import_jobs = {}
    now = time.monotonic()
    for token in [t for t, j in jobs.items() if j.finished_at and now - j.finished_at > 3600]:
        del jobs[token]
    return jobs


async def _run_job(request: Request, job: ImportJob, token: str, upload,  # noqa: ANN001
                   update_existing: bool, detail: str) -> None:
    def progress(written: int, total: int) -> None:
        job.written, job.total = written, total

    try:
        job.done = await service.run_import(
            request.app.ctx.appliance.store, upload.table, upload.roles, _region(request),
            update_existing=update_existing,
            group_ids=[job.group_id] if job.group_id else [], detail=detail,
            progress=progress)
    except book.GroupNotFound:
        job.failed = text(request, "A chosen group no longer exists.")
    except Exception:  # noqa: BLE001 - said on the page; the rows written so far stay
        log.exception("contacts import from %s failed", upload.filename)
        job.failed = text(request, "The import stopped on an error after {n} rows; the rows "
                                   "before were saved.", n=job.written)
    finally:
        # What reached the address book, also when the import stopped part way.
        figures = ({k: job.done.get(k, 0) for k in ("created", "updated", "skipped",
                                                     "conflicts")}
                   if job.done else {"written": job.written, "stopped": True})
        audit_change(request, "contact.import",
                     f"groups:{job.group_id}" if job.group_id else "contacts",
                     {"file": upload.filename, **figures})
        job.finished_at = time.monotonic()
        await asyncio.to_thread(_stash(request).drop, job.owner, token)


async def confirm(request: Request, token: str) -> HTTPResponse:
    jobs = _jobs(request)
    if token in jobs:  # confirmed twice (a double click, a reload): one import
        return redirect(f"/console/contacts/import/{token}/done")
    upload = await _upload(request, token)
    if upload is None:
        return _gone(request)
    if not upload.roles:
        return redirect(f"/console/contacts/import/{token}")
    form = request.form or {}
    group = form.get("group") or ""
    job = jobs[token] = ImportJob(owner=_owner(request), filename=upload.filename,
                                  group_id=int(group) if group.isdigit() else None)
    detail = f"imported from {upload.filename} in the web console by {request.ctx.user.name}"
    job.task = asyncio.get_running_loop().create_task(_run_job(
        request, job, token, upload, form.get("existing") == "update", detail))
    # A small file is done at once: answer with its result rather than a progress page.
    await asyncio.wait([job.task], timeout=3.0)
    return redirect(f"/console/contacts/import/{token}/done")


async def status(request: Request, token: str) -> HTTPResponse:
    job = _jobs(request).get(token)
    if job is None or not hmac.compare_digest(job.owner, _owner(request)):
        return _gone(request)
    return render(request, "contacts/import_done.html", job=job, done=job.done,
                  filename=job.filename, group_id=job.group_id)


async def cancel(request: Request, token: str) -> HTTPResponse:
    await asyncio.to_thread(_stash(request).drop, _owner(request), token)
    return redirect("/console/contacts")


def add_routes(bp: Blueprint) -> None:
    """The import's pages on the address book's blueprint (changing the book: "send")."""
    token = "<token:str>"  # its shape is checked by the stash (contacts.uploads)
    bp.add_route(page("send")(upload_form), "/contacts/import", methods=["GET"],
                 name="import_form")
    guarded_upload = page("send")(upload)

    add_upload_route(bp, "/contacts/import", guarded_upload, name="import_upload",
                     too_big=lambda request, message: render(
                         request, "contacts/import_upload.html", status=413,
                         errors={"file": message}))
    bp.add_route(page("send")(mapping), f"/contacts/import/{token}", methods=["GET"],
                 name="import_mapping")
    bp.add_route(page("send")(save_mapping), f"/contacts/import/{token}", methods=["POST"],
                 name="import_save_mapping")
    bp.add_route(page("send")(preview), f"/contacts/import/{token}/preview", methods=["GET"],
                 name="import_preview")
    bp.add_route(page("send")(confirm), f"/contacts/import/{token}/confirm",
                 methods=["POST"], name="import_confirm")
    bp.add_route(page("send")(status), f"/contacts/import/{token}/done", methods=["GET"],
                 name="import_status")
    bp.add_route(page("send")(cancel), f"/contacts/import/{token}/cancel",
                 methods=["POST"], name="import_cancel")

    keep_stash(bp, STASH)  # the uploads: opened when the server starts, removed at stop


__all__ = ["add_routes", "problem_text", "split_numbers"]
