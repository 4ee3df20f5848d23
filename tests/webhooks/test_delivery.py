"""The Deliverer against real HTTP receivers on loopback ports, over a real SQLite store."""

from __future__ import annotations

import asyncio
import json
import time

from appliance.hub import MessageStateChanged, SmsReceived
from appliance.store import webhooks as q
from appliance.store.acceptance import NewMessage, accept_messages
from appliance.store.messages import transition_message
from appliance.store.states import MessageState
from appliance.webhooks.signing import verify
from tests.webhooks.conftest import ManualClock
from tests.webhooks.receiver import Receiver

HOSTILE = "<script>alert(1)</script> '; DROP TABLE inbox_message;-- \u202e退订 " + "😀" * 50


async def wait_until(check, what: str, limit: float = 20.0):
    deadline = time.monotonic() + limit
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def sms(i: int, text: str = "hello") -> SmsReceived:
    return SmsReceived(inbox_id=i, sender="+8613900139000", text=text, sim="8986001", partial=False)


async def endpoint(rig, url: str, events=("*",), secret: str | None = "s3cret") -> dict:
    return await rig.write(lambda: q.create_endpoint(url, list(events), rig_now(), secret=secret))


def rig_now():
    from appliance.store.db import utcnow
    return utcnow()


async def test_an_inbound_sms_is_posted_signed_with_the_exact_text(rig):
    receiver = await rig.receiver()
    hook = await endpoint(rig, receiver.url, ["sms.received"])
    await rig.deliverer()
    rig.hub.publish(sms(41, HOSTILE))
    await receiver.wait_for_count(1)
    got = receiver.requests[0]
    assert got.method == "POST" and got.path == "/hook"
    assert got.headers["x-cardgate-event"] == "sms.received"
    assert verify(hook["secret"], got.headers["x-cardgate-timestamp"], got.body,
                  got.headers["x-cardgate-signature"], now=time.time())
    body = json.loads(got.body)
    assert body["id"] == int(got.headers["x-cardgate-delivery"])
    assert body["event"] == "sms.received"
    assert body["data"]["id"] == 41 and body["data"]["text"] == HOSTILE
    assert body["data"]["sender"] == "+8613900139000" and body["data"]["sim"] == "8986001"
    assert body["data"]["partial"] is False and body["data"]["received_at"]
    await wait_until(lambda: rig.read(lambda: q.counts()["delivered"] == 1), "recorded")


