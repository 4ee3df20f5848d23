"""The address book in the console: contacts (list, search, add, edit, delete), groups (list,
add, rename, delete, members), export; the import pages are `contacts_import`'s, mounted on
the same blueprint.

Knows: the forms, which action each needs (reading: "read"; changing: "send", so operators
keep their own book; exporting the whole book: "send" too — a viewer may look it up, not carry
it away), and how a refusal of the store becomes a message next to its field.
Must not know: SQL (store.contacts, store.consent), how numbers are normalised
(contacts.numbers.stored_number: the one rule the API uses too).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw, redirect

from appliance.api.jsonbody import MAX_NAME, MAX_NOTE
from appliance.console_web import contacts_import
from appliance.console_web.audited import audit_change
from appliance.console_web.guard import page
from appliance.console_web.render import render, text
from appliance.contacts import service, tabular
from appliance.contacts.numbers import InvalidNumber, stored_number
from appliance.store import consent as consent_store
from appliance.store import contacts as book

bp = Blueprint("console_contacts", url_prefix="/console")

PAGE = 50
MAX_NUMBERS = 20  # per contact, as api.contacts
MAX_FIELDS = 50
MAX_FIELD_KEY = 64
MAX_FIELD_VALUE = 4000
MAX_MEMBERS_PASTED = 5000
CONSENT_CHOICES = ("unknown", "granted", "withdrawn")
EXPORT_HEADERS = {"name": "Name", "numbers": "Numbers", "groups": "Groups",
                  "consent": "Consent", "note": "Note"}


def _store(request: Request):  # noqa: ANN202 - the appliance's writer.Store
    return request.app.ctx.appliance.store


def _region(request: Request) -> str:
    return request.app.ctx.appliance.config.contacts.default_region


def _id_arg(request: Request, name: str) -> int | None:
    raw_value = request.args.get(name, "")
    return int(raw_value) if raw_value.isdigit() and 0 < int(raw_value) < 2**63 else None


def _staff_detail(request: Request) -> str:
    return f"entered in the web console by {request.ctx.user.name}"


# -- the list --------------------------------------------------------------------------------


@bp.get("/contacts")
@page("read")
async def contacts(request: Request) -> HTTPResponse:
    q = (request.args.get("q") or "").strip()[:100]
    group_id = _id_arg(request, "group")
    after, before = _id_arg(request, "after"), _id_arg(request, "before")

    def load() -> tuple[dict[str, Any], int, list[dict[str, Any]]]:
        if q:
            found = book.search_contacts(q, group_id=group_id, after=after, before=before,
                                         limit=PAGE)
            total = found["total"]
        else:
            found = book.page_contacts(q, group_id=group_id, after=after, before=before,
                                       limit=PAGE)
            total = book.count_contacts(group_id=group_id)
        service.with_consent(found["contacts"])
        return found, total, book.list_groups()

    found, total, groups = await _store(request).read(load)
    rows = found["contacts"]
    base = {k: v for k, v in (("q", q), ("group", group_id or "")) if v}
    prev_url = next_url = ""
    if found["has_prev"] and rows:
        prev_url = "/console/contacts?" + urlencode({**base, "before": rows[0]["id"]})
    if found["has_next"] and rows:
        next_url = "/console/contacts?" + urlencode({**base, "after": rows[-1]["id"]})
    return render(request, "contacts/list.html", contacts=rows, total=total, q=q,
                  capped=found.get("capped", False),
                  group_id=group_id, groups=groups, prev_url=prev_url, next_url=next_url,
                  first_url="/console/contacts?" + urlencode(base) if after or before else "",
                  deleted=request.args.get("deleted") == "1")


# -- one contact -----------------------------------------------------------------------------


def _blank_form() -> dict[str, Any]:
    return {"id": None, "name": "", "numbers": [], "groups": [], "fields": {}, "note": "",
            "consent": {"state": "unknown", "source": None, "at": None, "numbers": {}}}


def _form_view(contact: dict[str, Any]) -> dict[str, Any]:
    """What the form shows: the contact's values and a few empty rows to type more into."""
    return {
        "id": contact["id"], "name": contact["name"], "note": contact["note"],
        "numbers": list(contact["numbers"]) + [""] * (1 if contact["numbers"] else 2),
        "group_ids": {g["id"] for g in contact["groups"]},
        "fields": [(str(k), "" if v is None else str(v)) for k, v in contact["fields"].items()]
        + [("", "")] * 2,
        "consent": contact["consent"]["state"],
        "consent_info": contact["consent"],
    }


