"""The dispatcher and the pool publish on the appliance's event hub, after the commit."""

from __future__ import annotations

from appliance.hub import MessagesAccepted, MessageStateChanged, PoolChanged
from appliance.store.models import Message
from tests.dispatch.conftest import new, numbers


async def test_acceptance_and_every_state_change_reach_the_hub_after_commit(make_rig):
    async with make_rig(2) as rig:
        hub = rig.appliance.hub
        sub = hub.subscribe("test", [MessagesAccepted, MessageStateChanged])
        ids = await rig.submit(new(r, "hub notice") for r in numbers(5))
        await rig.wait_final(ids)
        await rig.wait_for(lambda: sum(
            1 for e in list(sub._queue)
            if isinstance(e, MessageStateChanged) and e.state == "sent") == 5)
        events = await sub.batch()
        accepted = [e for e in events if isinstance(e, MessagesAccepted)]
        assert [i for e in accepted for i in e.message_ids] == ids
        sent = {e.message_id: e.sim for e in events
                if isinstance(e, MessageStateChanged) and e.state == "sent"}
        assert set(sent) == set(ids)

        # Published after the commit: the row already says what the event says.
        def stored():
            return {m.id: (m.state, m.sim) for m in Message.select().where(Message.id.in_(ids))}
        rows = await rig.dispatcher.store.read(stored)
        assert all(rows[mid] == ("sent", sim) for mid, sim in sent.items())
        sub.close()


async def test_a_replayed_acceptance_is_not_published_twice(make_rig):
    async with make_rig(1) as rig:
        sub = rig.appliance.hub.subscribe("test", [MessagesAccepted])
        first = await rig.submit([new("+8613900000001", "once", client_ref="r1")])
        again = await rig.submit([new("+8613900000001", "once", client_ref="r1")])
        assert first == again
        events = await sub.batch()
        assert [e.message_ids for e in events] == [tuple(first)]


async def test_sims_attaching_are_published_as_pool_changes(make_rig):
    async with make_rig(2) as rig:
        # The rig waits for both SIMs to attach; the hub saw them before any subscriber here,
        # so subscribe and unplug one to see a live change.
        sub = rig.appliance.hub.subscribe("test", [PoolChanged])
        rig.fleet.ports[0].unplug()
        await rig.wait_for(lambda: any(e.change == "SimLost" for e in list(sub._queue)))
        lost = [e for e in await sub.batch() if e.change == "SimLost"]
        assert lost[0].sim == rig.iccid(0)
