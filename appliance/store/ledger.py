"""Quotas and the prepaid ledger, in message parts: what an account may send and what it did.

Knows: the `quota`, `ledger` and `message_charge` tables; the names of accounts
(`user:<id>`, `department:<id>`); how a balance, a month's use and the parts reserved by
messages not yet sent are summed from rows; the charge of a part as it is sent (fixed SQL, on
the send path) and the refund of a message that failed.
Must not know: when a month starts (the policy passes the bounds, in the dispatch time zone),
whether a request fits (policy.quota), HTTP.

The balance is never a counter: it is the sum of the account's ledger rows, which are only
ever added (topup, charge, refund, adjust). A part costs one row per account the message is
charged to (`message_charge`, written with the message by acceptance): -1, kind `charge`,
when its +CMGS answer is stored, in the same transaction. A message that finally fails is
refunded what its rows charged, once: the refund is the opposite of the sum of its charge and
refund rows, which is then zero, so a second failure report refunds nothing.

Every function runs inside `Store.write` or `Store.read`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee

from appliance.store.db import utcnow
from appliance.store.models import Ledger, Message, MessageCharge, Quota
from appliance.store.states import MessageState

M = MessageState

KINDS = ("topup", "charge", "refund", "adjust")
MANUAL_KINDS = ("topup", "adjust")  # what a person may write; charges and refunds are ours
ACCOUNT_KINDS = ("user", "department")
MAX_DELTA = 10_000_000  # parts in one manual row: more is a typo
MAX_LIMIT = 1_000_000_000
MAX_NOTE = 500
WAITING = (M.HELD.value, M.QUEUED.value, M.SENDING.value)
"""A message in these states has parts still to send: what it has not been charged yet is
reserved against its accounts."""


class LedgerInvalid(ValueError):
    """A quota or ledger row that cannot be written; `field` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def account_name(kind: str, number: int) -> str:
    return f"{kind}:{number}"


def parse_account(text: Any, field: str = "account") -> str:
    """`user:<id>` or `department:<id>` (a positive id), normalised; LedgerInvalid if not."""
    if isinstance(text, str):
        kind, sep, number = text.strip().partition(":")
        if sep and kind in ACCOUNT_KINDS and number.isascii() and number.isdigit() \
                and 0 < int(number) < 2**63:
            return account_name(kind, int(number))
    shown = repr(text)[:60]
    raise LedgerInvalid(field, f"must be user:<id> or department:<id>, got {shown}")


def accounts_of(user_id: int | None, department_id: int | None) -> list[str]:
    """The submitter's accounts that have a quota row (a limit or a prepaid balance): those
    its messages are charged to. Empty: nothing is counted."""
    names = [account_name(k, n) for k, n in (("user", user_id), ("department", department_id))
             if n is not None]
    if not names:
        return []
    # Plain SQL, its text cached: asked once per send request by a bound key, where peewee's
    # query building cost several times the primary-key probe itself.
    db = _database()
    sql = _accounts_sql(db.param, db.quote, len(names))
    found = {row[0] for row in db.execute_sql(sql, names).fetchall()}
    return [a for a in names if a in found]


@functools.lru_cache(maxsize=8)
def _accounts_sql(param: str, quotes: str, count: int) -> str:
    account = "account".join(quotes)
    return (f"SELECT {account} FROM {'quota'.join(quotes)} "
            f"WHERE {account} IN ({', '.join([param] * count)})")


@dataclass(frozen=True)
class Figures:
    """One account's standing: its settings and the sums of its rows."""

    account: str
    monthly_limit: int | None
    prepaid: bool
    used: int  # parts charged this month, net of this month's refunds
    reserved: int  # parts of waiting messages not charged yet
    balance: int  # the sum of every ledger row

    def left(self) -> int | None:
        """Parts that may still be accepted (None: no bound)."""
        bounds = []
        if self.monthly_limit is not None:
            bounds.append(self.monthly_limit - self.used - self.reserved)
        if self.prepaid:
            bounds.append(self.balance - self.reserved)
        return max(0, min(bounds)) if bounds else None

    def as_dict(self) -> dict[str, Any]:
        return {"account": self.account, "monthly_limit": self.monthly_limit,
                "prepaid": self.prepaid, "used_this_month": self.used,
                "reserved": self.reserved, "balance": self.balance, "left": self.left()}