async def _contact_page(request: Request, form: dict[str, Any], *, status: int = 200,
                        errors: dict[str, str] | None = None,
                        saved: bool = False) -> HTTPResponse:
    groups = await _store(request).read(book.list_groups)
    return render(request, "contacts/contact.html", status=status, form=form, groups=groups,
                  errors=errors or {}, consent_choices=CONSENT_CHOICES, saved=saved,
                  max_numbers=MAX_NUMBERS)


def _read_form(request: Request, current_consent: str) -> tuple[dict[str, Any], dict[str, str],
                                                                 dict[str, Any]]:
    """(what the form shows again, errors by field, the values to store)."""
    # Blank inputs kept: the n-th number or field input must stay the n-th, or an error
    # would land next to the wrong one (and a key would meet another row's value).
    form = request.get_form(keep_blank_values=True) or {}
    region = _region(request)
    errors: dict[str, str] = {}
    name = (form.get("name") or "").strip()
    note = (form.get("note") or "").strip()
    raw_numbers = [n.strip() for n in form.getlist("number", [])]
    keys = [k.strip() for k in form.getlist("field_key", [])]
    values = [v.strip() for v in form.getlist("field_value", [])]
    values += [""] * (len(keys) - len(values))  # a browser sends both; a script might not
    keys += [""] * (len(values) - len(keys))
    consent = form.get("consent") or current_consent
    group_ids = {int(g) for g in form.getlist("group", []) if g.isdigit()}
    if len(name) > MAX_NAME:
        errors["name"] = text(request, "At most {n} characters.", n=MAX_NAME)
    if len(note) > MAX_NOTE:
        errors["note"] = text(request, "At most {n} characters.", n=MAX_NOTE)
    numbers: list[str] = []
    for i, raw_number in enumerate(raw_numbers):
        if not raw_number:
            continue
        try:
            numbers.append(stored_number(raw_number, region))
        except InvalidNumber:
            errors[f"number-{i}"] = text(request, "Not a valid phone number.")
    if not any(raw_numbers):
        errors["number-0"] = text(request, "Enter at least one phone number.")
    elif len(dict.fromkeys(numbers)) > MAX_NUMBERS:
        errors["numbers"] = text(request, "At most {n} numbers per contact.", n=MAX_NUMBERS)
    fields: dict[str, str] = {}
    for i, (key, value) in enumerate(zip(keys, values, strict=True)):
        if not key and not value:
            continue
        if not key:
            errors[f"field-{i}"] = text(request, "Give the field a name.")
        elif len(key) > MAX_FIELD_KEY or len(value) > MAX_FIELD_VALUE:
            errors[f"field-{i}"] = text(request, "Too long: a name of at most {k} characters, "
                                                 "a value of at most {v}.",
                                        k=MAX_FIELD_KEY, v=MAX_FIELD_VALUE)
        elif key in fields:
            errors[f"field-{i}"] = text(request, "This field name is used twice.")
        else:
            fields[key] = value
    if len(fields) > MAX_FIELDS:
        errors["fields"] = text(request, "At most {n} fields.", n=MAX_FIELDS)
    if consent not in CONSENT_CHOICES and consent != "mixed":
        errors["consent"] = text(request, "Choose one of the listed states.")
    pairs = list(zip(keys, values, strict=True))
    while raw_numbers and not raw_numbers[-1]:
        raw_numbers.pop()  # the form is shown again with one empty input, not a pile of them
    while pairs and pairs[-1] == ("", ""):
        pairs.pop()
    shown = {"name": name, "note": note, "numbers": raw_numbers + [""],
             "group_ids": group_ids, "fields": pairs + [("", "")], "consent": consent}
    store_values = {"name": name, "note": note, "numbers": numbers, "fields": fields,
                    "group_ids": group_ids, "consent": consent}
    return shown, errors, store_values


