"""sms.received payloads read from the inbox's committed rows, and the inbox catch-up.

The `inbox_message` table is the inbox's (migration 3). The rows are written here with plain
SQL naming the columns store.webhooks reads, not through the inbox's handler, so the test pins
those columns: if it fails, the inbox's table no longer has what the payloads are read from.
"""

from __future__ import annotations

import json

from appliance.hub import SmsReceived
from appliance.store import webhooks as q
from appliance.store.models import Webhook
from tests.webhooks.test_delivery import HOSTILE, endpoint, wait_until


def _insert(sender: str, text: str, partial: bool = False) -> int:
    db = Webhook._meta.database
    p = db.param
    cursor = db.execute_sql(
        'INSERT INTO "inbox_message" ("sim", "modem", "sender", "number", "text", "smsc_at", '
        '"received_at", "parts_total", "parts_received", "partial", "updated_at") '
        f"VALUES ({', '.join([p] * 11)})",
        ("89860001", "860000000000001", sender, "+8613900139000", text,
         "2026-12-01 07:59:58.000000", "2026-12-01 08:00:00.000000", 2, 1 if partial else 2,
         partial, "2026-12-01 08:00:00.000000"))
    return cursor.lastrowid


async def test_the_payload_is_read_from_the_committed_inbox_row(rig):
    receiver = await rig.receiver()
    await rig.write(lambda: _insert("13900139000", "history"))
    await endpoint(rig, receiver.url, ["sms.received"])  # what was stored before: not replayed
    assert await rig.read(q.inbox_available)
    await rig.deliverer()
    inbox_id = await rig.write(lambda: _insert("13900139000", HOSTILE, partial=True))
    rig.hub.publish(SmsReceived(inbox_id=inbox_id, sender="13900139000", text=HOSTILE,
                                sim="89860001", partial=True))
    await receiver.wait_for_count(1)
    data = [json.loads(r.body)["data"] for r in receiver.requests]
    assert [d["id"] for d in data] == [inbox_id]
    d = data[0]
    assert d["text"] == HOSTILE and d["sender"] == "13900139000"
    assert d["number"] == "+8613900139000" and d["modem"] == "860000000000001"
    assert d["partial"] is True and d["received_at"].startswith("2026-12-01T08:00:00")


async def test_inbox_rows_stored_while_no_deliverer_ran_are_caught_up_once(rig):
    receiver = await rig.receiver()
    await endpoint(rig, receiver.url, ["sms.received"])
    deliverer = await rig.deliverer()
    first = await rig.write(lambda: _insert("a", "live"))
    rig.hub.publish(SmsReceived(inbox_id=first, sender="a", text="live", sim="89860001"))
    await receiver.wait_for_count(1)
    await deliverer.stop()
    rig.deliverers.remove(deliverer)
    ids = [await rig.write(lambda i=i: _insert("b", f"while down {i}")) for i in range(3)]
    for inbox_id in ids:  # published, but nobody listened: the crash window
        rig.hub.publish(SmsReceived(inbox_id=inbox_id, sender="b", text="", sim="89860001"))
    deliverer = await rig.deliverer()
    # published again after the restart (an inbox re-announcing): still once each
    for inbox_id in ids:
        rig.hub.publish(SmsReceived(inbox_id=inbox_id, sender="b", text="", sim="89860001"))
    await receiver.wait_for_count(4)
    await wait_until(lambda: rig.read(lambda: q.counts()["delivered"] == 4), "recorded")
    assert len(receiver.requests) == 4
    got = [json.loads(r.body)["data"]["text"] for r in receiver.requests[1:]]
    assert sorted(got) == [f"while down {i}" for i in range(3)]