async def test_a_target_down_loses_nothing_across_a_restart_and_each_row_arrives_once(rig):
    receiver = Receiver()  # its port is chosen, nothing listens yet
    rig.receivers.append(receiver)
    await endpoint(rig, receiver.url)
    deliverer = await rig.deliverer()
    for i in range(1, 31):
        rig.hub.publish(sms(i, f"text {i}"))
    await wait_until(lambda: deliverer.stats.retried >= 2, "failed attempts while down")
    assert (await rig.read(q.counts))["pending"] == 30

    await rig.restart()  # the appliance stops and starts again; the target is still down
    assert (await rig.read(q.counts))["pending"] == 30
    deliverer = await rig.deliverer()
    await receiver.start()
    await receiver.wait_for_count(30)
    await wait_until(lambda: rig.read(lambda: q.counts()["delivered"] == 30), "all recorded")
    assert (await rig.read(q.counts)) == {"pending": 0, "delivered": 30, "failed": 0}
    ids = [r.headers["x-cardgate-delivery"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 30  # every row once, no duplicate
    texts = sorted(json.loads(r.body)["data"]["text"] for r in receiver.requests)
    assert texts == sorted(f"text {i}" for i in range(1, 31))


async def test_a_hung_endpoint_does_not_hold_up_a_live_one(rig):
    dead = await rig.receiver(hang=True)
    live = await rig.receiver()
    await endpoint(rig, dead.url)
    await endpoint(rig, live.url)
    await rig.deliverer(concurrency=4, per_endpoint=2, timeout=60.0)
    for i in range(1, 51):
        rig.hub.publish(sms(i))
    await live.wait_for_count(50)
    # every live delivery went while the dead endpoint still held its requests unanswered,
    # and it never held more than its share of the workers
    assert dead.answered == 0
    assert dead.waiting == dead.most_waiting == 2
    dead.release()


async def test_the_wait_between_attempts_grows_then_the_delivery_fails_for_good(rig):
    clock = ManualClock()
    receiver = await rig.receiver(status=503)
    deliverer = await rig.deliverer(clock=clock, backoff_base=10.0, backoff_cap=1000.0,
                                    max_attempts=5, max_age=0.0)
    delivery_id = await deliverer.enqueue_post(receiver.url, "rule.matched", {"n": 1}, "k")
    waits = []
    for attempt in range(1, 6):
        await receiver.wait_for_count(attempt, ok=False)
        row = await wait_until(
            lambda a=attempt: rig.read(lambda: (d := q.delivery(delivery_id))["attempts"] == a
                                       and d), f"attempt {attempt} recorded")
        if attempt < 5:
            assert row["state"] == "pending" and row["last_error"] == "HTTP 503"
            waits.append((row["next_attempt_at"] - clock.now).total_seconds())
            clock.advance(10_000)  # far past the wait: the worker is due again when woken
            deliverer.wake()
    assert row["state"] == "failed" and row["last_status"] == 503
    for n, wait in enumerate(waits, start=1):
        assert 0.5 * 10 * 2 ** (n - 1) <= wait < 10 * 2 ** (n - 1), waits
    assert waits == sorted(waits) and len(set(waits)) == 4
    assert len(receiver.requests) == 5


async def test_a_4xx_is_final_at_once_and_a_429_is_retried(rig):
    answers = {"/gone": [404], "/busy": [429, 200]}
    receiver = await rig.receiver(status=lambda r: answers[r.path].pop(0)
                                  if len(answers[r.path]) > 1 else answers[r.path][0])
    deliverer = await rig.deliverer()
    base = f"http://127.0.0.1:{receiver.port}"
    gone = await deliverer.enqueue_post(base + "/gone", "x.y", {}, "")
    busy = await deliverer.enqueue_post(base + "/busy", "x.y", {}, "")

    async def settled():
        a, b = await rig.read(lambda: (q.delivery(gone), q.delivery(busy)))
        return a["state"] != "pending" and b["state"] != "pending" and (a, b)

    a, b = await wait_until(settled, "both settled")
    assert (a["state"], a["attempts"], a["last_status"]) == ("failed", 1, 404)
    assert (b["state"], b["attempts"], b["last_status"]) == ("delivered", 2, 200)


async def test_a_rules_post_is_signed_with_its_secret_or_sent_unsigned(rig):
    receiver = await rig.receiver()
    deliverer = await rig.deliverer()
    signed = await deliverer.enqueue_post(receiver.url, "rule.webhook", {"rule": 3}, "abc")
    plain = await deliverer.enqueue_post(receiver.url, "rule.webhook", {"rule": 4})
    await receiver.wait_for_count(2)
    by_id = {int(r.headers["x-cardgate-delivery"]): r for r in receiver.requests}
    s, p = by_id[signed], by_id[plain]
    assert verify("abc", s.headers["x-cardgate-timestamp"], s.body,
                  s.headers["x-cardgate-signature"], now=time.time())
    assert "x-cardgate-signature" not in p.headers
    assert json.loads(p.body)["data"] == {"rule": 4}


async def test_one_hub_batch_is_one_write(rig):
    await endpoint(rig, "http://127.0.0.1:9/", ["message.sent"])  # enabled, not for SMS
    deliverer = await rig.deliverer()
    await asyncio.sleep(0.1)  # the worker's first round (a prune) is done
    before = rig.store.stats.jobs
    for i in range(1, 201):
        rig.hub.publish(sms(i))
    await wait_until(lambda: rig.hub.subscribers() and
                     deliverer._subscription.pending() == 0, "batch taken")
    await wait_until(lambda: rig.store.stats.jobs > before, "written")
    await asyncio.sleep(0.1)
    assert rig.store.stats.jobs - before == 1


async def test_without_an_enabled_endpoint_events_cost_no_write(rig):
    await endpoint(rig, "http://127.0.0.1:9/", ["*"])
    await rig.write(lambda: q.update_endpoint(1, {"enabled": False}, rig_now()))
    deliverer = await rig.deliverer()
    await asyncio.sleep(0.1)
    before = rig.store.stats.jobs
    ids = await rig.write(lambda: _accept_and_send(3))
    for mid in ids:
        rig.hub.publish(MessageStateChanged(message_id=mid, state="sent", sim="8986001"))
    rig.hub.publish(sms(1))
    await wait_until(lambda: deliverer._subscription.pending() == 0, "batch taken")
    await asyncio.sleep(0.1)
    assert rig.store.stats.jobs - before == 1  # _accept_and_send's own
    assert (await rig.read(q.counts))["pending"] == 0


async def test_state_changes_nobody_subscribes_to_only_move_the_cursor(rig):
    await endpoint(rig, "http://127.0.0.1:9/", ["sms.received"])
    await rig.deliverer()
    ids = await rig.write(lambda: _accept_and_send(3))
    for mid in ids:
        rig.hub.publish(MessageStateChanged(message_id=mid, state="sent", sim="8986001"))

    def cursor_at_last_event() -> bool:
        db = q.Webhook._meta.database
        last = db.execute_sql('SELECT MAX("id") FROM "message_event"').fetchone()[0]
        return q._cursor(q.MESSAGE_EVENT_CURSOR, "message_event") == last

    await wait_until(lambda: rig.read(cursor_at_last_event), "cursor moved")
    assert await rig.read(q.counts) == {"pending": 0, "delivered": 0, "failed": 0}
    receiver = await rig.receiver()  # a later endpoint for message.sent: from now on
    await endpoint(rig, receiver.url, ["message.sent"])
    later = await rig.write(lambda: _accept_and_send(1))
    rig.hub.publish(MessageStateChanged(message_id=later[0], state="sent", sim="8986001"))
    await receiver.wait_for_count(1)
    await asyncio.sleep(0.2)
    assert [json.loads(r.body)["data"]["id"] for r in receiver.requests] == later


async def test_a_first_endpoint_hears_from_its_creation_on_even_before_a_wake(rig):
    """No endpoint enabled: the cursors stand still. The endpoint's transaction moves them
    to the newest rows; what comes after it is delivered although nobody woke the
    deliverer."""
    receiver = await rig.receiver()
    await rig.deliverer()
    before = await rig.write(lambda: _accept_and_send(2))  # history: not for the newcomer
    for mid in before:
        rig.hub.publish(MessageStateChanged(message_id=mid, state="sent", sim="8986001"))
    await asyncio.sleep(0.1)
    await endpoint(rig, receiver.url, ["message.sent"])
    after = await rig.write(lambda: _accept_and_send(3))
    for mid in after:
        rig.hub.publish(MessageStateChanged(message_id=mid, state="sent", sim="8986001"))
    await receiver.wait_for_count(3)
    await asyncio.sleep(0.2)
    got = sorted(json.loads(r.body)["data"]["id"] for r in receiver.requests)
    assert got == sorted(after)


def _accept_and_send(n: int) -> list[int]:
    ids = accept_messages([NewMessage(recipient=f"+8613800138{i:03d}", text=f"m{i}")
                           for i in range(n)])
    for mid in ids:
        transition_message(mid, MessageState.SENDING, sim="8986001")
        transition_message(mid, MessageState.SENT, sim="8986001")
    return ids


async def test_state_changes_committed_while_no_deliverer_ran_are_caught_up(rig):
    receiver = await rig.receiver()
    await endpoint(rig, receiver.url, ["message.sent"])
    deliverer = await rig.deliverer()  # first start: the cursor is set
    await deliverer.stop()
    rig.deliverers.remove(deliverer)
    # committed, and published to a hub nobody listens to: a crash before the rows
    ids = await rig.write(lambda: _accept_and_send(5))
    for mid in ids:
        rig.hub.publish(MessageStateChanged(message_id=mid, state="sent", sim="8986001"))
    await rig.deliverer()
    await receiver.wait_for_count(5)
    got = sorted(json.loads(r.body)["data"]["id"] for r in receiver.requests)
    assert got == sorted(ids)
    assert {json.loads(r.body)["data"]["state"] for r in receiver.requests} == {"sent"}


async def test_a_state_change_on_the_hub_becomes_a_delivery_once(rig):
    receiver = await rig.receiver()
    await endpoint(rig, receiver.url, ["message.sent", "message.failed"])
    await rig.deliverer()
    ids = await rig.write(lambda: _accept_and_send(3))
    for mid in ids:  # each published twice: the events only say "look"
        rig.hub.publish(MessageStateChanged(message_id=mid, state="sent", sim="8986001"))
        rig.hub.publish(MessageStateChanged(message_id=mid, state="sent", sim="8986001"))
    await receiver.wait_for_count(3)
    await wait_until(lambda: rig.read(lambda: q.counts()["delivered"] == 3), "recorded")
    assert (await rig.read(q.counts))["pending"] == 0
    assert len(receiver.requests) == 3
    data = json.loads(receiver.requests[0].body)["data"]
    assert set(data) >= {"id", "recipient", "state", "sim", "error", "time"}
    assert data["sim"] == "8986001"


async def test_a_receiver_that_trickles_its_answer_fails_after_the_timeout(rig):
    # `timeout` is what one POST may take in all. httpx's own timeout is per read, so a
    # receiver sending its answer a byte at a time held the POST (and the slot) for as long
    # as it liked: found with a receiver trickling a byte a second past a 2 s timeout.
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        try:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)
        except (ConnectionError, asyncio.CancelledError):
            pass
        writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        deliverer = await rig.deliverer(timeout=1.0, backoff_base=60.0, backoff_cap=60.0)
        started = time.monotonic()
        delivery_id = await deliverer.enqueue_post(f"http://127.0.0.1:{port}/", "rule.matched",
                                                   {"n": 1}, "k")
        row = await wait_until(
            lambda: rig.read(lambda: (d := q.delivery(delivery_id))["attempts"] == 1 and d),
            "the first attempt recorded", limit=6.0)
        assert time.monotonic() - started < 4.0
        assert row["state"] == "pending" and "1.0" in row["last_error"], row
    finally:
        server.close()
