"""The auto-answer rules table and the log of automatic actions.

Knows: the Rule and RuleLog tables (migration 5), rule order (`position`, kept 1..n), and the
few reads the rules engine needs from other tables (own SIM numbers; which inbox messages are
already handled). Must not know: what a valid rule is (appliance.inbox.rules validates before
anything is stored here), matching, sending, HTTP.

Every function is synchronous, meant to run inside `Store.write` / `Store.read`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.store.db import utcnow
from appliance.store.inbox import mark_handled
from appliance.store.models import InboxMessage, RuleLog, Sim
from appliance.store.models import Rule as RuleRow

MAX_RULES = 1000
MAX_LOG_PAGE = 500
CHUNK = 500
REPLY_ACTIONS = ("reply", "unsubscribe", "resubscribe")
"""Actions that answer the sender: what cooldown and loop detection count."""


class RuleNotFound(LookupError):
    def __init__(self, rule_id: int):
        super().__init__(f"no rule with id {rule_id}")
        self.rule_id = rule_id


class TooManyRules(ValueError):
    pass


class BadOrder(ValueError):
    """A new order that is not exactly the rules there are."""


def rule_dict(row: RuleRow) -> dict[str, Any]:
    return {"id": row.id, "position": row.position, "name": row.name,
            "enabled": bool(row.enabled), "match": row.match_kind, "pattern": row.pattern,
            "conditions": json.loads(row.conditions), "actions": json.loads(row.actions),
            "stop": bool(row.stop), "created_at": row.created_at, "updated_at": row.updated_at}


def list_rules() -> list[dict[str, Any]]:
    """Every rule, in evaluation order."""
    return [rule_dict(r) for r in RuleRow.select().order_by(RuleRow.position, RuleRow.id)]


def get_rule(rule_id: int) -> dict[str, Any]:
    row = RuleRow.get_or_none(RuleRow.id == rule_id)
    if row is None:
        raise RuleNotFound(rule_id)
    return rule_dict(row)


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """A rule's validated JSON fields as column values."""
    return {"name": fields["name"], "enabled": fields["enabled"], "match_kind": fields["match"],
            "pattern": fields["pattern"],
            "conditions": json.dumps(fields["conditions"], ensure_ascii=False),
            "actions": json.dumps(fields["actions"], ensure_ascii=False),
            "stop": fields["stop"]}


def _place(rule_id: int, position: int | None) -> None:
    """Put `rule_id` at `position` (1-based; None or past the end: last) and renumber 1..n."""
    ids = [r.id for r in RuleRow.select(RuleRow.id).order_by(RuleRow.position, RuleRow.id)
           if r.id != rule_id]
    if position is None or position > len(ids):
        ids.append(rule_id)
    else:
        ids.insert(max(position, 1) - 1, rule_id)
    _renumber(ids)


def _renumber(ids: list[int]) -> None:
    current = dict(RuleRow.select(RuleRow.id, RuleRow.position).tuples())
    for n, rule_id in enumerate(ids, start=1):
        if current.get(rule_id) != n:
            RuleRow.update(position=n).where(RuleRow.id == rule_id).execute()


def create_rule(fields: dict[str, Any], position: int | None = None,
                now: datetime | None = None) -> dict[str, Any]:
    """Store a validated rule at `position` (None: last); returns it as stored."""
    if RuleRow.select().count() >= MAX_RULES:
        raise TooManyRules(f"at most {MAX_RULES} rules")
    now = now or utcnow()
    row = RuleRow.create(position=MAX_RULES + 1, created_at=now, updated_at=now,
                         **_columns(fields))
    _place(row.id, position)
    return get_rule(row.id)


def update_rule(rule_id: int, fields: dict[str, Any], position: int | None = None,
                now: datetime | None = None) -> dict[str, Any]:
    """Replace a rule's fields (validated, whole) and, with `position`, move it there."""
    get_rule(rule_id)
    RuleRow.update(updated_at=now or utcnow(), **_columns(fields)).where(
        RuleRow.id == rule_id).execute()
    if position is not None:
        _place(rule_id, position)
    return get_rule(rule_id)


def delete_rule(rule_id: int) -> None:
    if RuleRow.delete().where(RuleRow.id == rule_id).execute() != 1:
        raise RuleNotFound(rule_id)
    _renumber([r.id for r in RuleRow.select(RuleRow.id).order_by(RuleRow.position,
                                                                   RuleRow.id)])


