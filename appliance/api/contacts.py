"""The address book over JSON: `/api/v1/contacts` and `/api/v1/groups`.

Knows: the JSON shapes of contacts and groups, and which store function each request becomes.
Must not know: SQL (store.contacts), how numbers are normalised (api.jsonbody and
contacts.numbers, with `[contacts] default_region`).

Scopes: reading needs "read", changing needs "admin".

Numbers are stored normalised (E.164; sender ids and short codes as given), so "138 0013 8000",
"13800138000" and "+86 138-0013-8000" are one number. A number belongs to at most one contact:
giving it to a second one answers 409 "number_taken", naming the number and the contact that
has it (`contact_id`), and nothing is changed.

PUT replaces a contact (a field left out takes its empty value); PATCH changes only the fields
given.

Consent (policy.consent: marketing goes only to numbers that may get it): a contact shows
`consent: {state, source, at, numbers}` from its numbers' records; POST/PUT/PATCH with
`"consent": "granted" | "withdrawn" | "unknown"` (or {"state", "source"}) sets it for every
number of the contact, recorded with source "staff" (or "imported", for an import tool that
brings consent collected elsewhere). A PUT without "consent" leaves it as it is: consent belongs
to the number, not to this record.

Membership: POST /groups/{id}/members with {"numbers": [...]} and/or {"contact_ids": [...]}:
a number nobody has gets a nameless contact; DELETE with the same body (or
?number=...&contact_id=... in the query) takes them out.
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import JSONResponse, json

from appliance.api import jsonbody as jb
from appliance.api.auth import require_scope
from appliance.api.errors import ApiError
from appliance.contacts.service import set_consent, with_consent
from appliance.store import consent as consent_store
from appliance.store import contacts as book

bp = Blueprint("contacts", url_prefix="/api/v1")

CONTACT_FIELDS = {"name", "numbers", "note", "fields", "groups", "consent"}
CONSENT_FIELDS = {"state", "source"}
CONSENT_SOURCES = ("staff", "imported")  # "reply" is the rules engine's to write
GROUP_FIELDS = {"name", "note"}
MEMBER_FIELDS = {"numbers", "contact_ids"}
MAX_NUMBERS = 20  # per contact
MAX_MEMBERS = 10_000  # per request


def contact_view(c: dict[str, Any]) -> dict[str, Any]:
    out = {"id": c["id"], "name": c["name"], "numbers": c["numbers"], "groups": c["groups"],
           "fields": c["fields"], "note": c["note"], "created_at": jb.iso(c["created_at"]),
           "updated_at": jb.iso(c["updated_at"])}
    if "consent" in c:
        out["consent"] = {**c["consent"], "at": jb.iso(c["consent"]["at"])}
    return out


def _consent_input(body: dict[str, Any]) -> tuple[str, str] | None:
    """(state, source) a body sets, or None when it says nothing of consent."""
    if "consent" not in body:
        return None
    value = body["consent"]
    if isinstance(value, str):
        value = {"state": value}
    if not isinstance(value, dict) or set(value) - CONSENT_FIELDS or "state" not in value:
        raise jb.bad("consent", 'must be a state ("granted", "withdrawn", "unknown") or '
                                '{"state", "source"}')
    if value["state"] not in consent_store.STATES:
        raise jb.bad("consent", f"state must be one of {', '.join(consent_store.STATES)}")
    source = value.get("source", "staff")
    if source not in CONSENT_SOURCES:
        raise jb.bad("consent", f"source must be one of {', '.join(CONSENT_SOURCES)}")
    return value["state"], source


def _set_consent(contact: dict[str, Any], consent: tuple[str, str] | None) -> dict[str, Any]:
    """In the store's thread, in the same transaction as the contact's change."""
    detail = "entered through the contacts API" if consent and consent[1] == "staff" \
        else "imported"
    return set_consent(contact, consent, detail)


def group_view(g: dict[str, Any]) -> dict[str, Any]:
    out = {"id": g["id"], "name": g["name"], "note": g["note"], "members": g["members"],
           "created_at": jb.iso(g["created_at"])}
    if "contacts" in g:
        out["contacts"] = [contact_view(c) for c in g["contacts"]]
    return out


MAX_ID = 2**63 - 1  # larger ids cannot exist (integer keys), nor be queried (SQLite overflows)


def _check_id(kind: str, value: int) -> None:
    if not 0 < value <= MAX_ID:
        raise ApiError(404, "not_found", f"no {kind} with id {value}")


def _store(request: Request):  # noqa: ANN202 - the appliance's writer.Store
    return request.app.ctx.appliance.store


async def _run(request: Request, fn, *, write: bool = True,  # noqa: ANN001
               named_in: dict[type, str] | None = None) -> Any:
    """Run a store function, turning the address book's refusals into JSON errors.
    `named_in`: an unknown id of that kind came from this body field (400 naming it), not
    from the path (404)."""
    store = _store(request)
    try:
        return await (store.write(fn) if write else store.read(fn))
    except (book.ContactNotFound, book.GroupNotFound) as exc:
        field = (named_in or {}).get(type(exc))
        if field is None:
            raise ApiError(404, "not_found", str(exc)) from None
        raise jb.bad(field, str(exc)) from None
    except book.NumberTaken as exc:
        raise ApiError(409, "number_taken", str(exc), field="numbers", number=exc.number,
                       contact_id=exc.contact_id) from None
    except book.GroupNameTaken as exc:
        raise ApiError(409, "name_taken", str(exc), field="name", group_id=exc.group_id) from None


def _contact_input(request: Request, body: dict[str, Any], *, replace: bool) -> dict[str, Any]:
    """The contact fields a POST/PUT (`replace`: all, defaults for the missing) or a PATCH
    (only those given) sets."""
    region = jb.region(request)
    out: dict[str, Any] = {}
    if "name" in body or replace:
        out["name"] = jb.text(body.get("name", ""), "name", limit=jb.MAX_NAME)
    if "numbers" in body or replace:
        out["numbers"] = jb.numbers(body.get("numbers", []), "numbers", region,
                                    limit=MAX_NUMBERS)
    if "note" in body or replace:
        out["note"] = jb.text(body.get("note", ""), "note", limit=jb.MAX_NOTE)
    if "fields" in body or replace:
        out["fields"] = jb.json_fields(body.get("fields", {}))
    return out


# -- contacts --------------------------------------------------------------------------------


@bp.route("/contacts", methods=["GET", "HEAD"])
@require_scope("read")
async def list_contacts(request: Request) -> JSONResponse:
    limit, offset = jb.limit_offset(request)
    q = jb.text(request.args.get("q", ""), "q", limit=100)
    group = request.args.get("group")
    group_id = jb.query_int(request, "group", 0, low=1) if group else None

    def page_with_consent() -> tuple[list[dict[str, Any]], int]:
        page, total = book.list_contacts(q.strip(), group_id=group_id, limit=limit,
                                         offset=offset)
        return with_consent(page), total

    page, total = await _run(request, page_with_consent, write=False)
    return json({"contacts": [contact_view(c) for c in page], "total": total,
                 "limit": limit, "offset": offset})


@bp.post("/contacts")
@require_scope("admin")
async def create_contact(request: Request) -> JSONResponse:
    body = jb.json_object(request, CONTACT_FIELDS)
    given = _contact_input(request, body, replace=True)
    group_ids = jb.ids(body.get("groups", []), "groups", limit=100)
    consent = _consent_input(body)
    made = await _run(request, lambda: _set_consent(book.create_contact(
        given["name"], given["numbers"], note=given["note"], fields=given["fields"],
        group_ids=group_ids), consent), named_in={book.GroupNotFound: "groups"})
    return json(contact_view(made), status=201)


@bp.route("/contacts/<contact_id:int>", methods=["GET", "HEAD"])
@require_scope("read")
async def get_contact(request: Request, contact_id: int) -> JSONResponse:
    _check_id("contact", contact_id)
    return json(contact_view(await _run(
        request, lambda: with_consent([book.get_contact(contact_id)])[0], write=False)))


@bp.route("/contacts/<contact_id:int>", methods=["PUT", "PATCH"])
@require_scope("admin")
async def update_contact(request: Request, contact_id: int) -> JSONResponse:
    _check_id("contact", contact_id)
    body = jb.json_object(request, CONTACT_FIELDS - {"groups"})
    given = _contact_input(request, body, replace=request.method == "PUT")
    consent = _consent_input(body)
    return json(contact_view(await _run(request, lambda: _set_consent(
        book.update_contact(contact_id, **given), consent))))


@bp.delete("/contacts/<contact_id:int>")
@require_scope("admin")
async def delete_contact(request: Request, contact_id: int) -> JSONResponse:
    _check_id("contact", contact_id)
    await _run(request, lambda: book.delete_contact(contact_id))
    return json({"id": contact_id, "deleted": True})


# -- groups ----------------------------------------------------------------------------------


@bp.route("/groups", methods=["GET", "HEAD"])
@require_scope("read")
async def list_groups(request: Request) -> JSONResponse:
    groups = await _run(request, book.list_groups, write=False)
    return json({"groups": [group_view(g) for g in groups]})


@bp.post("/groups")
@require_scope("admin")
async def create_group(request: Request) -> JSONResponse:
    body = jb.json_object(request, GROUP_FIELDS)
    name = jb.text(body.get("name"), "name", limit=jb.MAX_NAME, required=True)
    note = jb.text(body.get("note", ""), "note", limit=jb.MAX_NOTE)
    made = await _run(request, lambda: book.create_group(name, note))
    return json(group_view(made), status=201)


@bp.route("/groups/<group_id:int>", methods=["GET", "HEAD"])
@require_scope("read")
async def get_group(request: Request, group_id: int) -> JSONResponse:
    _check_id("group", group_id)
    group = await _run(request, lambda: book.get_group(group_id, with_members=True),
                       write=False)
    return json(group_view(group))


@bp.route("/groups/<group_id:int>", methods=["PUT", "PATCH"])
@require_scope("admin")
async def update_group(request: Request, group_id: int) -> JSONResponse:
    _check_id("group", group_id)
    body = jb.json_object(request, GROUP_FIELDS)
    name = None if "name" not in body else jb.text(body["name"], "name", limit=jb.MAX_NAME,
                                                   required=True)
    note = None if "note" not in body else jb.text(body["note"], "note", limit=jb.MAX_NOTE)
    if request.method == "PUT" and name is None:
        raise jb.bad("name", "is required (PUT replaces the group; PATCH changes a part)")
    if request.method == "PUT" and note is None:
        note = ""
    group = await _run(request, lambda: book.update_group(group_id, name=name, note=note))
    return json(group_view(group))


@bp.delete("/groups/<group_id:int>")
@require_scope("admin")
async def delete_group(request: Request, group_id: int) -> JSONResponse:
    _check_id("group", group_id)
    await _run(request, lambda: book.delete_group(group_id))
    return json({"id": group_id, "deleted": True})


def _members_input(request: Request) -> tuple[list[str], list[int]]:
    """Numbers and contact ids from the body, or (for a DELETE without one) the query."""
    region = jb.region(request)
    if request.method == "DELETE" and not request.body:
        raw_numbers = request.args.getlist("number", [])
        try:
            contact_ids = [int(v) for v in request.args.getlist("contact_id", [])]
        except ValueError:
            raise jb.bad("contact_id", "must be a whole number") from None
        numbers = jb.numbers(raw_numbers, "number", region, limit=MAX_MEMBERS)
        contact_ids = jb.ids(contact_ids, "contact_id", limit=MAX_MEMBERS)
    else:
        body = jb.json_object(request, MEMBER_FIELDS)
        numbers = jb.numbers(body.get("numbers", []), "numbers", region, limit=MAX_MEMBERS)
        contact_ids = jb.ids(body.get("contact_ids", []), "contact_ids", limit=MAX_MEMBERS)
    if not numbers and not contact_ids:
        raise jb.bad("numbers", "give numbers and/or contact_ids")
    return numbers, contact_ids


@bp.post("/groups/<group_id:int>/members")
@require_scope("admin")
async def add_members(request: Request, group_id: int) -> JSONResponse:
    _check_id("group", group_id)
    numbers, contact_ids = _members_input(request)

    def add() -> dict[str, Any]:
        for n in numbers:
            book.add_number_to_group(n, group_id)
        book.add_contacts_to_group(group_id, contact_ids)
        return book.get_group(group_id, with_members=True)

    return json(group_view(await _run(request, add,
                                      named_in={book.ContactNotFound: "contact_ids"})))


@bp.delete("/groups/<group_id:int>/members")
@require_scope("admin")
async def remove_members(request: Request, group_id: int) -> JSONResponse:
    _check_id("group", group_id)
    numbers, contact_ids = _members_input(request)

    def remove() -> dict[str, Any]:
        for n in numbers:
            book.remove_number_from_group(n, group_id)
        book.remove_contacts_from_group(group_id, contact_ids)
        return book.get_group(group_id, with_members=True)

    return json(group_view(await _run(request, remove,
                                      named_in={book.ContactNotFound: "contact_ids"})))
