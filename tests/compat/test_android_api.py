"""The "SMS Gateway for Android" local API against the running appliance on simulated modems:
the official Python client (PyPI `android-sms-gateway`, synchronous over requests, so run on a
thread while the event loop serves) sends, polls until Delivered, cancels and replays an id;
raw HTTP for each refusal, bodies asserted."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
from android_sms_gateway import client as asg_client
from android_sms_gateway import domain, errors
from android_sms_gateway.enums import HealthStatus, ProcessState

from appliance.api import android as android_api
from appliance.api import auth
from appliance.store import android as store_android
from tests.api.conftest import FakeClock, Gateway, running, wait_for

KEYS = {"full": ["send", "read"], "reader": ["read"], "sender": ["send"]}
NUMBER = "+8613800138000"
OTHER = "+8613900139000"



def api(gw: Gateway, key: str = "full") -> asg_client.APIClient:
    return asg_client.APIClient(key, gw.keys[key], base_url=gw.base_url)


async def call(gw: Gateway, what: str, *args: Any, key: str = "full") -> Any:
    """`APIClient.<what>(*args)` on a thread (the client blocks on requests)."""
    def run() -> Any:
        with api(gw, key) as client:
            return getattr(client, what)(*args)
    return await asyncio.to_thread(run)


def basic(gw: Gateway, key: str = "full", login: str | None = None) -> dict[str, str]:
    raw = f"{login if login is not None else key}:{gw.keys[key]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def poll(gw: Gateway, message_id: str, state: ProcessState) -> domain.MessageState:
    async def check() -> domain.MessageState | None:
        got = await call(gw, "get_state", message_id)
        return got if got.state is state else None
    return await wait_for(check, f"message {message_id} {state.value}")


async def test_the_client_sends_and_polls_until_delivered(gateway: Gateway) -> None:
    message = domain.Message(phone_numbers=[NUMBER, OTHER],
                             text_message=domain.TextMessage("警报: disk 91% full"))
    state = await call(gateway, "send", message)
    assert len(state.id) == 21
    assert state.state in (ProcessState.Pending, ProcessState.Processed)
    assert [r.phone_number for r in state.recipients] == [NUMBER, OTHER]
    assert state.is_encrypted is False and state.is_hashed is False
    assert "Pending" in state.states
    done = await poll(gateway, state.id, ProcessState.Delivered)
    assert [(r.phone_number, r.state) for r in done.recipients] == \
        [(NUMBER, ProcessState.Delivered), (OTHER, ProcessState.Delivered)]
    assert {"Pending", "Processed", "Sent", "Delivered"} <= set(done.states)
    assert done.states["Pending"] <= done.states["Sent"] <= done.states["Delivered"]
    assert sum(len(m.accepted) for m in gateway.fleet.modems) == 2


async def test_the_same_id_from_the_same_key_is_the_same_message(gateway: Gateway) -> None:
    message = domain.Message(phone_numbers=[NUMBER], text_message=domain.TextMessage("once"),
                             id="alarm-42")
    first = await call(gateway, "send", message)
    again = await call(gateway, "send", message)
    assert first.id == again.id == "alarm-42"
    await poll(gateway, "alarm-42", ProcessState.Delivered)
    third = await call(gateway, "send", message)
    assert third.state is ProcessState.Delivered
    assert sum(len(m.accepted) for m in gateway.fleet.modems) == 1
    # Another text under the same id is refused, naming the id.
    other = domain.Message(phone_numbers=[NUMBER], text_message=domain.TextMessage("twice"),
                           id="alarm-42")
    response = await gateway.client.post("/messages", json=other.asdict(), headers=basic(gateway))
    assert response.status_code == 409
    assert response.json() == {"message": "id 'alarm-42' is already used by a different "
                                          "message from this key"}
    # Another key's id space is its own: "alarm-42" is not found from the sender key's view...
    response = await gateway.client.get("/messages/alarm-42", headers=basic(gateway, "reader"))
    assert response.status_code == 404


async def test_the_client_cancels_a_queued_message(tmp_path: Path) -> None:
    # One SIM allowed one message a day: the second waits in the queue.
    async with running(tmp_path, modems=1, keys=KEYS, per_sim_per_day=1) as gw:
        await gw.wait_ready()
        first = await call(gw, "send", domain.Message(
            phone_numbers=[OTHER], text_message=domain.TextMessage("the day's one")))
        await poll(gw, first.id, ProcessState.Sent)
        state = await call(gw, "send", domain.Message(
            phone_numbers=[NUMBER], text_message=domain.TextMessage("never"), id="held-1"))
        assert state.state is ProcessState.Pending
        await call(gw, "cancel_message", "held-1")
        got = await call(gw, "get_state", "held-1")
        assert got.state is ProcessState.Cancelled
        assert [(r.phone_number, r.state) for r in got.recipients] == \
            [(NUMBER, ProcessState.Cancelled)]
        assert set(got.states) == {"Pending", "Cancelled"}
        # Cancelling again is no error: it is cancelled.
        response = await gw.client.delete("/messages/held-1", headers=basic(gw))
        assert response.status_code == 204
        # One recipient refused (a duplicate), the other cancelled: the message is Cancelled.
        state = await call(gw, "send", domain.Message(
            phone_numbers=[NUMBER, NUMBER], text_message=domain.TextMessage("neither"),
            id="held-2"))
        response = await gw.client.delete("/messages/held-2", headers=basic(gw))
        assert response.status_code == 204
        got = await call(gw, "get_state", "held-2")
        assert got.state is ProcessState.Cancelled
        assert [r.state for r in got.recipients] == \
            [ProcessState.Cancelled, ProcessState.Failed]
        assert sum(len(m.accepted) for m in gw.fleet.modems) == 1


async def test_a_sent_message_can_no_longer_be_cancelled(gateway: Gateway) -> None:
    state = await call(gateway, "send", domain.Message(
        phone_numbers=[NUMBER], text_message=domain.TextMessage("gone")))
    await poll(gateway, state.id, ProcessState.Delivered)
    with pytest.raises(errors.APIError) as raised:
        await call(gateway, "cancel_message", state.id)
    assert raised.value.status_code == 409
    response = await gateway.client.delete(f"/messages/{state.id}", headers=basic(gateway))
    body = response.json()
    assert body["message"] == f"message {state.id!r} can no longer be cancelled: it is Delivered"
    assert body["state"]["state"] == "Delivered"


async def test_sim_number_picks_a_sim_by_iccid_order(gateway: Gateway) -> None:
    iccids = sorted(m.profile.iccid for m in gateway.fleet.modems)
    state = await call(gateway, "send", domain.Message(
        phone_numbers=[NUMBER], text_message=domain.TextMessage("via two"), sim_number=2))
    await poll(gateway, state.id, ProcessState.Delivered)
    used = [m.profile.iccid for m in gateway.fleet.modems if m.accepted]
    assert used == [iccids[1]]
    response = await gateway.client.post("/messages", headers=basic(gateway), json={
        "phoneNumbers": [NUMBER], "textMessage": {"text": "x"}, "simNumber": 3})
    assert response.status_code == 400
    assert response.json() == {"message": "simNumber: there is no SIM 3 here"}


async def test_the_older_plain_message_field_and_the_singular_path(gateway: Gateway) -> None:
    response = await gateway.client.post("/message", headers=basic(gateway), json={
        "phoneNumbers": [NUMBER], "message": "plain", "withDeliveryReport": True,
        "priority": 100, "ttl": 3600})
    assert response.status_code == 202
    body = response.json()
    assert body["state"] == "Pending" or body["state"] == "Processed"
    assert body["recipients"][0]["phoneNumber"] == NUMBER
    assert body["isHashed"] is False and body["isEncrypted"] is False
    assert set(body["states"]) >= {"Pending"}
    await poll(gateway, body["id"], ProcessState.Delivered)


# -- refusals, raw HTTP ------------------------------------------------------------------------

async def test_bad_auth_is_401_with_a_message(gateway: Gateway) -> None:
    payload = {"phoneNumbers": [NUMBER], "textMessage": {"text": "x"}}
    response = await gateway.client.post("/messages", json=payload)
    assert response.status_code == 401
    assert response.json() == {"message": "Basic authentication is needed: an API key's name "
                                          "as the login and the key as the password"}
    assert response.headers["www-authenticate"].startswith("Basic realm=")
    response = await gateway.client.post("/messages", json=payload,
                                         headers=basic(gateway, "full", login="sender"))
    assert response.status_code == 401
    assert response.json() == {"message": "the login is not the name of this API key"}
    wrong = base64.b64encode(b"full:cg_nothing_at_all").decode()
    response = await gateway.client.post("/messages", json=payload,
                                         headers={"Authorization": f"Basic {wrong}"})
    assert response.status_code == 401
    assert "not valid" in response.json()["message"]
    with pytest.raises(errors.UnauthorizedError):
        await asyncio.to_thread(lambda: asg_client.APIClient(
            "full", "cg_wrong", base_url=gateway.base_url).__enter__().get_state("x"))


async def test_only_admitted_requests_count_as_a_keys_use(gateway: Gateway) -> None:
    """A request refused for its login name (401) or its scope (403) is no use of the key
    (its last use, `KeyUses`); an admitted one is."""
    uses = gateway.appliance.key_uses = auth.KeyUses(clock=FakeClock())
    wrong = await gateway.client.get("/messages", headers=basic(gateway, login="someone"))
    assert wrong.status_code == 401
    scope = await gateway.client.get("/messages", headers=basic(gateway, "sender"))
    assert scope.status_code == 403
    assert uses.queued == 0
    assert (await gateway.client.get("/messages", headers=basic(gateway))).status_code == 200
    assert uses.queued == 1


async def test_a_throttled_address_gets_429_with_retry_after(gateway: Gateway) -> None:
    from appliance.api.auth import FAILURES_ALLOWED

    for _ in range(FAILURES_ALLOWED):
        await gateway.client.get("/messages/x")
    response = await gateway.client.get("/messages/x")
    assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1
    assert response.json() == {"message": "too many failed authentication attempts"}
    # a valid key is still served from a throttled address
    response = await gateway.client.get("/messages/x", headers=basic(gateway))
    assert response.status_code == 404


async def test_a_key_without_the_scope_is_403(gateway: Gateway) -> None:
    response = await gateway.client.post("/messages", headers=basic(gateway, "reader"), json={
        "phoneNumbers": [NUMBER], "textMessage": {"text": "x"}})
    assert response.status_code == 403
    assert response.json() == {"message": "the API key 'reader' lacks the 'send' scope"}


async def test_encrypted_messages_are_refused(gateway: Gateway) -> None:
    response = await gateway.client.post("/messages", headers=basic(gateway), json={
        "phoneNumbers": [NUMBER], "textMessage": {"text": "x"}, "isEncrypted": True})
    assert response.status_code == 400
    assert response.json()["message"].startswith(
        "isEncrypted: encrypted messages are not supported here")
    assert not any(m.accepted for m in gateway.fleet.modems)


@pytest.mark.parametrize(("body", "message"), [
    ({"textMessage": {"text": "x"}},
     "phoneNumbers: must be a non-empty list of phone numbers"),
    ({"phoneNumbers": [], "textMessage": {"text": "x"}},
     "phoneNumbers: must be a non-empty list of phone numbers"),
    ({"phoneNumbers": [NUMBER]}, "textMessage.text: a text to send is needed"),
    ({"phoneNumbers": [NUMBER], "textMessage": {"text": ""}},
     "textMessage.text: must be a non-empty string"),
    ({"phoneNumbers": ["not a number"], "textMessage": {"text": "x"}}, None),
    ({"phoneNumbers": [NUMBER], "textMessage": {"text": "x"}, "id": "a/b"},
     "id: must be 1 to 64 characters of A-Z a-z 0-9 _ . ~ -"),
    ({"phoneNumbers": [NUMBER], "textMessage": {"text": "x"}, "ttl": 5,
      "validUntil": "2030-01-01T00:00:00Z"}, "ttl and validUntil are mutually exclusive"),
    ({"phoneNumbers": [NUMBER], "textMessage": {"text": "x"}, "priority": 500},
     "priority: must be a whole number from -128 to 127"),
    ({"phoneNumbers": [NUMBER], "dataMessage": {"data": "AA==", "port": 53739}},
     "only text messages (textMessage) can be sent here"),
    ({"phoneNumbers": [NUMBER], "textMessage": {"text": "x"}, "bogus": 1},
     "unknown field 'bogus'"),
    ([1, 2], "the request body must be a JSON object"),
    ({"phoneNumbers": [NUMBER], "textMessage": {"text": "x"}, "simNumber": 2**64},
     "simNumber: must be a SIM slot number from 1 to 1000"),
])
async def test_invalid_send_requests_are_400(gateway: Gateway, body: Any,
                                             message: str | None) -> None:
    response = await gateway.client.post("/messages", headers=basic(gateway), json=body)
    assert response.status_code == 400
    got = response.json()
    assert list(got) == ["message"]
    if message is None:
        assert got["message"].startswith("phoneNumbers: ")
    else:
        assert got["message"] == message


async def test_a_body_that_is_not_json_is_400(gateway: Gateway) -> None:
    response = await gateway.client.post("/messages", headers=basic(gateway),
                                         content=b"{not json")
    assert response.status_code == 400
    assert response.json() == {"message": "the request body is not valid JSON"}


async def test_an_unknown_id_is_404(gateway: Gateway) -> None:
    for method in ("GET", "DELETE"):
        response = await gateway.client.request(method, "/messages/no-such-id",
                                                headers=basic(gateway))
        assert response.status_code == 404
        assert response.json() == {"message": "message 'no-such-id' not found"}
    with pytest.raises(errors.NotFoundError):
        await call(gateway, "get_state", "no-such-id")


async def test_another_keys_message_is_404(gateway: Gateway) -> None:
    state = await call(gateway, "send", domain.Message(
        phone_numbers=[NUMBER], text_message=domain.TextMessage("mine")), key="sender")
    response = await gateway.client.get(f"/messages/{state.id}", headers=basic(gateway))
    assert response.status_code == 404


async def test_a_retry_with_valid_until_later_is_still_the_same_message(
        gateway: Gateway) -> None:
    """validUntil becomes a validity counted from now: a retry seconds later asks for a
    shorter one, and must still get the original answer, not a 409."""
    from datetime import UTC, datetime, timedelta

    def later(hours: float) -> str:
        return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()

    body = {"id": "retry-1", "phoneNumbers": [NUMBER], "textMessage": {"text": "hello"},
            "validUntil": later(2)}
    first = await gateway.client.post("/messages", headers=basic(gateway), json=body)
    assert first.status_code == 202, first.text
    again = await gateway.client.post("/messages", headers=basic(gateway),
                                      json={**body, "validUntil": later(1)})
    assert again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"] == "retry-1"
    other = await gateway.client.post("/messages", headers=basic(gateway),
                                      json={**body, "textMessage": {"text": "changed"}})
    assert other.status_code == 409
    assert "already used by a different message" in other.json()["message"]
    count = sum(1 for m in gateway.fleet.modems for a in m.accepted if a.submit.to == NUMBER)
    assert count <= 1


async def test_refused_recipients_are_failed_in_request_order_and_remembered(
        gateway: Gateway) -> None:
    """The app lists every recipient, one it could not send to as Failed with an error: a
    blacklisted number and a repeated one are listed where they stood, in the 202 and in
    every GET after, and a retry under the same id is still the same message."""
    blocked = "+8613800138950"
    await gateway.appliance.blacklist.add(blocked, "TD", "sms")
    message = domain.Message(phone_numbers=[blocked, NUMBER, NUMBER],
                             text_message=domain.TextMessage("hi"), id="mixed-1")
    state = await call(gateway, "send", message)
    got = [(r.phone_number, r.state) for r in state.recipients]
    assert got[0] == (blocked, ProcessState.Failed)
    assert got[1][0] == NUMBER and got[1][1] is not ProcessState.Failed
    assert got[2] == (NUMBER, ProcessState.Failed)
    assert "blacklisted" in state.recipients[0].error
    assert "duplicate" in state.recipients[2].error
    assert state.recipients[1].error is None
    async def delivered() -> domain.MessageState | None:
        got = await call(gateway, "get_state", "mixed-1")
        return got if got.recipients[1].state is ProcessState.Delivered else None
    done = await wait_for(delivered, "mixed-1 delivered to NUMBER")
    assert done.state is ProcessState.Sent  # the app's rule: not every recipient failed
    assert [(r.phone_number, r.state, r.error) for r in done.recipients] == [
        (blocked, ProcessState.Failed, state.recipients[0].error),
        (NUMBER, ProcessState.Delivered, None),
        (NUMBER, ProcessState.Failed, state.recipients[2].error)]
    again = await call(gateway, "send", message)
    assert [(r.phone_number, r.state) for r in again.recipients] == \
        [(r.phone_number, r.state) for r in done.recipients]
    assert sum(len(m.accepted) for m in gateway.fleet.modems) == 1


async def test_a_failed_refusal_write_is_still_a_202_and_a_retry_saves_them(
        gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusals are saved after the messages: when that write fails, the send (stored)
    is still a 202 listing them, and a retry under the same id is the same message (not a
    409 for the recipients it cannot find), which saves them."""
    blocked = "+8613800138950"
    await gateway.appliance.blacklist.add(blocked, "TD", "sms")
    real = store_android.save_refusals

    def failing(**kwargs: Any) -> None:
        raise RuntimeError("disk full")
    monkeypatch.setattr(store_android, "save_refusals", failing)
    body = {"id": "lost-refusals", "phoneNumbers": [blocked, NUMBER, NUMBER],
            "textMessage": {"text": "hi"}}
    first = await gateway.client.post("/messages", headers=basic(gateway), json=body)
    assert first.status_code == 202, first.text
    assert [(r["phoneNumber"], r["state"]) for r in first.json()["recipients"]][::2] == \
        [(blocked, "Failed"), (NUMBER, "Failed")]
    assert "blacklisted" in first.json()["recipients"][0]["error"]
    bare = await gateway.client.get("/messages/lost-refusals", headers=basic(gateway))
    assert len(bare.json()["recipients"]) == 1  # nothing of the refusals stored
    monkeypatch.setattr(store_android, "save_refusals", real)
    again = await gateway.client.post("/messages", headers=basic(gateway), json=body)
    assert again.status_code == 202, again.text
    listed = await gateway.client.get("/messages/lost-refusals", headers=basic(gateway))
    assert [(r["phoneNumber"], r["state"]) for r in listed.json()["recipients"]][::2] == \
        [(blocked, "Failed"), (NUMBER, "Failed")]
    assert listed.json()["recipients"][0]["error"] == android_api.UNRECORDED
    other = {"id": "plain", "phoneNumbers": [NUMBER, OTHER], "textMessage": {"text": "ho"}}
    assert (await gateway.client.post("/messages", headers=basic(gateway),
                                      json=dict(other, phoneNumbers=[NUMBER]))).status_code == 202
    # OTHER never was refused (not blacklisted, never sent "hi"): another message, a 409
    conflict = await gateway.client.post("/messages", headers=basic(gateway), json=other)
    assert conflict.status_code == 409, conflict.text


