"""The pending index: `add_many` (a request's messages at once) leaves the index as `add` one
by one does, whatever the items (due later, pinned, in several lanes, already indexed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from appliance.dispatch.balancer import Pending
from appliance.dispatch.pending import PendingIndex, Waiting

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def item(mid: int, *, priority: int = 10, campaign: int | None = None, category: str = "notice",
         send_at: datetime | None = None, pinned: str | None = None) -> Waiting:
    return Waiting(pending=Pending(message_id=mid, recipient=f"+86138{mid:08d}",
                                   network="mobile", parts=1, priority=priority,
                                   campaign_id=campaign, sticky_sim=None, created_at=NOW),
                   send_at=send_at, pinned_sim=pinned, category=category)


def state(index: PendingIndex) -> tuple:
    lanes = {k: list(v) for k, v in index._lanes.items()}
    pinned = {k: list(v) for k, v in index._pinned.items()}
    return lanes, pinned, sorted(index._later), dict(index._where), len(index)


def test_add_many_indexes_as_add_does():
    before = [item(1), item(2, priority=50), item(3, pinned="8986001")]
    batch = [
        item(10), item(11), item(12, priority=50),  # two lanes, the run broken and resumed
        item(13), item(14, send_at=NOW + timedelta(hours=1)),  # due later: the heap
        item(15, send_at=NOW - timedelta(hours=1)),  # asked for a time already past: a lane
        item(16, pinned="8986001"), item(17, category="alert"),
        item(1, priority=50),  # already indexed (a reload saw it): moved, not doubled
        item(2, priority=50),  # already indexed in the very lane the run is using
        item(18, priority=50), item(19, campaign=4),
    ]
    one_by_one, together = PendingIndex(), PendingIndex()
    for index in (one_by_one, together):
        for w in before:
            index.add(w, NOW)
    for w in batch:
        one_by_one.add(w, NOW)
    together.add_many(batch, NOW)
    assert state(together) == state(one_by_one)
    later = NOW + timedelta(hours=2)
    assert together.promote(later) == one_by_one.promote(later) == 1
    heads = [w.message_id for w in together.heads(10, later)]
    assert heads == [w.message_id for w in one_by_one.heads(10, later)]
    # Priority 50 first, in arrival order (1 and 2 re-added: at the back of their lane).
    assert heads[:4] == [12, 1, 2, 18]