def _number_taken(request: Request, shown: dict[str, Any], exc: book.NumberTaken,
                  region: str) -> dict[str, str]:
    """The error next to the input that holds the taken number."""
    for i, raw_number in enumerate(shown["numbers"]):
        try:
            if raw_number and stored_number(raw_number, region) == exc.number:
                key = f"number-{i}"
                break
        except InvalidNumber:
            continue
    else:
        key = "numbers"
    return {key: text(request, "This number already belongs to {name}.",
                      name=exc.contact_name or f"#{exc.contact_id}"),
            f"{key}-owner": str(exc.contact_id)}


def _save(contact_id: int | None, values: dict[str, Any], consent_was: str,
          detail: str) -> dict[str, Any]:
    """Create or update in one transaction (the writer thread): the contact, its groups, its
    consent when the form changed it."""
    if contact_id is None:
        contact = book.create_contact(values["name"], values["numbers"], note=values["note"],
                                      fields=values["fields"],
                                      group_ids=sorted(values["group_ids"]))
    else:
        contact = book.update_contact(contact_id, name=values["name"],
                                      numbers=values["numbers"], note=values["note"],
                                      fields=values["fields"])
        had = {g["id"] for g in contact["groups"]}
        known = {g["id"] for g in book.list_groups()}
        for gid in sorted((values["group_ids"] & known) - had):
            book.add_contacts_to_group(gid, [contact_id])
        for gid in sorted(had - values["group_ids"]):
            book.remove_contacts_from_group(gid, [contact_id])
        contact = book.get_contact(contact_id)
    consent = values["consent"]
    changed = consent != consent_was and consent in CONSENT_CHOICES
    return service.set_consent(contact, (consent, "staff") if changed else None, detail)


@bp.get("/contacts/new")
@page("send")
async def new_contact(request: Request) -> HTTPResponse:
    form = _form_view(_blank_form())
    group_id = _id_arg(request, "group")
    if group_id:
        form["group_ids"] = {group_id}
    return await _contact_page(request, form)


async def _submit(request: Request, contact_id: int | None) -> HTTPResponse:
    store = _store(request)
    current = None
    if contact_id is not None:
        try:
            current = await store.read(lambda: service.with_consent(
                [book.get_contact(contact_id)])[0])
        except book.ContactNotFound:
            return await _not_found(request)
    consent_was = current["consent"]["state"] if current else "unknown"
    shown, errors, values = _read_form(request, consent_was)
    shown["id"] = contact_id
    shown["consent_info"] = current["consent"] if current else _blank_form()["consent"]
    if not errors:
        detail = _staff_detail(request)
        try:
            saved = await store.write(lambda: _save(contact_id, values, consent_was, detail))
        except book.NumberTaken as exc:
            errors = _number_taken(request, shown, exc, _region(request))
        except book.GroupNotFound:
            errors = {"groups": text(request, "A chosen group no longer exists.")}
        except book.ContactNotFound:
            return await _not_found(request)
        else:
            audit_change(request, "contact.create" if contact_id is None else "contact.update",
                         f"contacts:{saved['id']}", {"numbers": saved.get("numbers")})
            if contact_id is None:
                return redirect(f"/console/contacts/{saved['id']}?saved=1")
            return await _contact_page(request, _form_view(saved), saved=True)
    return await _contact_page(request, shown, status=400, errors=errors)


@bp.post("/contacts")
@page("send")
async def create_contact(request: Request) -> HTTPResponse:
    return await _submit(request, None)


async def _not_found(request: Request) -> HTTPResponse:
    return render(request, "contacts/missing.html", status=404,
                  message=text(request, "No such contact: it may have been deleted."))


@bp.get("/contacts/<contact_id:int>")
@page("read")
async def show_contact(request: Request, contact_id: int) -> HTTPResponse:
    try:
        contact = await _store(request).read(lambda: service.with_consent(
            [book.get_contact(contact_id)])[0])
    except book.ContactNotFound:
        return await _not_found(request)
    return await _contact_page(request, _form_view(contact),
                               saved=request.args.get("saved") == "1")


@bp.post("/contacts/<contact_id:int>")
@page("send")
async def update_contact(request: Request, contact_id: int) -> HTTPResponse:
    return await _submit(request, contact_id)