async def test_a_retry_overtaken_by_the_first_requests_refusals_keeps_their_reasons(
        gateway: Gateway) -> None:
    """A retry that saved the refusals without their reasons is overwritten by the first
    request's own write (replace), which knows them."""
    app = gateway.appliance
    now = app.dispatcher.now()
    await app.store.write(lambda: store_android.save_refusals(
        key_id=1, android_id="x", refused=[(0, NUMBER, "unknown")], now=now))
    await app.store.write(lambda: store_android.save_refusals(
        key_id=1, android_id="x", refused=[(0, NUMBER, "blacklisted: TD")], now=now,
        replace=True))
    await app.store.write(lambda: store_android.save_refusals(
        key_id=1, android_id="x", refused=[(0, NUMBER, "again")], now=now))
    got = await app.store.read(lambda: store_android.refusals_of(key_id=1, android_id="x"))
    assert [r["error"] for r in got] == ["blacklisted: TD"]


async def test_a_request_whose_every_recipient_is_blacklisted_stays_a_400(
        gateway: Gateway) -> None:
    blocked = "+8613800138950"
    await gateway.appliance.blacklist.add(blocked, "TD", "sms")
    response = await gateway.client.post(
        "/messages", headers=basic(gateway),
        json={"id": "all-blocked", "phoneNumbers": [blocked], "textMessage": {"text": "hi"}})
    assert response.status_code == 400
    assert response.json()["message"].startswith("phoneNumbers: every recipient is on the "
                                                 "blacklist: +8613800138950")
    assert (await gateway.client.get("/messages/all-blocked",
                                     headers=basic(gateway))).status_code == 404


