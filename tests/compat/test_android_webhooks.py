"""The "SMS Gateway for Android" API's webhooks against the running appliance: registered with
the official client, delivered through the durable queue (retried when the receiver fails) in
the app's envelope, signed as the app signs (`X-Signature`: hex HMAC-SHA256 of the body then
`X-Timestamp`), and parsed with the client's own payload classes.

The client (android-sms-gateway 4.3.3) has no signature helper of its own: the check below
is the app's documented recipe, written out."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from android_sms_gateway import client as asg_client
from android_sms_gateway import domain, errors
from android_sms_gateway import webhooks as asg_webhooks
from android_sms_gateway.enums import WebhookEvent

from tests.api.conftest import Gateway, wait_for
from tests.webhooks.receiver import Received, Receiver

KEYS = {"full": ["send", "read"], "other": ["send", "read"], "sender": ["send"],
        "admin": ["admin"]}
NUMBER = "+8613800138000"



@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    try:
        yield r
    finally:
        await r.stop()


async def call(gw: Gateway, what: str, *args: Any, key: str = "full") -> Any:
    def run() -> Any:
        with asg_client.APIClient(key, gw.keys[key], base_url=gw.base_url) as client:
            return getattr(client, what)(*args)
    return await asyncio.to_thread(run)


def basic(gw: Gateway, key: str = "full") -> dict[str, str]:
    raw = f"{key}:{gw.keys[key]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def register(gw: Gateway, url: str, event: str, key: str = "full",
                   hook_id: str | None = None) -> dict[str, Any]:
    """Raw POST (the client's answer drops the signing key it needs)."""
    response = await gw.client.post("/webhooks", headers=basic(gw, key), json={
        "id": hook_id, "url": url, "event": event})
    assert response.status_code == 201, response.text
    return response.json()


def verified(request: Received, secret: str) -> dict[str, Any]:
    """The body, once its signature checks out as the app's receivers check it."""
    timestamp = request.headers["x-timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    expected = hmac.new(secret.encode(), request.body + timestamp.encode(),
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-signature"], expected)
    return json.loads(request.body)


async def test_register_list_and_delete_with_the_client(gateway: Gateway,
                                                        receiver: Receiver) -> None:
    created = await call(gateway, "create_webhook", domain.Webhook(
        id=None, url=receiver.url, event=WebhookEvent.SMS_RECEIVED))
    assert created.url == receiver.url and created.event is WebhookEvent.SMS_RECEIVED
    assert created.id and created.device_id == "cardgate"
    again = await call(gateway, "create_webhook", domain.Webhook(
        id="mine", url=receiver.url, event=WebhookEvent.SMS_DELIVERED))
    assert again.id == "mine"
    listed = await call(gateway, "get_webhooks")
    assert [(w.id, w.event) for w in listed] == \
        [(created.id, WebhookEvent.SMS_RECEIVED), ("mine", WebhookEvent.SMS_DELIVERED)]
    assert await call(gateway, "get_webhooks", key="other") == []  # each key sees its own
    # The same id again replaces that endpoint.
    await call(gateway, "create_webhook", domain.Webhook(
        id="mine", url=receiver.url + "2", event=WebhookEvent.SMS_FAILED))
    listed = await call(gateway, "get_webhooks")
    assert [(w.id, w.url, w.event) for w in listed][1] == \
        ("mine", receiver.url + "2", WebhookEvent.SMS_FAILED)
    await call(gateway, "delete_webhook", "mine")
    assert [w.id for w in await call(gateway, "get_webhooks")] == [created.id]
    with pytest.raises(errors.NotFoundError):
        await call(gateway, "delete_webhook", "mine")


async def test_an_inbound_sms_is_delivered_signed_in_the_apps_envelope(
        gateway: Gateway, receiver: Receiver) -> None:
    hook = await register(gateway, receiver.url, "sms:received", hook_id="inbox-hook")
    assert set(hook) == {"id", "url", "event", "deviceId", "secret"}
    gateway.fleet.modems[0].inject_sms("+8613900139000", "回复 TD 退订 ok")
    await receiver.wait_for_count(1)
    body = verified(receiver.requests[0], hook["secret"])
    assert body["event"] == "sms:received" and body["webhookId"] == "inbox-hook"
    assert body["deviceId"] == "cardgate" and body["id"]
    payload = asg_webhooks.SmsReceivedPayload.from_dict(body["payload"])
    assert payload.message == "回复 TD 退订 ok"
    assert payload.phone_number == payload.sender == "+8613900139000"
    assert payload.received_at is not None


async def test_sent_and_delivered_of_the_keys_own_message_with_its_android_id(
        gateway: Gateway, receiver: Receiver) -> None:
    sent = await register(gateway, receiver.url, "sms:sent")
    delivered = await register(gateway, receiver.url, "sms:delivered")
    # Another key's message is not told to this key's endpoints.
    await call(gateway, "send", domain.Message(
        phone_numbers=["+8613700137000"], text_message=domain.TextMessage("theirs")),
        key="other")
    await call(gateway, "send", domain.Message(
        phone_numbers=[NUMBER], text_message=domain.TextMessage("mine"), id="m-1"))
    await receiver.wait_for_count(2)
    await asyncio.sleep(0.5)
    bodies = {}
    for request in receiver.requests:
        secret = sent["secret"] if json.loads(request.body)["event"] == "sms:sent" \
            else delivered["secret"]
        body = verified(request, secret)
        bodies[body["event"]] = body
    assert len(receiver.requests) == 2
    assert bodies["sms:sent"]["webhookId"] == sent["id"]
    assert bodies["sms:sent"]["payload"]["messageId"] == "m-1"
    assert bodies["sms:sent"]["payload"]["phoneNumber"] == NUMBER
    assert bodies["sms:sent"]["payload"]["partsCount"] == 1
    assert bodies["sms:delivered"]["payload"]["messageId"] == "m-1"
    assert bodies["sms:delivered"]["payload"]["deliveredAt"]


async def test_a_failed_message_and_a_receiver_that_fails_first(gateway: Gateway) -> None:
    answers = iter([503])
    receiver = await Receiver(status=lambda _: next(answers, 200)).start()
    try:
        gateway.appliance.webhooks.config.backoff_base = 0.2  # retry soon
        hook = await register(gateway, receiver.url, "sms:failed")
        for modem in gateway.fleet.modems:
            modem.fail_next_sends(1)  # +CMS ERROR 1: number not assigned, a permanent failure
        await call(gateway, "send", domain.Message(
            phone_numbers=[NUMBER], text_message=domain.TextMessage("bad"), id="f-1"))
        await receiver.wait_for_count(1)
        assert [r.status for r in receiver.requests] == [503, 200]  # retried, same body
        assert receiver.requests[0].body == receiver.requests[1].body
        body = verified(receiver.requests[1], hook["secret"])
        assert body["event"] == "sms:failed"
        assert body["payload"]["messageId"] == "f-1" and body["payload"]["reason"]
    finally:
        await receiver.stop()


async def test_webhook_refusals(gateway: Gateway, receiver: Receiver) -> None:
    response = await gateway.client.post("/webhooks", json={"url": receiver.url,
                                                            "event": "sms:received"})
    assert response.status_code == 401 and "Basic" in response.json()["message"]
    response = await gateway.client.get("/webhooks", headers=basic(gateway, "sender"))
    assert response.status_code == 403
    assert response.json() == {"message": "the API key 'sender' lacks the 'read' scope"}
    response = await gateway.client.post("/webhooks", headers=basic(gateway), json={
        "url": receiver.url, "event": "mms:received"})
    assert response.status_code == 400
    assert response.json() == {"message": "event: 'mms:received' is not served here (served: "
                                          "sms:received, sms:sent, sms:delivered, sms:failed)"}
    response = await gateway.client.post("/webhooks", headers=basic(gateway), json={
        "url": "ftp://x", "event": "sms:sent"})
    assert response.status_code == 400 and response.json()["message"].startswith("url: ")
    response = await gateway.client.delete("/webhooks/nope", headers=basic(gateway))
    assert response.status_code == 404
    assert response.json() == {"message": "webhook 'nope' not found"}


# -- found in review ---------------------------------------------------------------------------

async def test_a_test_delivery_to_an_android_endpoint_goes_and_jams_nothing(
        gateway: Gateway, receiver: Receiver) -> None:
    hook = await register(gateway, receiver.url, "sms:received")
    ours = [w for w in (await gateway.get("/api/v1/webhooks", key="admin")).json()["webhooks"]
            if w["url"] == receiver.url]
    for _ in range(3):  # more than per_endpoint: a stuck slot would stop the next one
        response = await gateway.post(f"/api/v1/webhooks/{ours[0]['id']}/test", key="admin")
        assert response.status_code == 202, response.text
    await receiver.wait_for_count(3)
    assert [verified(r, hook["secret"])["event"] for r in receiver.requests] == \
        ["webhook.test"] * 3
    gateway.fleet.modems[0].inject_sms("+8613900139000", "still heard")
    await receiver.wait_for_count(4)
    assert verified(receiver.requests[3], hook["secret"])["event"] == "sms:received"


async def test_a_revoked_keys_endpoints_hear_nothing_more(gateway: Gateway,
                                                          receiver: Receiver) -> None:
    from appliance.store import apikeys

    await register(gateway, receiver.url, "sms:received", key="other")
    assert await gateway.appliance.store.write(lambda: apikeys.revoke_api_key("other"))
    gateway.fleet.modems[0].inject_sms("+8613900139000", "OTP 123456")
    async def stored() -> bool:
        return bool((await gateway.get("/api/v1/inbox")).json()["messages"])

    await wait_for(stored, "the SMS in the inbox")
    await asyncio.sleep(0.5)  # the fan-out and a POST would be done by now
    assert receiver.requests == []
    enabled = (await gateway.get("/api/v1/webhooks", key="admin")).json()["webhooks"]
    assert [w["enabled"] for w in enabled] == [False]


async def test_re_registering_a_disabled_endpoint_does_not_replay_what_went_by(
        gateway: Gateway, receiver: Receiver) -> None:
    hook = await register(gateway, receiver.url, "sms:received", hook_id="h1")
    ours = [w for w in (await gateway.get("/api/v1/webhooks", key="admin")).json()["webhooks"]
            if w["url"] == receiver.url]
    response = await gateway.client.patch(
        f"/api/v1/webhooks/{ours[0]['id']}", json={"enabled": False},
        headers={"Authorization": f"Bearer {gateway.keys['admin']}"})
    assert response.status_code == 200, response.text
    for n in range(3):
        gateway.fleet.modems[0].inject_sms("+8613900139000", f"while off {n}")
    await asyncio.sleep(1.5)
    await register(gateway, receiver.url, "sms:received", hook_id="h1")
    gateway.fleet.modems[1].inject_sms("+8613900139001", "after")
    await receiver.wait_for_count(1)
    await asyncio.sleep(0.5)
    assert [verified(r, hook["secret"])["payload"]["message"] for r in receiver.requests] == \
        ["after"]
