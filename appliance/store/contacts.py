"""The address book's persistence: contacts, their numbers, groups and membership.

Knows: the Contact, ContactNumber, ContactGroup and GroupMember tables; that a number belongs to
at most one contact; what a contact or a group looks like to the API and to the rules engine.
Must not know: how numbers are normalised (callers pass the stored form: E.164 when the number
normalises, else as received; `appliance.contacts` does the normalising with the configured
region), HTTP, or the event loop.

Every function is synchronous and runs inside `Store.write` (or `Store.read` for the readers):
the caller supplies the transaction. On SQLite the single writer thread makes "is this number
taken? then insert it" atomic; the UNIQUE index on `contact_number.number` is the last word on
PostgreSQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import peewee

from appliance.store.db import utcnow
from appliance.store.models import Contact, ContactGroup, ContactNumber, GroupMember

MAX_PAGE = 500
_CHUNK = 500  # ids or numbers per IN (...): SQLite bounds the parameters of a statement


class ContactNotFound(LookupError):
    def __init__(self, contact_id: int):
        super().__init__(f"no contact with id {contact_id}")
        self.contact_id = contact_id


class GroupNotFound(LookupError):
    def __init__(self, group_id: int):
        super().__init__(f"no group with id {group_id}")
        self.group_id = group_id


class NumberTaken(ValueError):
    """A number given to a contact already belongs to another one (the API answers 409)."""

    def __init__(self, number: str, contact_id: int, contact_name: str):
        who = f'contact {contact_id} ("{contact_name}")' if contact_name else \
            f"contact {contact_id}"
        super().__init__(f"number {number} already belongs to {who}")
        self.number = number
        self.contact_id = contact_id
        self.contact_name = contact_name


class GroupNameTaken(ValueError):
    def __init__(self, name: str, group_id: int):
        super().__init__(f'a group named "{name}" already exists (id {group_id})')
        self.name = name
        self.group_id = group_id


# -- shapes ----------------------------------------------------------------------------------


def _fields_of(contact: Contact) -> dict[str, Any]:
    try:
        value = json.loads(contact.fields or "{}")
    except ValueError:  # written by hand in the database: show nothing rather than fail
        return {}
    return value if isinstance(value, dict) else {}


def _contact_dicts(contacts: list[Contact]) -> list[dict[str, Any]]:
    """The API's and the rules engine's view of contacts, in three queries whatever their
    number (numbers and groups fetched for all at once)."""
    ids = [c.id for c in contacts]
    numbers: dict[int, list[str]] = {i: [] for i in ids}
    groups: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        for row in (ContactNumber.select(ContactNumber.contact, ContactNumber.number)
                    .where(ContactNumber.contact.in_(ids)).order_by(ContactNumber.id)):
            numbers[row.contact_id].append(row.number)
        for row in (GroupMember.select(GroupMember.contact, ContactGroup.id, ContactGroup.name)
                    .join(ContactGroup).where(GroupMember.contact.in_(ids))
                    .order_by(ContactGroup.name).objects()):
            groups[row.contact_id].append({"id": row.id, "name": row.name})
    return [{
        "id": c.id,
        "name": c.name,
        "numbers": numbers[c.id],
        "groups": groups[c.id],
        "fields": _fields_of(c),
        "note": c.note,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    } for c in contacts]


def _group_dict(group: ContactGroup, members: int) -> dict[str, Any]:
    return {"id": group.id, "name": group.name, "note": group.note, "members": members,
            "created_at": group.created_at}


# -- contacts --------------------------------------------------------------------------------


def _load_contact(contact_id: int) -> Contact:
    contact = Contact.get_or_none(Contact.id == contact_id)
    if contact is None:
        raise ContactNotFound(contact_id)
    return contact


def _check_numbers_free(numbers: Iterable[str], contact_id: int | None) -> None:
    """NumberTaken for the first of `numbers` another contact has."""
    numbers = list(numbers)
    if not numbers:
        return
    query = (ContactNumber.select(ContactNumber.number, Contact.id, Contact.name)
             .join(Contact).where(ContactNumber.number.in_(numbers)))
    if contact_id is not None:
        query = query.where(ContactNumber.contact != contact_id)
    taken = {row.number: row for row in query.objects()}
    for number in numbers:
        if number in taken:
            raise NumberTaken(number, taken[number].id, taken[number].name)


def _set_numbers(contact_id: int, numbers: list[str]) -> None:
    ContactNumber.delete().where(ContactNumber.contact == contact_id).execute()
    if numbers:
        ContactNumber.insert_many(
            [{"contact": contact_id, "number": n} for n in numbers]).execute()


def _unique(numbers: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(numbers))  # the same number twice in one request is one number


def create_contact(name: str, numbers: Iterable[str] = (), *, note: str = "",
                   fields: dict[str, Any] | None = None,
                   group_ids: Iterable[int] = ()) -> dict[str, Any]:
    """A new contact with its (already normalised) numbers; NumberTaken when one belongs to
    another contact, GroupNotFound for an unknown group id. Returns it as `get_contact` does."""
    numbers = _unique(numbers)
    _check_numbers_free(numbers, None)
    group_ids = list(dict.fromkeys(group_ids))
    for gid in group_ids:
        if ContactGroup.get_or_none(ContactGroup.id == gid) is None:
            raise GroupNotFound(gid)
    now = utcnow()
    contact = Contact.create(name=name, note=note, fields=json.dumps(fields or {},
                                                                     ensure_ascii=False),
                             created_at=now, updated_at=now)
    _set_numbers(contact.id, numbers)
    for gid in group_ids:
        GroupMember.create(group=gid, contact=contact.id)
    return get_contact(contact.id)


def get_contact(contact_id: int) -> dict[str, Any]:
    return _contact_dicts([_load_contact(contact_id)])[0]


def update_contact(contact_id: int, *, name: str | None = None,
                   numbers: Iterable[str] | None = None, note: str | None = None,
                   fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """Change what is given (None: unchanged). `numbers` replaces the contact's numbers;
    NumberTaken when one of them belongs to another contact (nothing is changed then)."""
    contact = _load_contact(contact_id)
    changes: dict[str, Any] = {"updated_at": utcnow()}
    if numbers is not None:
        numbers = _unique(numbers)
        _check_numbers_free(numbers, contact_id)
        _set_numbers(contact_id, numbers)
    if name is not None:
        changes["name"] = name
    if note is not None:
        changes["note"] = note
    if fields is not None:
        changes["fields"] = json.dumps(fields, ensure_ascii=False)
    Contact.update(**changes).where(Contact.id == contact.id).execute()
    return get_contact(contact_id)


def delete_contact(contact_id: int) -> None:
    """Delete a contact with its numbers and memberships (ContactNotFound if there is none).
    Explicit deletes rather than ON DELETE CASCADE alone: a PostgreSQL fleet and a SQLite
    file opened without foreign_keys must end the same."""
    _load_contact(contact_id)
    ContactNumber.delete().where(ContactNumber.contact == contact_id).execute()
    GroupMember.delete().where(GroupMember.contact == contact_id).execute()
    Contact.delete().where(Contact.id == contact_id).execute()


def _number_needle(q: str) -> str | None:
    """A typed number without its spaces, dashes and brackets ("138 0013-8000" finds
    +8613800138000), or None when `q` is not digits."""
    squeezed = re.sub(r"[\s().-]", "", q)
    return squeezed if re.fullmatch(r"\+?[0-9]{3,}", squeezed) else None


def _matching(q: str, group_id: int | None) -> peewee.ModelSelect:
    """Contacts whose name or one of whose numbers contains `q`. Three digits or more are
    looked for among numbers only: ORed with the name, the search would walk every contact
    by name for a number that one of them has (measured: 48 ms instead of 12 over 100,000)."""
    query = Contact.select()
    q = q.strip()
    if q:
        # contains(): ILIKE with "%" and "_" in `q` escaped (they mean themselves).
        needle = _number_needle(q)
        with_number = (ContactNumber.select(ContactNumber.contact)
                       .where(ContactNumber.number.contains(needle or q)))
        query = query.where(Contact.id.in_(with_number) if needle else
                            Contact.name.contains(q) | Contact.id.in_(with_number))
    if group_id is not None:
        query = query.where(Contact.id.in_(
            GroupMember.select(GroupMember.contact).where(GroupMember.group == group_id)))
    return query


def list_contacts(q: str = "", *, group_id: int | None = None, limit: int = 50,
                  offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Contacts by name then id, `limit` from `offset`, and how many match in all. `q` matches
    a part of the name or of a number (case-insensitive for the name)."""
    query = _matching(q, group_id)
    total = query.count()
    page = list(query.order_by(Contact.name, Contact.id)
                .limit(max(1, min(limit, MAX_PAGE))).offset(max(0, offset)))
    return _contact_dicts(page), total