def _sum(query: peewee.Query) -> int:
    return int(query.scalar() or 0)


def balance(account: str) -> int:
    return _sum(Ledger.select(peewee.fn.SUM(Ledger.delta)).where(Ledger.account == account))


def used(account: str, start: datetime, end: datetime) -> int:
    """Parts charged in [start, end), less the refunds made in it (never below 0)."""
    net = _sum(Ledger.select(peewee.fn.SUM(Ledger.delta)).where(
        (Ledger.account == account) & Ledger.kind.in_(("charge", "refund"))
        & (Ledger.at >= start) & (Ledger.at < end)))
    return max(0, -net)


def reserved(account: str) -> int:
    """Parts of the account's waiting messages that have not been charged yet."""
    waiting = (Message.select(Message.id).join(MessageCharge, on=(
        (MessageCharge.message == Message.id) & (MessageCharge.account == account)))
        .where(Message.state.in_(WAITING)))
    total = _sum(Message.select(peewee.fn.SUM(Message.parts_count))
                 .where(Message.id.in_(waiting)))
    charged = _sum(Ledger.select(peewee.fn.SUM(Ledger.delta)).where(
        (Ledger.account == account) & (Ledger.kind == "charge")
        & Ledger.message_id.in_(waiting)))
    return max(0, total + charged)


def figures(account: str, start: datetime, end: datetime) -> Figures:
    """The account's standing for the month [start, end)."""
    quota = Quota.get_or_none(Quota.account == account)
    return Figures(account=account,
                   monthly_limit=None if quota is None else quota.monthly_limit,
                   prepaid=bool(quota and quota.prepaid), used=used(account, start, end),
                   reserved=reserved(account), balance=balance(account))


def list_figures(start: datetime, end: datetime,
                 among: list[str] | None = None) -> list[Figures]:
    """Every account with a quota row (or those of them `among`), by name."""
    query = Quota.select(Quota.account)
    if among is not None:
        query = query.where(Quota.account.in_(among))
    return [figures(q.account, start, end) for q in query.order_by(Quota.account)]


def set_quota(account: str, monthly_limit: int | None, prepaid: bool | None,
              now: datetime | None = None) -> None:
    """Create or change an account's quota row; `prepaid` None keeps what it was."""
    if monthly_limit is not None and (isinstance(monthly_limit, bool)
                                      or not isinstance(monthly_limit, int)
                                      or not 0 <= monthly_limit <= MAX_LIMIT):
        raise LedgerInvalid("monthly", f"must be a whole number of parts from 0 to {MAX_LIMIT}"
                                       " (or null: no limit)")
    now = now or utcnow()
    old = Quota.get_or_none(Quota.account == account)
    keep = bool(old and old.prepaid) if prepaid is None else prepaid
    if old is None:
        Quota.create(account=account, monthly_limit=monthly_limit, prepaid=keep, updated_at=now)
    else:
        Quota.update(monthly_limit=monthly_limit, prepaid=keep, updated_at=now).where(
            Quota.account == account).execute()


