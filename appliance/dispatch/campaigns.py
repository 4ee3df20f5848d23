"""Pause, resume and cancel a campaign: the store's decision, then the dispatcher's queue.

Knows: that a pause is "queued -> held" in the store followed by dropping those ids from the
dispatcher's index (reload_waiting finds them no longer queued), that a resume is a release
(Dispatcher.release, the path an approval's decision takes: held -> queued and indexed, in the
transaction that marks the campaign active), and that a cancel is the store's bulk cancel of
what waits plus Dispatcher.cancel for what a SIM has claimed but not started.
Must not know: SQL (store.campaigns), HTTP, who may do it (the console checks: the creator or
an admin).

Messages already being sent finish: a SIM's message in flight, and a long message part of
which has left (pinned to its SIM), are left alone by all three.
"""

from __future__ import annotations

import logging

from appliance.dispatch.engine import Dispatcher
from appliance.store import campaigns as store
from appliance.store.messages import ConcurrentChange
from appliance.store.states import InvalidTransition, MessageState

log = logging.getLogger(__name__)
M = MessageState


async def pause(dispatcher: Dispatcher, campaign_id: int, actor: str) -> list[int]:
    """Hold the campaign's queued messages; the ids held. CampaignProblem when it cannot be
    paused (not found, not active, waiting for approval)."""
    now = dispatcher.now()
    held = await dispatcher.store.write(lambda: store.pause(campaign_id, actor, now))
    # They are no longer queued: reloading them drops them from the index. A claim the
    # scheduler planned meanwhile finds them held and misses (claim_one needs `queued`).
    await dispatcher.reload_waiting(held)
    for mid in held:
        dispatcher.emit(mid, M.HELD.value)
    return held


async def resume(dispatcher: Dispatcher, campaign_id: int, actor: str) -> list[int]:
    """Release what the pause held (not what waits for an approval); the ids queued again."""
    now = dispatcher.now()
    return await dispatcher.release(lambda: store.resume(campaign_id, actor, now),
                                    f"campaign resumed by {actor}")


async def cancel(dispatcher: Dispatcher, campaign_id: int, actor: str) -> list[int]:
    """Cancel whatever of the campaign has not left; the ids cancelled."""
    now = dispatcher.now()
    cancelled, sending = await dispatcher.store.write(
        lambda: store.cancel(campaign_id, actor, now))
    await dispatcher.reload_waiting(cancelled)
    for mid in cancelled:
        dispatcher.emit(mid, M.CANCELLED.value)
    # Claimed by a SIM but still waiting in its queue: taken out and cancelled. The one a SIM
    # is sending (or whose part has left) is not in a queue, or refuses: it finishes.
    waiting = set().union(*(s.queue.ids() for s in dispatcher.slots.values())) \
        if dispatcher.slots else set()
    for mid in sending:
        if mid not in waiting:
            continue
        try:
            await dispatcher.cancel(mid, f"campaign cancelled by {actor}")
        except (InvalidTransition, ConcurrentChange):
            continue
        cancelled.append(mid)
    return cancelled


__all__ = ["cancel", "pause", "resume"]