def count_contacts(q: str = "", *, group_id: int | None = None) -> int:
    return _matching(q, group_id).count()


def page_contacts(q: str = "", *, group_id: int | None = None, after: int | None = None,
                  before: int | None = None, limit: int = 50) -> dict[str, Any]:
    """A page of contacts by (name, id), keyset-paged so page 2,000 of 100,000 contacts costs
    what page 1 does: the page after the contact `after` or before the contact `before` (an
    id; a contact deleted since is the first page). {"contacts", "has_prev", "has_next"}."""
    limit = max(1, min(limit, MAX_PAGE))
    key = peewee.Tuple(Contact.name, Contact.id)
    query = _matching(q, group_id)
    edge = Contact.get_or_none(Contact.id == (after or before)) if (after or before) else None
    if edge is not None and after:
        query = query.where(key > peewee.Tuple(edge.name, edge.id)).order_by(
            Contact.name, Contact.id)
    elif edge is not None:
        query = query.where(key < peewee.Tuple(edge.name, edge.id)).order_by(
            Contact.name.desc(), Contact.id.desc())
    else:
        query = query.order_by(Contact.name, Contact.id)
    rows = list(query.limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    if edge is not None and before:
        rows.reverse()
        has_prev, has_next = more, True
    else:
        has_prev, has_next = edge is not None, more
    return {"contacts": _contact_dicts(rows), "has_prev": has_prev, "has_next": has_next}


SEARCH_CAP = 5000


def search_contacts(q: str, *, group_id: int | None = None, after: int | None = None,
                    before: int | None = None, limit: int = 50) -> dict[str, Any]:
    """`page_contacts` for a search, with "total" (how many match, at most SEARCH_CAP;
    "capped" when there are more), in one pass over the book: a rare name costs a scan of
    every contact, and a page query then a count would pay it twice. Past SEARCH_CAP matches
    the pages are page_contacts' own (keyset, no total)."""
    limit = max(1, min(limit, MAX_PAGE))
    keys = list(_matching(q, group_id).select(Contact.id).order_by(Contact.name, Contact.id)
                .limit(SEARCH_CAP + 1).tuples())
    capped = len(keys) > SEARCH_CAP
    ids = [k[0] for k in keys[:SEARCH_CAP]]
    where = {cid: i for i, cid in enumerate(ids)}
    if (after is not None and after not in where) or (before is not None and
                                                      before not in where):
        found = page_contacts(q, group_id=group_id, after=after, before=before, limit=limit)
        return {**found, "total": SEARCH_CAP, "capped": True}
    if after is not None:
        start = where[after] + 1
        end = start + limit
    elif before is not None:
        end = where[before]
        start = max(0, end - limit)
    else:
        start, end = 0, limit
    if capped and end > len(ids):  # the page runs past the matches counted: keyset on
        found = page_contacts(q, group_id=group_id, limit=limit,
                              after=ids[start - 1] if start else None)
        return {**found, "total": len(ids), "capped": True}
    chosen = ids[start:end]
    by_id = {c.id: c for c in Contact.select().where(Contact.id.in_(chosen))}
    return {"contacts": _contact_dicts([by_id[i] for i in chosen if i in by_id]),
            "has_prev": start > 0, "has_next": end < len(ids) or capped,
            "total": len(ids), "capped": capped}


def contacts_after(after_id: int, limit: int = 1000, *,
                   group_id: int | None = None) -> list[dict[str, Any]]:
    """Contacts by id after `after_id` (an export reads the whole book a batch at a time)."""
    query = _matching("", group_id).where(Contact.id > after_id)
    return _contact_dicts(list(query.order_by(Contact.id).limit(limit)))


def custom_field_keys(*, group_id: int | None = None) -> list[str]:
    """Every key of the contacts' own fields, in the order first met (an export's columns)."""
    keys: dict[str, None] = {}
    query = _matching("", group_id).select(Contact.fields).where(Contact.fields != "{}")
    for (text,) in query.tuples().iterator():
        try:
            value = json.loads(text or "{}")
        except ValueError:
            continue
        if isinstance(value, dict):
            keys.update(dict.fromkeys(value))
    return list(keys)


def contact_for_number(number: str) -> dict[str, Any] | None:
    """The contact that has `number` (the stored form: E.164, or as received), or None."""
    row = (Contact.select().join(ContactNumber)
           .where(ContactNumber.number == number).first())
    return _contact_dicts([row])[0] if row is not None else None


def contacts_for_numbers(numbers: Iterable[str]) -> dict[str, dict[str, Any]]:
    """{number: {"id", "name"}} for those of `numbers` that belong to a contact (one query
    per 500 numbers: conversation lists and inbox pages name many numbers at once, an import
    tens of thousands, and SQLite bounds the parameters of one statement)."""
    numbers = list(set(numbers))
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(numbers), _CHUNK):
        rows = (ContactNumber.select(ContactNumber.number, Contact.id, Contact.name)
                .join(Contact).where(ContactNumber.number.in_(numbers[i:i + _CHUNK]))
                .objects())
        out.update({r.number: {"id": r.id, "name": r.name} for r in rows})
    return out