@bp.post("/contacts/<contact_id:int>/delete")
@page("send")
async def delete_contact(request: Request, contact_id: int) -> HTTPResponse:
    try:
        await _store(request).write(lambda: book.delete_contact(contact_id))
    except book.ContactNotFound:
        pass  # deleted twice (two tabs): the outcome the user wanted
    else:
        audit_change(request, "contact.delete", f"contacts:{contact_id}")
    return redirect("/console/contacts?deleted=1")


# -- groups ----------------------------------------------------------------------------------


async def _groups_page(request: Request, *, status: int = 200,
                       errors: dict[str, str] | None = None, name: str = "") -> HTTPResponse:
    groups = await _store(request).read(book.list_groups)
    return render(request, "contacts/groups.html", status=status, groups=groups,
                  errors=errors or {}, name=name)


def _group_name(request: Request) -> tuple[str, str | None]:
    name = ((request.form or {}).get("name") or "").strip()
    if not name:
        return name, text(request, "Give the group a name.")
    if len(name) > MAX_NAME:
        return name, text(request, "At most {n} characters.", n=MAX_NAME)
    return name, None


@bp.get("/groups")
@page("read")
async def groups(request: Request) -> HTTPResponse:
    return await _groups_page(request)


@bp.post("/groups")
@page("send")
async def create_group(request: Request) -> HTTPResponse:
    name, error = _group_name(request)
    if error:
        return await _groups_page(request, status=400, errors={"name": error}, name=name)
    try:
        made = await _store(request).write(lambda: book.create_group(name))
    except book.GroupNameTaken:
        return await _groups_page(request, status=400, name=name, errors={
            "name": text(request, "A group of that name exists already.")})
    audit_change(request, "group.create", f"groups:{made['id']}", {"name": name})
    return redirect(f"/console/groups/{made['id']}")


async def _group_page(request: Request, group_id: int, *, status: int = 200,
                      errors: dict[str, str] | None = None,
                      notice: str = "", form: dict[str, str] | None = None) -> HTTPResponse:
    after, before = _id_arg(request, "after"), _id_arg(request, "before")
    q = (request.args.get("q") or "").strip()[:100]

    def load() -> tuple[dict[str, Any], dict[str, Any], int]:
        group = book.get_group(group_id)
        if q:
            found = book.search_contacts(q, group_id=group_id, after=after, before=before,
                                         limit=PAGE)
        else:
            found = book.page_contacts(group_id=group_id, after=after, before=before,
                                       limit=PAGE)
        service.with_consent(found["contacts"])
        return group, found, found.get("total", group["members"])

    try:
        group, found, total = await _store(request).read(load)
    except book.GroupNotFound:
        return render(request, "contacts/missing.html", status=404,
                      message=text(request, "No such group: it may have been deleted."))
    rows = found["contacts"]
    here = f"/console/groups/{group_id}?"
    base = {"q": q} if q else {}
    prev_url = here + urlencode({**base, "before": rows[0]["id"]}) \
        if found["has_prev"] and rows else ""
    next_url = here + urlencode({**base, "after": rows[-1]["id"]}) \
        if found["has_next"] and rows else ""
    return render(request, "contacts/group.html", status=status, group=group, contacts=rows,
                  total=total, q=q, prev_url=prev_url, next_url=next_url,
                  errors=errors or {}, notice=notice, form=form or {})


@bp.get("/groups/<group_id:int>")
@page("read")
async def show_group(request: Request, group_id: int) -> HTTPResponse:
    return await _group_page(request, group_id)


@bp.post("/groups/<group_id:int>/rename")
@page("send")
async def rename_group(request: Request, group_id: int) -> HTTPResponse:
    name, error = _group_name(request)
    if error is None:
        try:
            await _store(request).write(lambda: book.update_group(group_id, name=name))
        except book.GroupNameTaken:
            error = text(request, "A group of that name exists already.")
        except book.GroupNotFound:
            return await _group_page(request, group_id, status=404)
        else:
            audit_change(request, "group.rename", f"groups:{group_id}", {"name": name})
            return redirect(f"/console/groups/{group_id}")
    return await _group_page(request, group_id, status=400, errors={"name": error},
                             form={"name": name})


@bp.post("/groups/<group_id:int>/delete")
@page("send")
async def delete_group(request: Request, group_id: int) -> HTTPResponse:
    try:
        await _store(request).write(lambda: book.delete_group(group_id))
    except book.GroupNotFound:
        pass
    else:
        audit_change(request, "group.delete", f"groups:{group_id}")
    return redirect("/console/groups")


