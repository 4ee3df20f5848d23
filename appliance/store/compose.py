"""The compose page's persistence: message templates, recurring send schedules, and the
address-book reads a send needs (a group's members with their names and fields, the contacts
of typed numbers).

Knows: the `message_template` and `send_schedule` tables (migration 16), the contact tables
(read only). A schedule is claimed for one firing by a conditional update of its `next_at`
(only the holder of the value read may move it on), so two runners, or one runner racing a
user's edit, never fire the same occurrence twice.
Must not know: HTTP, cron arithmetic (appliance.compose.schedules computes `next_at`), the
event loop: every function runs inside `Store.read` / `Store.write`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import peewee as pw

from appliance.store.db import utcnow
from appliance.store.models import (
    Contact,
    ContactGroup,
    ContactNumber,
    GroupMember,
    MessageTemplate,
    SendSchedule,
)

MAX_TEMPLATES = 500
MAX_TEMPLATE_NAME = 100  # models.MessageTemplate.name's length
SCHEDULE_STATES = ("active", "paused")


class TemplateProblem(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# -- templates -------------------------------------------------------------------------------


def _template(row: MessageTemplate) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "text": row.text, "category": row.category,
            "created_by": row.created_by, "updated_at": row.updated_at}


def list_templates() -> list[dict[str, Any]]:
    return [_template(r) for r in MessageTemplate.select().order_by(MessageTemplate.name)
            .limit(MAX_TEMPLATES)]


def get_template(template_id: int) -> dict[str, Any] | None:
    row = MessageTemplate.get_or_none(MessageTemplate.id == template_id)
    return _template(row) if row is not None else None


def save_template(name: str, text: str, category: str = "notice", *, created_by: str = "",
                  now: datetime | None = None) -> dict[str, Any]:
    """Save `text` under `name` (replacing the template of that name). TemplateProblem naming
    the field when the name or the text is empty or the name too long."""
    name = (name or "").strip()
    if not name:
        raise TemplateProblem("template_name", "a template needs a name")
    if len(name) > MAX_TEMPLATE_NAME:
        raise TemplateProblem("template_name", f"at most {MAX_TEMPLATE_NAME} characters")
    if not (text or "").strip():
        raise TemplateProblem("text", "the text is empty")
    now = now or utcnow()
    row = MessageTemplate.get_or_none(MessageTemplate.name == name)
    if row is None:
        if MessageTemplate.select().count() >= MAX_TEMPLATES:
            raise TemplateProblem("template_name", f"at most {MAX_TEMPLATES} templates")
        row = MessageTemplate.create(name=name, text=text, category=category,
                                     created_by=created_by, created_at=now, updated_at=now)
    else:
        row.text, row.category, row.updated_at = text, category, now
        row.save()
    return _template(row)


def delete_template(template_id: int) -> bool:
    return MessageTemplate.delete().where(MessageTemplate.id == template_id).execute() > 0


# -- the address book, as a send reads it ----------------------------------------------------


def _fields(raw: str | None) -> dict[str, str]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def group_members(group_ids: Iterable[int]) -> list[dict[str, Any]]:
    """Each contact in the groups once (in the order of `group_ids`, then by name), with its
    first number, name and custom fields: {"contact_id", "number", "name", "fields",
    "group_id"}. A contact without a number is listed with number "" (reported invalid)."""
    ids = [int(g) for g in dict.fromkeys(group_ids)]
    if not ids:
        return []
    first_number = (ContactNumber.select(ContactNumber.contact,
                                         pw.fn.MIN(ContactNumber.id).alias("nid"))
                    .group_by(ContactNumber.contact).alias("fn"))
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    numbers: dict[int, str] = {}
    for group_id in ids:
        rows = list(Contact.select(Contact.id, Contact.name, Contact.fields)
                    .join(GroupMember, on=GroupMember.contact == Contact.id)
                    .where(GroupMember.group == group_id)
                    .order_by(Contact.name, Contact.id))
        missing = [r.id for r in rows if r.id not in numbers]
        for i in range(0, len(missing), 500):
            chunk = missing[i:i + 500]
            query = (ContactNumber.select(ContactNumber.contact, ContactNumber.number)
                     .join(first_number, on=(ContactNumber.id == first_number.c.nid))
                     .where(ContactNumber.contact.in_(chunk)))
            for n in query:
                numbers[n.contact_id] = n.number
        for r in rows:
            if r.id in seen:
                continue
            seen.add(r.id)
            out.append({"contact_id": r.id, "number": numbers.get(r.id, ""), "name": r.name,
                        "fields": _fields(r.fields), "group_id": group_id})
    return out


def contacts_of_numbers(numbers: Iterable[str]) -> dict[str, dict[str, Any]]:
    """{number: {"name", "fields"}} for the numbers that belong to a contact (for mail merge
    of typed numbers)."""
    numbers = list(set(numbers))
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(numbers), 500):
        chunk = numbers[i:i + 500]
        rows = (ContactNumber.select(ContactNumber.number, Contact.name, Contact.fields)
                .join(Contact).where(ContactNumber.number.in_(chunk)).objects())
        for r in rows:
            out[r.number] = {"name": r.name, "fields": _fields(r.fields)}
    return out


def group_names() -> list[dict[str, Any]]:
    """Every group with its member count, by name (the compose page's picker)."""
    counts = (GroupMember.select(GroupMember.group, pw.fn.COUNT(GroupMember.id).alias("n"))
              .group_by(GroupMember.group))
    members = {r.group_id: r.n for r in counts}
    return [{"id": g.id, "name": g.name, "members": members.get(g.id, 0)}
            for g in ContactGroup.select().order_by(ContactGroup.name)]


# -- schedules -------------------------------------------------------------------------------


def _schedule(row: SendSchedule) -> dict[str, Any]:
    try:
        spec = json.loads(row.spec)
    except ValueError:
        spec = {}
    return {"id": row.id, "name": row.name, "kind": row.kind, "cron": row.cron,
            "timezone": row.timezone, "spec": spec, "state": row.state, "next_at": row.next_at,
            "last_fired_at": row.last_fired_at, "last_result": row.last_result,
            "fired": row.fired, "created_by": row.created_by, "user_id": row.user_id,
            "department_id": row.department_id, "role": row.role, "created_at": row.created_at}


def create_schedule(name: str, kind: str, cron: str, timezone: str, spec: dict[str, Any],
                    next_at: datetime, *, created_by: str = "", user_id: int | None = None,
                    department_id: int | None = None, role: str | None = None,
                    now: datetime | None = None) -> int:
    row = SendSchedule.create(
        name=(name or "").strip()[:255] or cron, kind=kind, cron=cron, timezone=timezone,
        spec=json.dumps(spec, ensure_ascii=False), state="active", next_at=next_at,
        last_result="", fired=0, created_by=created_by, user_id=user_id,
        department_id=department_id, role=role, created_at=now or utcnow())
    return row.id


def get_schedule(schedule_id: int) -> dict[str, Any] | None:
    row = SendSchedule.get_or_none(SendSchedule.id == schedule_id)
    return _schedule(row) if row is not None else None


def list_schedules(user_id: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Schedules, the next due first (paused ones last); `user_id`: only that user's."""
    query = SendSchedule.select()
    if user_id is not None:
        query = query.where(SendSchedule.user_id == user_id)
    query = query.order_by(SendSchedule.state, SendSchedule.next_at, SendSchedule.id)
    return [_schedule(r) for r in query.limit(limit)]


def set_schedule_state(schedule_id: int, state: str, next_at: datetime | None = None) -> bool:
    """Pause (`next_at` kept) or resume (`next_at`: the next occurrence from now)."""
    if state not in SCHEDULE_STATES:
        raise ValueError(f"state: one of {', '.join(SCHEDULE_STATES)}")
    update: dict[Any, Any] = {SendSchedule.state: state}
    if next_at is not None:
        update[SendSchedule.next_at] = next_at
    return SendSchedule.update(update).where(SendSchedule.id == schedule_id).execute() > 0


def delete_schedule(schedule_id: int) -> bool:
    return SendSchedule.delete().where(SendSchedule.id == schedule_id).execute() > 0


def due_schedules(now: datetime, limit: int = 20) -> list[dict[str, Any]]:
    """Active schedules due at `now`, the earliest first (index state, next_at)."""
    query = (SendSchedule.select()
             .where((SendSchedule.state == "active") & (SendSchedule.next_at <= now))
             .order_by(SendSchedule.next_at, SendSchedule.id).limit(limit))
    return [_schedule(r) for r in query]


def earliest_due() -> datetime | None:
    """When the next active schedule is due (None: none is)."""
    row = (SendSchedule.select(SendSchedule.next_at)
           .where((SendSchedule.state == "active") & SendSchedule.next_at.is_null(False))
           .order_by(SendSchedule.next_at).first())
    return row.next_at if row is not None else None


def claim_occurrence(schedule_id: int, due_at: datetime, next_at: datetime | None,
                     now: datetime) -> bool:
    """Move an active schedule from `due_at` on to `next_at`, counting a firing at `now`; True
    only for the caller whose `due_at` was still the schedule's (the one that fires it)."""
    stored = SendSchedule.next_at.db_value(due_at)
    changed = (SendSchedule.update({SendSchedule.next_at: next_at,
                                    SendSchedule.last_fired_at: now,
                                    SendSchedule.fired: SendSchedule.fired + 1})
               .where((SendSchedule.id == schedule_id) & (SendSchedule.state == "active")
                      & (SendSchedule.next_at == stored))
               .execute())
    return changed == 1


def skip_occurrence(schedule_id: int, due_at: datetime, next_at: datetime | None,
                    result: str) -> bool:
    """Move on from `due_at` without firing (missed while the appliance was off), saying so."""
    stored = SendSchedule.next_at.db_value(due_at)
    return (SendSchedule.update({SendSchedule.next_at: next_at,
                                 SendSchedule.last_result: result})
            .where((SendSchedule.id == schedule_id) & (SendSchedule.next_at == stored))
            .execute()) == 1


def record_result(schedule_id: int, result: str) -> None:
    SendSchedule.update({SendSchedule.last_result: result[:2000]}).where(
        SendSchedule.id == schedule_id).execute()


__all__ = ["MAX_TEMPLATES", "SCHEDULE_STATES", "MessageTemplate", "SendSchedule",
           "TemplateProblem", "claim_occurrence", "contacts_of_numbers", "create_schedule",
           "delete_schedule", "delete_template", "due_schedules", "earliest_due",
           "get_schedule", "get_template", "group_members", "group_names", "list_schedules",
           "list_templates", "record_result", "save_template", "set_schedule_state",
           "skip_occurrence"]
