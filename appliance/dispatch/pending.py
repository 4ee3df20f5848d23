"""The in-memory index of queued messages the scheduler chooses from.

Knows: which messages wait, in lanes by (priority, campaign), with their send_at and pinning.
Must not know: the database (the engine fills and drains it after commits), modems, HTTP.

The database is the truth; this index only spares the scheduler a query per decision, which on
a Pi sending 80 parts a second would cost more than the sending. Lanes make fairness cheap:
the scheduler looks at the head of each lane instead of sorting everything that waits.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from datetime import datetime

from appliance.dispatch.balancer import Pending


@dataclass(frozen=True)
class Waiting:
    """A queued message: what the balancer needs, plus when and where it may go."""

    pending: Pending
    send_at: datetime | None = None
    expires_at: datetime | None = None
    pinned_sim: str | None = None  # parts already left through this SIM: the rest must too
    not_before: datetime | None = None  # retry backoff after a transient failure
    avoid_sims: frozenset[str] = frozenset()  # SIMs that just failed it

    @property
    def message_id(self) -> int:
        return int(self.pending.message_id)

    def due_at(self) -> datetime | None:
        times = [t for t in (self.send_at, self.not_before) if t is not None]
        return max(times) if times else None


LaneKey = tuple[int, Hashable | None]


class PendingIndex:
    def __init__(self) -> None:
        self._lanes: dict[LaneKey, OrderedDict[int, Waiting]] = {}
        self._where: dict[int, LaneKey] = {}

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, message_id: int) -> bool:
        return message_id in self._where

    def add(self, item: Waiting) -> None:
        self.discard(item.message_id)
        key = (item.pending.priority, item.pending.campaign_id)
        self._lanes.setdefault(key, OrderedDict())[item.message_id] = item
        self._where[item.message_id] = key

    def discard(self, message_id: int) -> Waiting | None:
        key = self._where.pop(message_id, None)
        if key is None:
            return None
        lane = self._lanes[key]
        item = lane.pop(message_id)
        if not lane:
            del self._lanes[key]
        return item

    def get(self, message_id: int) -> Waiting | None:
        key = self._where.get(message_id)
        return None if key is None else self._lanes[key].get(message_id)

    def heads(self, per_lane: int, now: datetime) -> Iterator[Waiting]:
        """Up to `per_lane` due messages from the head of every lane, higher priority first."""
        for key in sorted(self._lanes, key=lambda k: -k[0]):
            taken = 0
            for item in self._lanes[key].values():
                due = item.due_at()
                if due is not None and due > now:
                    continue
                yield item
                taken += 1
                if taken >= per_lane:
                    break

    def pinned_to(self, iccid: str) -> Iterator[Waiting]:
        for lane in self._lanes.values():
            for item in lane.values():
                if item.pinned_sim == iccid:
                    yield item

    def next_due(self, now: datetime) -> datetime | None:
        """The earliest future time a waiting message becomes due (None if none waits)."""
        best: datetime | None = None
        for lane in self._lanes.values():
            for item in lane.values():
                due = item.due_at()
                if due is not None and due > now and (best is None or due < best):
                    best = due
        return best

    def all(self) -> Iterator[Waiting]:
        for lane in self._lanes.values():
            yield from lane.values()
