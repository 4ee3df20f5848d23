"""The event hub: fan-out by kind, bounded queues that drop the oldest, close ends readers."""

from __future__ import annotations

import asyncio

from appliance.hub import EventHub, MessageStateChanged, PoolChanged, SmsReceived


async def test_each_subscriber_gets_the_kinds_it_asked_for_in_order():
    hub = EventHub()
    everything = hub.subscribe("all")
    only_sms = hub.subscribe("sms", [SmsReceived])
    hub.publish(MessageStateChanged(message_id=1, state="sent", sim="8986"))
    hub.publish(SmsReceived(inbox_id=7, sender="+8613800138000", text="TD", sim="8986"))
    hub.publish(MessageStateChanged(message_id=1, state="delivered", sim="8986"))
    got = await everything.batch()
    assert [e.kind for e in got] == ["message.state", "sms.received", "message.state"]
    assert [e.state for e in got if isinstance(e, MessageStateChanged)] == ["sent", "delivered"]
    sms = await only_sms.get()
    assert isinstance(sms, SmsReceived) and sms.inbox_id == 7 and sms.text == "TD"
    assert only_sms.pending() == 0


async def test_a_slow_subscriber_loses_the_oldest_and_counts_them_others_lose_nothing():
    hub = EventHub()
    slow = hub.subscribe("slow", maxsize=3)
    roomy = hub.subscribe("roomy")
    for n in range(10):
        hub.publish(MessageStateChanged(message_id=n, state="sent"))
    assert slow.dropped == 7
    assert [e.message_id for e in await slow.batch()] == [7, 8, 9]
    assert [e.message_id for e in await roomy.batch()] == list(range(10))
    assert roomy.dropped == 0


async def test_close_ends_a_waiting_reader_and_stops_delivery():
    hub = EventHub()
    sub = hub.subscribe("x")
    reader = asyncio.create_task(sub.batch())
    await asyncio.sleep(0)
    sub.close()
    assert await asyncio.wait_for(reader, 1) == []
    assert hub.subscribers() == []
    hub.publish(PoolChanged(change="SimLost", port="/dev/ttyUSB0", sim="8986"))
    assert sub.pending() == 0


async def test_as_dict_is_json_ready_with_the_kind():
    event = PoolChanged(change="SimAttached", port="/dev/ttyUSB2", sim="8986",
                        detail={"operator": "CMCC"})
    body = event.as_dict()
    assert body["event"] == "pool.changed"
    assert body["detail"] == {"operator": "CMCC"}
    assert isinstance(body["at"], str) and body["at"].endswith("+00:00")


async def test_the_pool_events_reach_the_hub_as_plain_values():
    from appliance.pool.events import RegistrationChanged, SimLost
    from appliance.pool.publish import HubPublisher

    hub = EventHub()
    sub = hub.subscribe("console")
    publisher = HubPublisher(hub)
    publisher.pool_event(SimLost(port="/dev/ttyUSB0", iccid="8986001", reason="unplugged"))
    publisher.pool_event(RegistrationChanged(port="/dev/ttyUSB1", iccid="8986002",
                                             registration="denied", registered=False,
                                             denied=True))
    lost, reg = await sub.batch()
    assert (lost.change, lost.port, lost.sim, lost.detail) == (
        "SimLost", "/dev/ttyUSB0", "8986001", {"reason": "unplugged"})
    assert reg.change == "RegistrationChanged" and reg.detail["denied"] is True


def test_a_modems_status_reaches_the_hub_with_its_signal():
    from appliance.pool.events import ModemStatusChanged
    from appliance.pool.publish import as_hub_event

    event = as_hub_event(ModemStatusChanged(port="/dev/ttyUSB2", iccid="8986003", state="resting",
                                            reason="not answering", bars=2, dbm=-95))
    assert event is not None and event.kind == "pool.changed"
    assert (event.change, event.port, event.sim) == ("ModemStatusChanged", "/dev/ttyUSB2",
                                                     "8986003")
    assert event.detail == {"state": "resting", "reason": "not answering", "bars": 2, "dbm": -95}