def numbers_of_contact(contact_id: int) -> list[str]:
    _load_contact(contact_id)
    return [r.number for r in ContactNumber.select(ContactNumber.number)
            .where(ContactNumber.contact == contact_id).order_by(ContactNumber.id)]


# -- groups ----------------------------------------------------------------------------------


def _load_group(group_id: int) -> ContactGroup:
    group = ContactGroup.get_or_none(ContactGroup.id == group_id)
    if group is None:
        raise GroupNotFound(group_id)
    return group


def _member_count(group_id: int) -> int:
    return GroupMember.select().where(GroupMember.group == group_id).count()


def create_group(name: str, note: str = "") -> dict[str, Any]:
    """A new group; GroupNameTaken when the name is in use."""
    existing = ContactGroup.get_or_none(ContactGroup.name == name)
    if existing is not None:
        raise GroupNameTaken(name, existing.id)
    group = ContactGroup.create(name=name, note=note, created_at=utcnow())
    return _group_dict(group, 0)


def get_group(group_id: int, *, with_members: bool = False) -> dict[str, Any]:
    """A group; `with_members` adds "contacts": its members as `get_contact` shows them."""
    group = _load_group(group_id)
    out = _group_dict(group, _member_count(group_id))
    if with_members:
        members = list(Contact.select().join(GroupMember)
                       .where(GroupMember.group == group_id).order_by(Contact.name, Contact.id))
        out["contacts"] = _contact_dicts(members)
    return out