def reorder(ids: list[int]) -> list[dict[str, Any]]:
    """The rules in this order; `ids` must name every rule exactly once (BadOrder)."""
    existing = {r.id for r in RuleRow.select(RuleRow.id)}
    if len(set(ids)) != len(ids):
        raise BadOrder("an id is listed twice")
    missing, unknown = existing - set(ids), set(ids) - existing
    if unknown:
        raise BadOrder(f"no rule with id {min(unknown)}")
    if missing:
        raise BadOrder(f"rule {min(missing)} is missing (list every rule once)")
    _renumber(ids)
    return list_rules()


# -- the action log --------------------------------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    at: datetime
    rule_id: int | None
    rule_name: str
    inbox_id: int | None
    number: str
    action: str
    outcome: str  # done / blocked / failed
    detail: str = ""
    message_id: int | None = None


def log_dict(row: RuleLog) -> dict[str, Any]:
    return {"id": row.id, "at": row.at, "rule_id": row.rule_id, "rule_name": row.rule_name,
            "inbox_id": row.inbox_id, "number": row.number, "action": row.action,
            "outcome": row.outcome, "detail": row.detail, "message_id": row.message_id}


def finish(entries: list[LogEntry], handled: Iterable[int], now: datetime) -> None:
    """One commit for a batch of handled messages: their action log and their handled mark
    (so after a crash a message is either handled with its log, or neither)."""
    if entries:
        rows = [{"at": e.at, "rule_id": e.rule_id, "rule_name": e.rule_name[:255],
                 "inbox_id": e.inbox_id, "number": e.number[:32], "action": e.action,
                 "outcome": e.outcome, "detail": e.detail[:2000],
                 "message_id": e.message_id} for e in entries]
        for i in range(0, len(rows), CHUNK):
            RuleLog.insert_many(rows[i:i + CHUNK]).execute()
    for inbox_id in handled:
        mark_handled(inbox_id, now)


def recent_replies(since: datetime) -> list[tuple[str, datetime]]:
    """(number, time) of every automatic answer done since `since`, oldest first."""
    query = (RuleLog.select(RuleLog.number, RuleLog.at)
             .where((RuleLog.at >= since) & RuleLog.action.in_(REPLY_ACTIONS)
                    & (RuleLog.outcome == "done"))
             .order_by(RuleLog.at, RuleLog.id).tuples())
    return list(query)


def list_log(*, limit: int = 100, before: int | None = None, number: str | None = None,
             rule_id: int | None = None, inbox_id: int | None = None) -> list[dict[str, Any]]:
    """The action log, newest first; `before` an exclusive id bound for paging."""
    query = RuleLog.select()
    if before is not None:
        query = query.where(RuleLog.id < before)
    if number is not None:
        query = query.where(RuleLog.number == number)
    if rule_id is not None:
        query = query.where(RuleLog.rule_id == rule_id)
    if inbox_id is not None:
        query = query.where(RuleLog.inbox_id == inbox_id)
    limit = max(1, min(limit, MAX_LOG_PAGE))
    return [log_dict(r) for r in query.order_by(RuleLog.id.desc()).limit(limit)]


# -- what the engine reads elsewhere ---------------------------------------------------------


def savepoint():  # noqa: ANN201 - peewee's context manager
    """A nested transaction: a failure inside it (a group since deleted) undoes only itself."""
    return RuleRow._meta.database.atomic()


def own_numbers() -> list[str]:
    """The box's own SIMs' numbers as they reported them (+CNUM), non-empty ones."""
    return [n for (n,) in Sim.select(Sim.own_number).where(Sim.own_number != "").tuples()]


def handled_among(inbox_ids: Iterable[int]) -> set[int]:
    """Those of `inbox_ids` the rules have already run on (an event seen twice, a partial
    message grown by a late part after it was answered, a restart's catch-up)."""
    wanted = list(inbox_ids)
    out: set[int] = set()
    for i in range(0, len(wanted), CHUNK):
        out.update(r for (r,) in InboxMessage.select(InboxMessage.id).where(
            InboxMessage.id.in_(wanted[i:i + CHUNK]) & InboxMessage.handled_at.is_null(False))
            .tuples())
    return out


__all__ = ["BadOrder", "LogEntry", "MAX_RULES", "REPLY_ACTIONS", "RuleNotFound", "TooManyRules",
           "create_rule", "delete_rule", "finish", "get_rule", "handled_among", "list_log",
           "list_rules", "own_numbers", "recent_replies", "reorder", "savepoint", "update_rule"]
