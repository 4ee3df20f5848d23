"""The in-memory index of queued messages the scheduler chooses from.

Knows: which messages wait, in lanes by (priority, campaign), with their send_at and pinning.
Must not know: the database (the engine fills and drains it after commits), modems, HTTP.

The database is the truth; this index only spares the scheduler a query per decision, which on
a Pi sending 80 parts a second would cost more than the sending. Lanes make fairness cheap:
the scheduler looks at the head of each lane instead of sorting everything that waits.

Nothing the scheduler cannot use now sits in a lane, so a round never walks past it:
- a message not yet due (`send_at` ahead, or a retry's backoff) waits in a heap ordered by due
  time and joins the back of its lane when due (a campaign scheduled for tomorrow costs nothing
  today);
- a message pinned to a SIM (parts already left through it) waits in that SIM's bucket, looked
  at only when that SIM can send; were it in a lane, a few dozen pinned to an unplugged SIM would
  fill the lane's head and stall every message behind them.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from appliance.dispatch.balancer import Pending


@dataclass(frozen=True, slots=True)  # slots: one object per queued message, not two
class Waiting:
    """A queued message: what the balancer needs, plus when and where it may go."""

    pending: Pending
    send_at: datetime | None = None
    expires_at: datetime | None = None
    pinned_sim: str | None = None  # parts already left through this SIM: the rest must too
    not_before: datetime | None = None  # retry backoff after a transient failure
    avoid_sims: frozenset[str] = frozenset()  # SIMs that just failed it
    category: str = "notice"  # quiet hours and maintenance hold messages by category

    @property
    def message_id(self) -> int:
        return int(self.pending.message_id)

    def due_at(self) -> datetime | None:
        times = [t for t in (self.send_at, self.not_before) if t is not None]
        return max(times) if times else None


LaneKey = tuple[int, Hashable | None, str]
"""(priority, campaign, category): a lane holds one category, so a held category (quiet
hours, maintenance) is skipped whole, and an alert never waits behind held notices."""
_LATER = ("later",)  # where-markers for the two places outside the lanes
_PINNED = ("pinned",)


class PendingIndex:
    def __init__(self) -> None:
        self._lanes: dict[LaneKey, OrderedDict[int, Waiting]] = {}
        self._later: dict[int, Waiting] = {}
        self._heap: list[tuple[datetime, int, int]] = []  # (due, tie-breaker, id); lazy deletes
        self._pinned: dict[str, OrderedDict[int, Waiting]] = {}
        self._where: dict[int, LaneKey | tuple[str]] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, message_id: int) -> bool:
        return message_id in self._where

    def add(self, item: Waiting, now: datetime | None = None) -> None:
        """Index `item` (replacing any entry with its id). Without `now` an item with a due
        time waits in the heap until `promote` sees it due."""
        self.discard(item.message_id)
        due = item.due_at()
        if due is not None and (now is None or due > now):
            self._later[item.message_id] = item
            heapq.heappush(self._heap, (due, next(self._seq), item.message_id))
            self._where[item.message_id] = _LATER
            return
        self._place(item)

    def add_many(self, items: Iterable[Waiting], now: datetime) -> None:
        """`add(item, now)` for each of `items`, faster for a request's: they share their lane
        (priority, campaign, category), which is looked up once for a run of them instead of
        once each (a batch of 1,000 recipients is 1,000 items)."""
        where, lanes = self._where, self._lanes
        key: LaneKey | None = None
        lane: OrderedDict[int, Waiting] | None = None
        for item in items:
            if item.send_at is not None or item.not_before is not None \
                    or item.pinned_sim is not None:
                self.add(item, now)  # may be due later, or pinned: add() knows where
                key = None  # add() may have emptied and dropped the lane held
                continue
            message_id = item.message_id
            if message_id in where:
                self.discard(message_id)
                key = None
            p = item.pending
            if key is None or key[0] != p.priority or key[1] != p.campaign_id \
                    or key[2] != item.category:
                key = (p.priority, p.campaign_id, item.category)
                lane = lanes.get(key)
                if lane is None:
                    lane = lanes[key] = OrderedDict()
            lane[message_id] = item  # type: ignore[index]
            where[message_id] = key  # one tuple shared by the run, not one per item

    def _place(self, item: Waiting) -> None:
        if item.pinned_sim is not None:
            self._pinned.setdefault(item.pinned_sim, OrderedDict())[item.message_id] = item
            self._where[item.message_id] = _PINNED
            return
        key = (item.pending.priority, item.pending.campaign_id, item.category)
        self._lanes.setdefault(key, OrderedDict())[item.message_id] = item
        self._where[item.message_id] = key

    def discard(self, message_id: int) -> Waiting | None:
        key = self._where.pop(message_id, None)
        if key is None:
            return None
        if key == _LATER:
            return self._later.pop(message_id)  # its heap entry is skipped when popped
        if key == _PINNED:
            for iccid, bucket in self._pinned.items():
                if message_id in bucket:
                    item = bucket.pop(message_id)
                    if not bucket:
                        del self._pinned[iccid]
                    return item
            return None  # pragma: no cover - _where and the buckets agree
        lane = self._lanes[key]  # type: ignore[index]
        item = lane.pop(message_id)
        if not lane:
            del self._lanes[key]  # type: ignore[arg-type]
        return item

    def get(self, message_id: int) -> Waiting | None:
        key = self._where.get(message_id)
        if key is None:
            return None
        if key == _LATER:
            return self._later.get(message_id)
        if key == _PINNED:
            return next((b[message_id] for b in self._pinned.values() if message_id in b), None)
        return self._lanes[key].get(message_id)  # type: ignore[index]

    def promote(self, now: datetime) -> int:
        """Move every item due by `now` from the heap into its lane or bucket; how many."""
        moved = 0
        while self._heap and self._heap[0][0] <= now:
            due, _, message_id = heapq.heappop(self._heap)
            item = self._later.get(message_id)
            if item is None or item.due_at() != due:
                continue  # discarded or re-added since this entry was pushed
            del self._later[message_id]
            del self._where[message_id]
            self._place(item)
            moved += 1
        return moved

    def heads(self, per_lane: int, now: datetime,
              held: frozenset[str] = frozenset()) -> Iterator[Waiting]:
        """Up to `per_lane` due messages from the head of every lane, higher priority first,
        but none of a `held` category. Pinned messages are not among them (see `pinned_to`)."""
        self.promote(now)
        for key in sorted(self._lanes, key=lambda k: -k[0]):
            if held and key[2] in held:
                continue
            yield from itertools.islice(self._lanes[key].values(), per_lane)

    def pinned_to(self, iccid: str, now: datetime | None = None,
                  held: frozenset[str] = frozenset()) -> Iterator[Waiting]:
        """Due messages that must go through `iccid`, oldest first, none of a `held`
        category."""
        if now is not None:
            self.promote(now)
        bucket = self._pinned.get(iccid, {}).values()
        yield from (w for w in bucket if w.category not in held) if held else bucket

    def pinned_sims(self) -> list[str]:
        """SIMs that have messages waiting for them (due ones; see `pinned_to`)."""
        return list(self._pinned)

    def next_due(self, now: datetime) -> datetime | None:
        """The earliest future time a waiting message becomes due (None if none waits)."""
        while self._heap:
            due, _, message_id = self._heap[0]
            item = self._later.get(message_id)
            if item is not None and item.due_at() == due:
                return due if due > now else now
            heapq.heappop(self._heap)  # a stale entry
        return None

    def all(self) -> Iterator[Waiting]:
        for lane in self._lanes.values():
            yield from lane.values()
        for bucket in self._pinned.values():
            yield from bucket.values()
        yield from self._later.values()