def group_by_name(name: str) -> dict[str, Any] | None:
    """{"id", "name", "note", "members", "created_at"} of the group named exactly `name`."""
    group = ContactGroup.get_or_none(ContactGroup.name == name)
    return _group_dict(group, _member_count(group.id)) if group is not None else None


def group_names() -> set[str]:
    return {name for (name,) in ContactGroup.select(ContactGroup.name).tuples()}


def list_groups() -> list[dict[str, Any]]:
    # COUNT(group_id), not COUNT(id): the (group, contact) index answers alone (3x faster).
    counts = dict(GroupMember.select(GroupMember.group, peewee.fn.COUNT(GroupMember.group))
                  .group_by(GroupMember.group).tuples())
    return [_group_dict(g, counts.get(g.id, 0))
            for g in ContactGroup.select().order_by(ContactGroup.name)]


def update_group(group_id: int, *, name: str | None = None,
                 note: str | None = None) -> dict[str, Any]:
    group = _load_group(group_id)
    changes: dict[str, Any] = {}
    if name is not None and name != group.name:
        existing = ContactGroup.get_or_none(ContactGroup.name == name)
        if existing is not None:
            raise GroupNameTaken(name, existing.id)
        changes["name"] = name
    if note is not None:
        changes["note"] = note
    if changes:
        ContactGroup.update(**changes).where(ContactGroup.id == group_id).execute()
    return get_group(group_id)


def delete_group(group_id: int) -> None:
    """Delete a group and its memberships (the contacts stay)."""
    _load_group(group_id)
    GroupMember.delete().where(GroupMember.group == group_id).execute()
    ContactGroup.delete().where(ContactGroup.id == group_id).execute()


def add_contacts_to_group(group_id: int, contact_ids: Iterable[int]) -> int:
    """Make the contacts members (already members stay once); returns how many were added.
    GroupNotFound / ContactNotFound name the first unknown id, and nothing is added then."""
    _load_group(group_id)
    contact_ids = list(dict.fromkeys(contact_ids))
    known = {c.id for c in Contact.select(Contact.id).where(Contact.id.in_(contact_ids))}
    for cid in contact_ids:
        if cid not in known:
            raise ContactNotFound(cid)
    already = {m.contact_id for m in GroupMember.select(GroupMember.contact).where(
        (GroupMember.group == group_id) & GroupMember.contact.in_(contact_ids))}
    new = [cid for cid in contact_ids if cid not in already]
    if new:
        GroupMember.insert_many([{"group": group_id, "contact": cid} for cid in new]).execute()
    return len(new)