async def test_the_clients_health_check_gets_the_apps_health(gateway: Gateway) -> None:
    """`health_check()` is `GET /health`; the app answers it without a login (the client
    sends its credentials all the same: wrong ones change nothing)."""
    health = await call(gateway, "health_check")
    assert health.status is HealthStatus.PASS
    assert health.version and isinstance(health.release_id, int)
    ready = health.checks["modems:ready"]
    assert ready.status is HealthStatus.PASS
    assert ready.observed_value == len(gateway.fleet.modems)
    assert health.checks["gateway:problems"].observed_value == 0

    def with_a_wrong_password() -> domain.HealthResponse:
        with asg_client.APIClient("full", "wrong", base_url=gateway.base_url) as client:
            return client.health_check()
    assert (await asyncio.to_thread(with_a_wrong_password)).status is HealthStatus.PASS
    bare = await gateway.client.get("/health")
    assert bare.status_code == 200 and bare.json()["status"] == "pass"


async def test_the_client_lists_its_keys_messages_paged_sorted_and_by_state(
        gateway: Gateway) -> None:
    """`get_messages()` is `GET /messages` with from/to/state/limit/offset/sort: this key's
    Android messages (another key's are not listed), each as `get_state` answers it."""
    blocked = "+8613800138950"
    await gateway.appliance.blacklist.add(blocked, "TD", "sms")
    ids = []
    for n, numbers in enumerate(([NUMBER], [blocked, OTHER], [OTHER])):
        sent = await call(gateway, "send", domain.Message(
            phone_numbers=numbers, text_message=domain.TextMessage(f"list me {n}")))
        ids.append(sent.id)
    await call(gateway, "send", domain.Message(
        phone_numbers=[NUMBER], text_message=domain.TextMessage("not yours")), key="sender")
    for message_id in ids:
        async def settled(message_id: str = message_id) -> bool:
            got = await call(gateway, "get_state", message_id)
            return all(r.state in (ProcessState.Delivered, ProcessState.Failed)
                       for r in got.recipients)
        await wait_for(settled, f"{message_id} settled")

    def get_messages(**kwargs: Any) -> list[domain.MessageState]:
        with api(gateway) as client:
            return client.get_messages(**kwargs)

    async def listing(**kwargs: Any) -> list[domain.MessageState]:
        return await asyncio.to_thread(get_messages, **kwargs)

    listed = await listing()
    assert [m.id for m in listed] == ids[::-1]  # newest first
    assert [(r.phone_number, r.state) for r in listed[1].recipients] == \
        [(blocked, ProcessState.Failed), (OTHER, ProcessState.Delivered)]
    oldest = await listing(sort="created_at")
    assert [m.id for m in oldest] == ids
    page = await listing(pagination=domain.QueryPagination(limit=1, offset=1))
    assert [m.id for m in page] == [ids[1]]
    delivered = await listing(query=domain.MessagesQueryFilter(state="Delivered"))
    assert [m.id for m in delivered] == [ids[2], ids[0]]
    sent = await listing(query=domain.MessagesQueryFilter(state="Sent"))
    assert [m.id for m in sent] == [ids[1]]
    from datetime import UTC, datetime, timedelta
    later = await listing(query=domain.MessagesQueryFilter(
        from_=datetime.now(UTC) + timedelta(minutes=1)))
    assert later == []
    bad = await gateway.client.get("/messages?state=Lost", headers=basic(gateway))
    assert bad.status_code == 400 and list(bad.json()) == ["message"]


