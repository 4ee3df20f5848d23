"""The blacklist as the running appliance holds it: in memory for intake's per-recipient check,
on disk for good, and enforced on what is already queued.

Knows: the order that keeps a blacklisted number from being sent to (memory first, then the
row, then the sweep of waiting messages through `Dispatcher.cancel`), and the stored form of a
number (`contacts.numbers`).
Must not know: SQL (`store.blacklist`), HTTP, what made a number blacklisted (rules, the API).

Why memory first: intake checks `blocked_reason` without touching the database (a campaign of
10,000 recipients is 10,000 look-ups). Once a number is in memory, no new request stores a
message to it; a request that passed the check just before is looked at again by intake after
its commit, so the sweep below plus intake's second look leave no message to that number
behind, whichever commits first.

What the sweep cancels: queued and held messages, and messages claimed by a SIM that still wait
in its queue. A message whose part is on its way to the modem (or has left, for a long message
half sent) is left alone: cancelling mid-send would make that part ambiguous, and cutting a
long message short would leave the recipient half of it. Dispatcher.cancel decides, and its
refusal (InvalidTransition) is taken as "left alone".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from appliance.contacts.numbers import stored_or_given
from appliance.store import blacklist as blacklist_store
from appliance.store.messages import MessageNotFound
from appliance.store.states import InvalidTransition
from appliance.store.writer import Store

if TYPE_CHECKING:
    from appliance.dispatch.engine import Dispatcher

log = logging.getLogger(__name__)


class Blacklist:
    """Numbers no message goes to. `load()` once at start; then `add`/`remove` keep memory and
    the table together (all changes must come through here while the appliance runs)."""

    def __init__(self, store: Store, dispatcher: Dispatcher, *, default_region: str = "CN"):
        self.store = store
        self.dispatcher = dispatcher
        self.default_region = default_region
        self._reasons: dict[str, str] = {}

    async def load(self) -> int:
        """Read the whole blacklist into memory; returns how many numbers it holds."""
        self._reasons = await self.store.read(blacklist_store.all_entries)
        return len(self._reasons)

    def number(self, raw: str) -> str:
        """`raw` in the stored form (E.164, or a sender id / short code as given)."""
        return stored_or_given(raw, self.default_region)

    def blocked(self, number: str) -> bool:
        """Whether `number` (normalised, as intake has it) is blacklisted; memory only."""
        return number in self._reasons

    def blocked_reason(self, number: str) -> str | None:
        """intake.RecipientBlock: None when `number` may be sent to, else the reason."""
        return self._reasons.get(number)

    def blocked_among(self, numbers: Iterable[str]) -> dict[str, str]:
        """intake.RecipientBlock: the blacklisted of `numbers`, with their reasons (one
        C-level intersection for a request's thousand recipients)."""
        reasons = self._reasons
        return {number: reasons[number] for number in reasons.keys() & numbers}

    def __len__(self) -> int:
        return len(self._reasons)

    async def add(self, number: str, reason: str, source: str) -> bool:
        """Blacklist `number` (normalised here) and cancel its waiting messages; True when it
        was newly added. A number already listed keeps its first reason and nothing is
        cancelled again (an unsubscribe confirmation sent since must not be)."""
        added, _ = await self.add_and_cancel(number, reason, source)
        return added

    async def add_and_cancel(self, number: str, reason: str,
                             source: str) -> tuple[bool, list[int]]:
        """`add`, also returning the ids of the messages it cancelled."""
        number = self.number(number)
        was = self._reasons.get(number)
        if was is None:
            self._reasons[number] = reason  # first: see the module docstring
        try:
            added = await self.store.write(lambda: blacklist_store.add(number, reason, source))
        except BaseException:
            if was is None:
                self._reasons.pop(number, None)
            raise
        if not added:
            if was is None:  # in the table but not in memory (written beside the appliance)
                stored = await self.store.read(lambda: blacklist_store.get(number))
                self._reasons[number] = stored["reason"] if stored else reason
            return False, []
        cancelled = await self._cancel_waiting(number, reason)
        log.info("blacklisted %s (%s, %s): %d waiting message(s) cancelled", number, source,
                 reason, len(cancelled))
        return True, cancelled

    async def remove(self, number: str, sources: tuple[str, ...] | None = None) -> bool:
        """Take `number` off the blacklist (only an entry from one of `sources`, when given);
        True when it was on it. Messages cancelled when it was added stay cancelled."""
        number = self.number(number)
        removed = await self.store.write(lambda: blacklist_store.remove(number, sources))
        if removed:  # after the commit: until then it is still listed
            self._reasons.pop(number, None)
        return removed

    async def _cancel_waiting(self, number: str, reason: str) -> list[int]:
        ids = await self.store.read(lambda: blacklist_store.waiting_message_ids(number))
        detail = f"blacklisted: {reason}" if reason else "blacklisted"
        cancelled = []
        for mid in ids:
            try:
                await self.dispatcher.cancel(mid, detail)
            except (InvalidTransition, MessageNotFound):
                continue  # on its way to the modem, or settled meanwhile: left alone
            cancelled.append(mid)
        return cancelled


__all__ = ["Blacklist"]