def remove_contacts_from_group(group_id: int, contact_ids: Iterable[int]) -> int:
    """Returns how many memberships were removed (a non-member is not an error)."""
    _load_group(group_id)
    return GroupMember.delete().where(
        (GroupMember.group == group_id) & GroupMember.contact.in_(list(contact_ids))).execute()


def _contact_id_of(number: str) -> int | None:
    row = ContactNumber.get_or_none(ContactNumber.number == number)
    return row.contact_id if row is not None else None


def contact_id_for_number(number: str, *, create: bool = False) -> int | None:
    """The id of the contact that has `number`; with `create`, a nameless contact with just
    that number is made when there is none."""
    cid = _contact_id_of(number)
    if cid is None and create:
        now = utcnow()
        cid = Contact.create(name="", note="", fields="{}", created_at=now, updated_at=now).id
        ContactNumber.create(contact=cid, number=number)
    return cid


def add_number_to_group(number: str, group_id: int) -> None:
    """Put the contact with `number` in the group; a number with no contact gets a nameless
    contact first. GroupNotFound when the group does not exist."""
    _load_group(group_id)
    cid = contact_id_for_number(number, create=True)
    assert cid is not None
    add_contacts_to_group(group_id, [cid])


def remove_number_from_group(number: str, group_id: int) -> None:
    """Take the contact with `number` out of the group (nothing happens when it has no
    contact or is not a member). GroupNotFound when the group does not exist."""
    _load_group(group_id)
    cid = _contact_id_of(number)
    if cid is not None:
        remove_contacts_from_group(group_id, [cid])


def group_ids_of_number(number: str) -> set[int]:
    """The groups the contact with `number` is in (empty for an unknown number)."""
    return {m.group_id for m in GroupMember.select(GroupMember.group)
            .join(ContactNumber, on=(GroupMember.contact == ContactNumber.contact))
            .where(ContactNumber.number == number)}


# -- import ----------------------------------------------------------------------------------


def group_ids_by_name(names: Iterable[str], *, create: bool) -> tuple[dict[str, int], list[str]]:
    """{name: id} for the groups named, and (with `create`) the names of those made now."""
    names = list(dict.fromkeys(n for n in names if n))
    found: dict[str, int] = {}
    for i in range(0, len(names), _CHUNK):
        found.update({g.name: g.id for g in ContactGroup.select(ContactGroup.id, ContactGroup.name)
                      .where(ContactGroup.name.in_(names[i:i + _CHUNK]))})
    made = [n for n in names if n not in found] if create else []
    for name in made:
        found[name] = ContactGroup.create(name=name, note="", created_at=utcnow()).id
    return found, made


# Rows as tuples of these: peewee builds a multi-row INSERT from tuples several times faster
# than from dicts (an import writes 100,000 rows).
_CONTACT_COLUMNS = [Contact.name, Contact.note, Contact.fields, Contact.created_at,
                    Contact.updated_at]


def _insert_contacts(rows: list[tuple[Any, ...]]) -> list[int]:
    """Insert contacts in a few statements; their ids in order. PostgreSQL says them
    (RETURNING); SQLite gives a multi-row INSERT consecutive rowids after the largest (one
    writer, no AUTOINCREMENT gaps), which is checked rather than trusted."""
    db = Contact._meta.database
    ids: list[int] = []
    for i in range(0, len(rows), 100):  # 5 parameters a row: under SQLite's bound
        chunk = rows[i:i + 100]
        insert = Contact.insert_many(chunk, fields=_CONTACT_COLUMNS)
        if db.returning_clause:
            ids += [r.id for r in insert.returning(Contact.id).execute()]
            continue
        last = insert.execute()
        first = last - len(chunk) + 1
        if Contact.select().where(Contact.id.between(first, last)).count() != len(chunk):
            raise RuntimeError("contact ids of a bulk insert are not consecutive")
        ids += range(first, last + 1)
    return ids


