"""Quotas and prepaid balances at acceptance: a request must fit in what its submitter has left.

Knows: when a month starts (local midnight of the 1st in the dispatch time zone), what is left
of an account (monthly limit - parts charged this month - parts reserved by waiting messages;
for a prepaid account, balance - reserved too), and what to do with a request larger than that
(`[quotas] on_excess`: refuse it whole, or split it: the recipients that fit go, the rest are
left out "over quota").
Must not know: how parts are charged and refunded (store.ledger, on the send path), HTTP.

The accounts are the submitter's user and department (Origin.user_id / department_id) that
have a quota row; a submitter with none is not counted. A refusal names the account and
whose it is (the department's or user's name: `holder`). The messages accepted carry those
accounts (`NewMessage.charge_to`), written with them, so every part sent is charged.

Two requests of one account checked at once must not both take the last parts: the check of
what is left and the note of what this request takes are made under one lock, and what a
request took stays counted ("in flight") until its messages are on disk (then the database's
reservation counts them) or the request is dropped (refused by a later step: its draft is
gone, and so is the weak reference that kept its parts counted).
"""

from __future__ import annotations

import asyncio
import weakref
from datetime import datetime, tzinfo

from appliance.dispatch.intake import PolicyRefused
from appliance.dispatch.rates import next_window_start, window_start
from appliance.policy.layer import Check, Draft
from appliance.store import ledger
from appliance.store.acceptance import stored_under
from appliance.store.accounts import holder_name
from appliance.store.messages import with_changes
from appliance.store.writer import Store

OVER_QUOTA = "over quota"


def month_bounds(now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """The local calendar month around `now`: [its 1st 00:00, the next 1st 00:00), aware, in
    `tz` (the caps' own calendar windows, so a quota month and a SIM's month agree)."""
    return (window_start("month", now, tz).astimezone(tz),
            next_window_start("month", now, tz).astimezone(tz))


def describe(fig: ledger.Figures, left: int, holder: str | None = None) -> str:
    """Which bound is the tightest, in words: "of the department's monthly quota (...)";
    `holder`: the department's or user's name, shown beside the account."""
    owner = "department's" if fig.account.startswith("department:") else "user's"
    account = fig.account if holder is None else f"{fig.account} “{holder}”"
    monthly = None if fig.monthly_limit is None else \
        fig.monthly_limit - fig.used - fig.reserved
    prepaid = fig.balance - fig.reserved if fig.prepaid else None
    if prepaid is not None and (monthly is None or prepaid <= monthly):
        return (f"{left} left of the {owner} prepaid balance ({account}: balance "
                f"{fig.balance}, {fig.reserved} reserved by messages waiting to be sent)")
    return (f"{left} left of the {owner} monthly quota ({account}: {fig.monthly_limit} parts a "
            f"month, {fig.used} sent this month, {fig.reserved} reserved by messages waiting)")


class QuotaCheck(Check):
    """Refuses (or splits) a request larger than what is left of its accounts."""

    name = "quota"

    def __init__(self, store: Store, tz: tzinfo, on_excess: str = "refuse"):
        self.store = store
        self.tz = tz
        self.on_excess = on_excess
        self._lock = asyncio.Lock()
        self._in_flight: dict[int, tuple[weakref.ref, dict[str, int]]] = {}

    def _taken(self) -> dict[str, int]:
        """Parts that requests checked but not yet stored have taken, by account."""
        total: dict[str, int] = {}
        for key, (ref, parts) in list(self._in_flight.items()):
            if ref() is None:
                del self._in_flight[key]  # refused after this check: it takes nothing
                continue
            for account, n in parts.items():
                total[account] = total.get(account, 0) + n
        return total

    async def admit(self, draft: Draft) -> None:
        origin = draft.request.origin
        if origin.user_id is None and origin.department_id is None:
            return
        request = draft.request
        if request.client_ref is not None and len(draft.rows) <= await self.store.read(
                lambda: stored_under(request.submitter_kind, request.submitter_id,
                                     request.client_ref)):
            return  # a retry, answered with what was stored (and counted) the first time
        start, end = month_bounds(draft.now, self.tz)
        per = max(draft.count.parts, 1)
        async with self._lock:
            # Before the read: a request stored (and so no longer in flight) after this point
            # is counted twice, never not at all, as it would be if its commit came after the
            # read had begun and its in-flight entry went before this was taken.
            taken = self._taken()
            figures = await self.store.read(lambda: [
                ledger.figures(a, start, end)
                for a in ledger.accounts_of(origin.user_id, origin.department_id)])
            if not figures:
                return
            tightest: tuple[int, ledger.Figures] | None = None
            for fig in figures:
                left = fig.left()
                if left is None:
                    continue
                left = max(0, left - taken.get(fig.account, 0))
                if tightest is None or left < tightest[0]:
                    tightest = (left, fig)
            needed = per * len(draft.rows)
            if tightest is not None and needed > tightest[0]:
                left, fig = tightest
                fits = left // per
                if self.on_excess != "split" or fits == 0:
                    holder = await self.store.read(lambda: holder_name(fig.account))
                    details = {} if holder is None else {"holder": holder}
                    raise PolicyRefused(
                        "over_quota", "to", f"this send needs {needed} parts; "
                        f"{describe(fig, left, holder)}", status=422, needed=needed,
                        left=left, account=fig.account, **details)
                draft.leave_out([n < fits for n in range(len(draft.rows))], OVER_QUOTA)
                needed = per * len(draft.rows)
            accounts = tuple(f.account for f in figures)
            draft.rows = with_changes(draft.rows, charge_to=accounts)
            self._in_flight[id(draft)] = (weakref.ref(draft), dict.fromkeys(accounts, needed))
        note: dict = {"accounts": list(accounts), "parts": needed}
        if tightest is not None:
            note["left"] = tightest[0] - needed
        draft.notes[self.name] = note

    async def accepted(self, draft: Draft, ids: list[int]) -> None:
        # On disk now: the database's reservation counts these messages.
        self._in_flight.pop(id(draft), None)