async def test_the_client_lists_the_inbox(gateway: Gateway) -> None:
    """`list_inbox_messages()` is `GET /inbox` (type, from, to, limit, offset): newest first,
    each with the simNumber `send` would use to answer through the same SIM."""
    modem = gateway.fleet.modems[0]
    modem.inject_sms(OTHER, "first")
    modem.inject_sms(OTHER, "second")

    async def both() -> bool:
        return len((await gateway.get("/api/v1/inbox")).json()["messages"]) == 2
    await wait_for(both, "two SMS in the inbox")

    def run(*args: Any) -> Any:
        with api(gateway) as client:
            return client.list_inbox_messages(inbox_filter=args[0], pagination=args[1])

    listed = await asyncio.to_thread(run, None, None)
    assert [(m.message_type, m.sender, m.content_preview) for m in listed] == \
        [("SMS", OTHER, "second"), ("SMS", OTHER, "first")]
    assert listed[0].created_at is not None and listed[0].sim_number >= 1
    page = await asyncio.to_thread(run, None, domain.QueryPagination(limit=1, offset=1))
    assert [m.content_preview for m in page] == ["first"]
    bare = await gateway.client.get("/inbox?type=MMS", headers=basic(gateway))
    assert bare.status_code == 200, bare.text
    mms = await asyncio.to_thread(run, domain.InboxQueryFilter(message_type="MMS"), None)
    assert mms == []
    refused = await gateway.client.get("/inbox", headers=basic(gateway, "sender"))
    assert refused.status_code == 403