@bp.post("/groups/<group_id:int>/members")
@page("send")
async def add_members(request: Request, group_id: int) -> HTTPResponse:
    """Numbers pasted (any common separator): each one's contact joins the group; a number
    nobody has gets a nameless contact, as the API does. A wrong number is named and nothing
    is added."""
    pasted = ((request.form or {}).get("numbers") or "")
    region = _region(request)
    parts = [p for p in contacts_import.split_numbers(pasted)]
    numbers, bad = [], []
    for part in parts:
        try:
            numbers.append(stored_number(part, region))
        except InvalidNumber:
            bad.append(part)
    error = ""
    if not parts:
        error = text(request, "Enter at least one phone number.")
    elif bad:
        error = text(request, "Not valid phone numbers: {numbers}",
                     numbers=", ".join(bad[:10]) + (" …" if len(bad) > 10 else ""))
    elif len(numbers) > MAX_MEMBERS_PASTED:
        error = text(request, "At most {n} numbers at a time.", n=MAX_MEMBERS_PASTED)
    if error:
        return await _group_page(request, group_id, status=400, errors={"numbers": error},
                                 form={"numbers": pasted})
    numbers = list(dict.fromkeys(numbers))

    def add() -> None:
        for n in numbers:
            book.add_number_to_group(n, group_id)

    try:
        await _store(request).write(add)
    except book.GroupNotFound:
        return await _group_page(request, group_id, status=404)
    audit_change(request, "group.members.add", f"groups:{group_id}",
                 {"numbers": len(numbers)})
    return await _group_page(request, group_id, notice=text(
        request, "Numbers added to the group: {n}.", n=len(numbers)))


@bp.post("/groups/<group_id:int>/members/remove")
@page("send")
async def remove_member(request: Request, group_id: int) -> HTTPResponse:
    contact_id = (request.form or {}).get("contact_id") or ""
    if contact_id.isdigit():
        try:
            await _store(request).write(
                lambda: book.remove_contacts_from_group(group_id, [int(contact_id)]))
        except book.GroupNotFound:
            return await _group_page(request, group_id, status=404)
        audit_change(request, "group.members.remove", f"groups:{group_id}",
                     {"contact_id": int(contact_id)})
    return redirect(f"/console/groups/{group_id}")


# -- export ----------------------------------------------------------------------------------


@bp.get("/contacts/export")
@page("send")
async def export(request: Request) -> HTTPResponse:
    fmt = request.args.get("format", "csv")
    group_id = _id_arg(request, "group")
    if fmt not in ("csv", "xlsx"):
        fmt = "csv"
    name = "contacts"
    if group_id is not None:
        try:
            await _store(request).read(lambda: book.get_group(group_id))
        except book.GroupNotFound:
            return render(request, "contacts/missing.html", status=404,
                          message=text(request, "No such group: it may have been deleted."))
        name = f"group-{group_id}"
    keys, rows = await service.export_table(_store(request), group_id=group_id)
    headers = [text(request, EXPORT_HEADERS[k]) if k in EXPORT_HEADERS and i < 5 else k
               for i, k in enumerate(keys)]
    states = {s: text(request, s) for s in ("granted", "withdrawn")}
    for row in rows:
        row[3] = states.get(row[3], row[3])
    # Built off the event loop: 100,000 contacts take seconds as XLSX on a Pi.
    if fmt == "xlsx":
        body = await asyncio.to_thread(tabular.write_xlsx, headers, rows,
                                       sheet_title=text(request, "Contacts"))
        mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body = await asyncio.to_thread(tabular.write_csv, headers, rows)
        mime = "text/csv; charset=utf-8"
    # Personal data leaving the box: who took which part of the address book, and how much.
    audit_change(request, "contact.export", f"groups:{group_id}" if group_id else "contacts",
                 {"format": fmt, "contacts": len(rows)})
    return raw(body, content_type=mime, headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
        "Cache-Control": "no-store"})


contacts_import.add_routes(bp)

__all__ = ["bp"]

# consent_store is imported for its STATES in templates' choices staying in step.
assert set(CONSENT_CHOICES) == set(consent_store.STATES)