def import_contacts(items: list[dict[str, Any]], *, update_existing: bool,
                    group_ids: Iterable[int] = (), consent_detail: str = "") -> dict[str, Any]:
    """One batch of an import, in the caller's transaction. Each item is {"name", "numbers"
    (stored form, unique in the batch), "groups" (names), "consent" (a state or None),
    "note" (or None), "fields"}. An item whose numbers nobody has becomes a contact; one whose
    numbers belong to one contact updates it (`update_existing`: a name or note given
    replaces, numbers, groups and fields are added) or is skipped; one whose numbers belong
    to two contacts is skipped as a conflict. Groups named and missing are made; every item
    imported also joins `group_ids`. Consent given is recorded with source "imported".
    Returns {"created", "updated", "skipped", "conflicts", "groups_made"}."""
    from appliance.store import consent as consent_store  # a sibling; imported where used

    owners = contacts_for_numbers(n for item in items for n in item["numbers"])
    by_name, made = group_ids_by_name((g for item in items for g in item["groups"]),
                                      create=True)
    extra = list(dict.fromkeys(group_ids))
    for gid in extra:
        _load_group(gid)
    out: dict[str, Any] = {"created": 0, "updated": 0, "skipped": 0, "conflicts": 0,
                           "groups_made": made}
    now = utcnow()
    placed: list[tuple[int, dict[str, Any]]] = []  # (contact id, item) of every item written
    fresh: list[dict[str, Any]] = []
    touched: list[int] = []
    claimed: set[str] = set()  # numbers of this batch's new contacts
    for item in items:
        ids = {owners[n]["id"] for n in item["numbers"] if n in owners}
        if len(ids) > 1:
            out["conflicts"] += 1
        elif ids and not update_existing:
            out["skipped"] += 1
        elif ids:
            cid = ids.pop()
            contact = Contact.get_by_id(cid)
            changes: dict[str, Any] = {"updated_at": now}
            if item["name"]:
                changes["name"] = item["name"]
            if item.get("note"):
                changes["note"] = item["note"]
            if item["fields"]:
                changes["fields"] = json.dumps({**_fields_of(contact), **item["fields"]},
                                               ensure_ascii=False)
            Contact.update(**changes).where(Contact.id == cid).execute()
            touched.append(cid)
            placed.append((cid, item))
            out["updated"] += 1
        elif claimed.isdisjoint(item["numbers"]):
            claimed.update(item["numbers"])
            fresh.append(item)
        else:
            out["skipped"] += 1  # a number twice in one batch: the planner prevents it
    new_ids = _insert_contacts([
        (item["name"], item.get("note") or "", json.dumps(item["fields"], ensure_ascii=False),
         now, now) for item in fresh])
    placed += zip(new_ids, fresh, strict=True)
    out["created"] = len(fresh)
    numbers = [(cid, n) for cid, item in placed for n in item["numbers"] if n not in owners]
    for i in range(0, len(numbers), _CHUNK):
        ContactNumber.insert_many(numbers[i:i + _CHUNK],
                                  fields=[ContactNumber.contact, ContactNumber.number]).execute()
    members = {(by_name[g], cid) for cid, item in placed for g in item["groups"]}
    members |= {(gid, cid) for cid, _ in placed for gid in extra}
    if touched and members:
        for i in range(0, len(touched), _CHUNK):
            members -= set(GroupMember.select(GroupMember.group, GroupMember.contact)
                           .where(GroupMember.contact.in_(touched[i:i + _CHUNK])).tuples())
    rows = sorted(members)
    for i in range(0, len(rows), _CHUNK):
        GroupMember.insert_many(rows[i:i + _CHUNK],
                                fields=[GroupMember.group, GroupMember.contact]).execute()
    consent = {n: item["consent"] for _, item in placed if item.get("consent")
               for n in item["numbers"]}
    if consent:
        consent_store.record_states(consent, "imported", consent_detail, now)
    return out


__all__ = [
    "ContactNotFound", "GroupNameTaken", "GroupNotFound", "NumberTaken",
    "add_contacts_to_group", "add_number_to_group", "contact_for_number",
    "contact_id_for_number", "contacts_after", "contacts_for_numbers", "count_contacts",
    "create_contact", "create_group", "custom_field_keys", "group_ids_by_name", "group_names",
    "import_contacts", "page_contacts", "search_contacts",
    "delete_contact", "delete_group", "get_contact", "get_group", "group_by_name",
    "group_ids_of_number", "list_contacts", "list_groups", "numbers_of_contact",
    "remove_contacts_from_group", "remove_number_from_group", "update_contact", "update_group",
]