def append(account: str, delta: int, kind: str, actor: str, *, note: str = "",
           message_id: int | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Add one row by hand (topup / adjust); a topup makes the account prepaid (its balance
    bounds what it may send from now on). Returns the row."""
    if kind not in MANUAL_KINDS:
        raise LedgerInvalid("kind", f"must be one of {', '.join(MANUAL_KINDS)} (charges and "
                                    f"refunds are written by the gateway)")
    if isinstance(delta, bool) or not isinstance(delta, int) or not 0 < abs(delta) <= MAX_DELTA:
        raise LedgerInvalid("parts", f"must be a whole number of parts, not 0, at most "
                                     f"{MAX_DELTA} either way")
    if kind == "topup" and delta < 0:
        raise LedgerInvalid("parts", "a topup adds parts: use kind adjust to take some away")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise LedgerInvalid("note", f"must be text of at most {MAX_NOTE} characters")
    now = now or utcnow()
    if kind == "topup":
        old = Quota.get_or_none(Quota.account == account)
        if old is None:
            Quota.create(account=account, monthly_limit=None, prepaid=True, updated_at=now)
        elif not old.prepaid:
            Quota.update(prepaid=True, updated_at=now).where(Quota.account == account).execute()
    row = Ledger.create(account=account, delta=delta, kind=kind, message_id=message_id,
                        actor=actor[:255], at=now, note=note)
    return row_view(row)


def row_view(row: Ledger) -> dict[str, Any]:
    return {"id": row.id, "account": row.account, "delta": row.delta, "kind": row.kind,
            "message_id": row.message_id, "by": row.actor, "at": row.at, "note": row.note}


def entries(account: str | None = None, *, among: list[str] | None = None,
            before: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Ledger rows, newest first; of one account (or of those `among`), before a row id
    (paging back)."""
    query = Ledger.select()
    if account is not None:
        query = query.where(Ledger.account == account)
    if among is not None:
        query = query.where(Ledger.account.in_(among))
    if before is not None:
        query = query.where(Ledger.id < before)
    return [row_view(r) for r in query.order_by(Ledger.id.desc()).limit(limit)]


# -- the send path -----------------------------------------------------------------------------

_charge_sql: tuple[peewee.Database, str] | None = None


def _database() -> peewee.Database:
    db = Ledger._meta.database
    return getattr(db, "obj", None) or db


def _charge_statement() -> tuple[peewee.Database, str]:
    """One INSERT ... SELECT per part sent: a row per account its message is charged to, none
    (an index probe that finds nothing) for the messages of submitters without a quota."""
    global _charge_sql
    db = _database()
    if _charge_sql is None or _charge_sql[0] is not db:
        p, q = db.param, (lambda name: name.join(db.quote))
        sql = (f"INSERT INTO {q('ledger')} ({q('account')}, {q('delta')}, {q('kind')}, "
               f"{q('message_id')}, {q('actor')}, {q('at')}, {q('note')}) "
               f"SELECT c.{q('account')}, -1, 'charge', c.{q('message_id')}, 'dispatch', {p}, "
               f"'' FROM {q('part')} p JOIN {q('message_charge')} c "
               f"ON c.{q('message_id')} = p.{q('message_id')} WHERE p.{q('id')} = {p}")
        _charge_sql = (db, sql)
    return _charge_sql


_at = Ledger.at.db_value


def charge_part(part_id: int, now: datetime) -> None:
    """The part has just been sent (its +CMGS answer stored in this transaction): charge it."""
    db, sql = _charge_statement()
    db.execute_sql(sql, (_at(now), part_id))


def refund_message(msg_id: int, now: datetime, why: str = "") -> int:
    """The message finally failed: give back what its parts were charged, once (see the
    module docstring). Returns the parts refunded, summed over its accounts."""
    net = (Ledger.select(Ledger.account, peewee.fn.SUM(Ledger.delta))
           .where((Ledger.message_id == msg_id) & Ledger.kind.in_(("charge", "refund")))
           .group_by(Ledger.account).tuples())
    back = 0
    for account, total in list(net):
        if total and total < 0:
            Ledger.create(account=account, delta=-total, kind="refund", message_id=msg_id,
                          actor="dispatch", at=now, note=why[:MAX_NOTE])
            back -= total
    return back


def charged_parts(msg_id: int) -> int:
    """Parts charged for the message and not refunded, summed over its accounts."""
    return -_sum(Ledger.select(peewee.fn.SUM(Ledger.delta)).where(
        (Ledger.message_id == msg_id) & Ledger.kind.in_(("charge", "refund"))))


__all__ = ["ACCOUNT_KINDS", "Figures", "KINDS", "LedgerInvalid", "MANUAL_KINDS", "account_name",
           "accounts_of", "append", "balance", "charge_part", "charged_parts", "entries",
           "figures", "list_figures", "parse_account", "refund_message", "reserved", "row_view",
           "set_quota", "used"]
