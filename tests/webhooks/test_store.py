"""store.webhooks on a real SQLite file: validation, fan-out by subscription, the message-event
cursor, the worker's queries, pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from appliance.store import webhooks as q
from appliance.store.acceptance import NewMessage, accept_messages
from appliance.store.messages import transition_message
from appliance.store.states import MessageState

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("url", "problem"), [
    ("ftp://10.0.0.5/hook", "only http:// and https://"),
    ("file:///etc/passwd", "only http:// and https://"),
    ("javascript:alert(1)", "only http:// and https://"),
    ("10.0.0.5/hook", "only http:// and https://"),
    ("http://", "has no host"),
    ("http:///path", "has no host"),
    ("http://10.0.0.5:99999/", "not a valid URL"),
    ("http://10.0.0.5:abc/", "not a valid URL"),
    ("http://10.0.0.5:0/", "port 0"),
    ("http://10.0.0.5/a b", "spaces or control"),
    ("http://10.0.0.5/\r\nX-Injected: 1", "spaces or control"),
    ("", "must be an http"),
    (None, "must be an http"),
    (42, "must be an http"),
    ("http://h/" + "a" * 2050, "longer than 2048"),
])
def test_bad_urls_are_refused_naming_the_problem(url, problem):
    with pytest.raises(q.WebhookInvalid) as err:
        q.check_url(url)
    assert err.value.field == "url"
    assert problem in str(err.value)


@pytest.mark.parametrize("url", ["http://10.0.0.5/hook", "https://nas.local:8443/in?x=1",
                                 "http://[fe80::1]:8080/", "HTTP://PLC/"])
def test_good_urls_pass(url):
    assert q.check_url(url) == url


@pytest.mark.parametrize(("events", "problem"), [
    ([], "non-empty list"), (None, "non-empty list"), ({"a": 1}, "non-empty list"),
    (["sms.recieved"], "unknown event 'sms.recieved'"),
    (["message.queued"], "unknown event 'message.queued'"),
    (["sms.received", 3], "unknown event 3"),
])
def test_unknown_event_names_are_refused(events, problem):
    with pytest.raises(q.WebhookInvalid) as err:
        q.check_events(events)
    assert err.value.field == "events" and problem in str(err.value)


@pytest.mark.parametrize("check,field", [(q.check_url, "url"), (q.check_secret, "secret"),
                                         (q.check_description, "description")])
def test_lone_surrogates_are_refused_naming_the_field(check, field):
    # Found by the OpenAPI fuzz (tests/api/test_openapi.py): the INSERT failed, a 500.
    with pytest.raises(q.WebhookInvalid) as err:
        check("http://h/\ud800" if field == "url" else "a\ud800")
    assert err.value.field == field and "Unicode" in str(err.value)


def test_event_lists_are_deduplicated_and_star_means_all():
    assert q.check_events(["message.failed", "sms.received", "message.failed"]) == [
        "message.failed", "sms.received"]
    assert q.check_events(["sms.received", "*"]) == ["*"]
    assert q.check_events("sms.received") == ["sms.received"]


async def test_the_secret_is_shown_on_create_only(rig):
    made = await rig.write(lambda: q.create_endpoint("http://a/", ["*"], T0))
    assert len(made["secret"]) >= 40  # 32 random bytes, urlsafe base64
    given = await rig.write(lambda: q.create_endpoint("http://b/", ["*"], T0, secret="mine"))
    assert given["secret"] == "mine"
    listed = await rig.read(q.list_endpoints)
    assert [e["url"] for e in listed] == ["http://a/", "http://b/"]
    assert all("secret" not in e and e["signed"] for e in listed)
    one = await rig.read(lambda: q.get_endpoint(made["id"]))
    assert "secret" not in one
    patched = await rig.write(lambda: q.update_endpoint(made["id"], {"secret": None}, T0))
    assert patched["secret"] not in ("", made["secret"])  # rotated, shown once


def _accept(n: int) -> list[int]:
    return accept_messages([NewMessage(recipient=f"+8613800138{i:03d}", text=f"m{i}")
                            for i in range(n)], now=T0)


async def test_message_events_fan_out_to_subscribers_and_the_cursor_moves(rig):
    sent_only = await rig.write(lambda: q.create_endpoint("http://a/", ["message.sent"], T0))
    every = await rig.write(lambda: q.create_endpoint("http://b/", ["*"], T0))
    await rig.write(lambda: q.create_endpoint("http://c/", ["*"], T0, enabled=False))
    await rig.write(lambda: q.record_message_events(T0))  # the first call sets the cursor
    ids = await rig.write(lambda: _accept(3))

    def move(mid, *states):
        for state in states:
            transition_message(mid, state, now=T0)

    await rig.write(lambda: move(ids[0], MessageState.SENDING, MessageState.SENT,
                                 MessageState.DELIVERED))
    await rig.write(lambda: move(ids[1], MessageState.CANCELLED))
    written, more = await rig.write(lambda: q.record_message_events(T0))
    # sent -> a and b; delivered -> b; cancelled -> b; the disabled endpoint gets nothing;
    # queued/sending (acceptance, claiming) are not events
    assert (written, more) == (4, False)
    a = await rig.read(lambda: q.get_endpoint(sent_only["id"]))
    b = await rig.read(lambda: q.get_endpoint(every["id"]))
    assert [d["event"] for d in a["deliveries"]] == ["message.sent"]
    assert sorted(d["event"] for d in b["deliveries"]) == [
        "message.cancelled", "message.delivered", "message.sent"]
    payload = a["deliveries"][0]["payload"]
    assert payload["id"] == ids[0] and payload["recipient"] == "+8613800138000"
    assert payload["state"] == "sent" and payload["error"] is None
    # the cursor moved: nothing is turned into deliveries twice
    assert await rig.write(lambda: q.record_message_events(T0)) == (0, False)
    assert b["counts"] == {"pending": 3, "delivered": 0, "failed": 0}


async def test_a_delivered_event_carries_no_error(rig):
    """The engine writes "status report 0x00" as the delivered transition's detail: that is
    not an error, and a subscriber reading `error` must see null, as GET /messages/{id} does."""
    hook = await rig.write(lambda: q.create_endpoint("http://a/", ["message.delivered"], T0))
    await rig.write(lambda: q.record_message_events(T0))
    ids = await rig.write(lambda: _accept(1))

    def deliver():
        transition_message(ids[0], MessageState.SENDING, now=T0)
        transition_message(ids[0], MessageState.SENT, "1 part(s) sent", now=T0)
        transition_message(ids[0], MessageState.DELIVERED, "status report 0x00", now=T0)

    await rig.write(deliver)
    await rig.write(lambda: q.record_message_events(T0))
    [delivery] = (await rig.read(lambda: q.get_endpoint(hook["id"])))["deliveries"]
    assert delivery["payload"]["state"] == "delivered" and delivery["payload"]["error"] is None


async def test_due_rows_leave_out_what_is_in_flight_blocked_or_disabled(rig):
    a = await rig.write(lambda: q.create_endpoint("http://a/", ["*"], T0))
    b = await rig.write(lambda: q.create_endpoint("http://b/", ["*"], T0))
    ra = await rig.write(lambda: q.enqueue_test(a["id"], T0))
    rb = await rig.write(lambda: q.enqueue_test(b["id"], T0))
    rc = await rig.write(lambda: q.enqueue_url("http://c/", "x.y", {"k": 1}, "", T0))
    await rig.write(lambda: q.enqueue_url("http://d/", "x.y", {}, "s",
                                                  T0 + timedelta(seconds=30)))

    def due(**kw):
        args = {"skip_ids": [], "skip_webhooks": [], "skip_urls": []} | kw
        return [r.id for r in q.due_deliveries(T0, 10, **args)]

    assert await rig.read(lambda: due()) == [ra, rb, rc]
    assert await rig.read(lambda: due(skip_ids=[rb])) == [ra, rc]
    assert await rig.read(lambda: due(skip_webhooks=[a["id"]])) == [rb, rc]
    assert await rig.read(lambda: due(skip_urls=["http://c/"])) == [ra, rb]
    rows = await rig.read(lambda: q.due_deliveries(T0, 10, skip_ids=[], skip_webhooks=[],
                                                   skip_urls=[]))
    assert rows[0].target == f"w{a['id']}" and rows[0].url == "http://a/"
    assert rows[2].target == "http://c/" and rows[2].secret == ""
    await rig.write(lambda: q.update_endpoint(a["id"], {"enabled": False}, T0))
    assert await rig.read(lambda: due()) == [rb, rc]
    nxt = await rig.read(lambda: q.next_due_at(skip_ids=[rb, rc], skip_webhooks=[],
                                               skip_urls=[]))
    assert nxt == T0 + timedelta(seconds=30)


async def test_prune_takes_old_final_rows_only(rig):
    ids = [await rig.write(lambda: q.enqueue_url("http://a/", "x.y", {}, "", T0))
           for _ in range(4)]
    old, recent = T0, T0 + timedelta(days=8)
    await rig.write(lambda: q.apply_outcomes([
        q.Outcome(ids[0], q.DELIVERED, 1, old, 200),
        q.Outcome(ids[1], q.FAILED, 3, old, 404, "HTTP 404"),
        q.Outcome(ids[2], q.DELIVERED, 1, recent, 204),
        q.Outcome(ids[3], q.PENDING, 2, old, 503, "HTTP 503"),  # pending, however old
    ]))
    assert await rig.write(lambda: q.prune(T0 + timedelta(days=7))) == 2
    assert await rig.read(q.counts) == {"pending": 1, "delivered": 1, "failed": 0}


async def test_a_deleted_endpoint_takes_its_deliveries(rig):
    a = await rig.write(lambda: q.create_endpoint("http://a/", ["*"], T0))
    await rig.write(lambda: q.enqueue_test(a["id"], T0))
    await rig.write(lambda: q.delete_endpoint(a["id"]))
    assert await rig.read(q.counts) == {"pending": 0, "delivered": 0, "failed": 0}
    with pytest.raises(q.WebhookNotFound):
        await rig.read(lambda: q.get_endpoint(a["id"]))


async def test_the_first_start_does_not_replay_history(rig):
    """An upgraded box: messages sent before webhooks existed are not delivered later."""
    ids = await rig.write(lambda: _accept(2))
    await rig.write(lambda: [transition_message(m, s, now=T0) for m in ids
                             for s in (MessageState.SENDING, MessageState.SENT)])
    await rig.write(lambda: q.create_endpoint("http://a/", ["*"], T0))
    assert await rig.write(lambda: q.record_message_events(T0)) == (0, False)
    await rig.write(lambda: transition_message(ids[0], MessageState.DELIVERED, now=T0))
    assert await rig.write(lambda: q.record_message_events(T0)) == (1, False)
