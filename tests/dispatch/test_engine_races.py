"""The dispatcher's awaits, where a SIM can come or go, taken one at a time.

No fleet here: a Dispatcher on a real Store (SQLite WAL file), not started (no scheduler task),
with stand-in supervisors, so each test can place the event it needs inside one await.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from appliance.dispatch.engine import STICKY_MAX, Dispatcher, RecentRecipients
from appliance.dispatch.slots import SimSlot
from appliance.pool.events import SimAttached, SimLost
from appliance.pool.sender import SupervisedSender
from appliance.store import messages as outbox
from appliance.store.db import open_database
from appliance.store.migrations import migrate
from appliance.store.models import Message
from appliance.store.states import InvalidTransition
from appliance.store.writer import Store
from tests.dispatch.conftest import dispatch_config, new

ICCID = "89860000000000000001"


class StandInSupervisor:
    """What the dispatcher reads of a ModemSupervisor."""

    def __init__(self, iccid: str = ICCID, port: str = "/dev/ttyUSB0"):
        sim = SimpleNamespace(iccid=iccid, operator_code="46000", operator="CHINA MOBILE")
        self.status = SimpleNamespace(identity=SimpleNamespace(sim=sim))
        self.port = SimpleNamespace(path=port)
        self.ready = True
        self.modem: Any = object()


class NeverCalled:
    ready = True

    async def send_part(self, pdu: str, tpdu_length: int) -> int:
        raise AssertionError("nothing should be sent")


@pytest.fixture
async def dispatcher(tmp_path: Path) -> AsyncIterator[Dispatcher]:
    db = open_database(f"sqlite:///{tmp_path / 'cardgate.db'}")
    migrate(db)
    store = Store(db)
    await store.start()
    yield Dispatcher(dispatch_config(), store)
    await store.stop()
    db.close()


def after_next(d: Dispatcher, door: str, event: Callable[[], None]) -> None:
    """Run `event` once, right after the next `d.store.<door>` completes (inside its await)."""
    real: Callable[[Any], Awaitable[Any]] = getattr(d.store, door)

    async def once(fn: Any) -> Any:
        setattr(d.store, door, real)
        result = await real(fn)
        event()
        return result

    setattr(d.store, door, once)


async def claimed(d: Dispatcher, text: str = "hello") -> int:
    [mid] = await d.submit([new("+8613912345678", text)])
    await d.store.write(lambda: outbox.claim_messages(ICCID, 1, d.now(), candidate_ids=[mid]))
    d.pending.discard(mid)
    return mid


async def row(d: Dispatcher, mid: int) -> Message:
    return await d.store.read(lambda: Message.get_by_id(mid))


async def test_a_sim_lost_while_being_attached_is_not_used(dispatcher: Dispatcher):
    d = dispatcher
    sup = StandInSupervisor()

    def unplug() -> None:
        sup.ready, sup.modem = False, None
        d.pool_event(SimLost(sup.port.path, ICCID, "unplugged"))

    after_next(d, "read", unplug)  # during the attach's first store read
    await d._attach(SimAttached(sup.port.path, ICCID, "CHINA MOBILE", "46000",
                                SupervisedSender(sup)), None)
    slot = d.slots.get(ICCID)
    assert slot is None or not slot.attached


async def test_a_modem_not_ready_costs_the_message_no_attempt_and_the_sim_no_health(
        dispatcher: Dispatcher):
    d = dispatcher
    mid = await claimed(d)
    sup = StandInSupervisor()
    sup.ready, sup.modem = False, None
    slot = SimSlot(iccid=ICCID, network=None, sender=SupervisedSender(sup))
    health = slot.health
    await d.sender.send(slot, mid)
    msg = await row(d, mid)
    assert (msg.state, msg.attempts, msg.sim) == ("queued", 0, None)
    assert slot.health == health and slot.failed_total == 0
    assert mid in d.pending


async def test_a_message_released_just_after_its_claim_stays_in_the_index(
        dispatcher: Dispatcher):
    d = dispatcher
    mid = await claimed(d)
    # The SIM's release ran between the claim and the send: queued again in the database.
    await d.store.write(lambda: outbox.release_claims_for_sim(ICCID, "SIM lost: unplugged"))
    slot = SimSlot(iccid=ICCID, network=None, sender=NeverCalled())
    await d.sender.send(slot, mid)
    assert (await row(d, mid)).state == "queued"
    assert mid in d.pending


async def test_a_claim_for_a_sim_lost_meanwhile_is_handed_back(dispatcher: Dispatcher):
    d = dispatcher
    slot = SimSlot(iccid=ICCID, network=None, sender=NeverCalled(), next_send_at=d.now())
    d.slots[ICCID] = slot
    [mid] = await d.submit([new("+8613912345678")])
    assert mid in d.pending

    def unplug() -> None:
        slot.sender = None  # modem_lost, while the claim was being committed

    after_next(d, "write", unplug)
    await d.scheduler.round()
    assert mid not in slot.queue and mid not in slot.reserved
    msg = await row(d, mid)
    assert (msg.state, msg.attempts, msg.sim) == ("queued", 0, None)
    assert mid in d.pending


async def test_cancelling_a_half_sent_message_back_in_the_queue_is_refused(
        dispatcher: Dispatcher):
    d = dispatcher
    mid = await claimed(d, "A long message that must arrive in one piece. " * 8)

    def half_send() -> None:
        parts = outbox.add_parts(mid, ICCID, [outbox.NewPart(pdu="00", tpdu_length=1)] * 2)
        outbox.transition_part(parts[0], "sending")
        outbox.transition_part(parts[0], "sent", message_reference=3)
        outbox.release_claims_for_sim(ICCID, "SIM lost: unplugged")

    await d.store.write(half_send)
    await d.reload_waiting([mid])
    with pytest.raises(InvalidTransition):
        await d.cancel(mid)
    assert (await row(d, mid)).state == "queued"
    assert mid in d.pending


def test_sticky_recipients_are_bounded_least_recently_used_first():
    sticky = RecentRecipients(maxlen=2)
    sticky["+861"] = "A"
    sticky["+862"] = "B"
    assert sticky.get("+861") == "A"  # used: now the most recent
    sticky["+863"] = "C"
    assert dict(sticky) == {"+861": "A", "+863": "C"}


async def test_the_dispatcher_keeps_a_bounded_sticky_map(dispatcher: Dispatcher):
    d = dispatcher
    assert isinstance(d.sticky, RecentRecipients) and d.sticky.maxlen == STICKY_MAX
    await d.start()
    try:
        assert isinstance(d.sticky, RecentRecipients) and d.sticky.maxlen == STICKY_MAX
    finally:
        await d.stop()


def test_campaign_shares_that_halve_to_nothing_are_dropped(dispatcher: Dispatcher):
    d = dispatcher
    d.scheduler.count_share("small", 1)
    d.scheduler.count_share("big", 10_000)
    assert "small" not in d.recent_share
    assert d.recent_share["big"] == 5_000


async def test_carried_writes_survive_a_transaction_that_did_not_commit(dispatcher: Dispatcher):
    from appliance.dispatch.sender import Carry

    d = dispatcher
    done: list[str] = []
    carry = Carry()
    carry.jobs.append(lambda: done.append("part 1 sent"))
    real = d.store.write

    async def fails_once(fn, **kwargs):  # the commit fails (disk full, I/O error)
        d.store.write = real
        raise OSError("disk I/O error")

    d.store.write = fails_once
    with pytest.raises(OSError):
        await d.sender._write(carry, lambda: done.append("part 2 sending"))
    assert done == [] and carry  # nothing recorded, and nothing forgotten
    await d.sender.flush(carry)
    assert done == ["part 1 sent"] and not carry
