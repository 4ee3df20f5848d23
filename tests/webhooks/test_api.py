"""/api/v1/webhooks on the running appliance (real HTTP, real SQLite, simulated modems), and
end to end: an outbound message reaching sent/failed on simulated modems is POSTed."""

from __future__ import annotations

import json
import time
from pathlib import Path

from appliance.webhooks.signing import verify
from tests.api.conftest import running, wait_for
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import HOSTILE

KEYS = {"admin": ["admin"], "reader": ["read"], "full": ["send", "read"]}


async def test_the_webhooks_api(tmp_path: Path):
    receiver = await Receiver().start()
    try:
        async with running(tmp_path, modems=1, keys=KEYS) as gw:
            async def patch(path, body, key="admin"):
                return await gw.client.patch(path, json=body, headers=gw.auth(key))

            # bad input: 400 naming the field
            for body, field, words in [
                ({"url": "ftp://x/", "events": ["*"]}, "url", "http"),
                ({"url": "http://x/", "events": ["sms.recieved"]}, "events", "sms.recieved"),
                ({"events": ["*"]}, "url", "required"),
                ({"url": "http://x/"}, "events", "required"),
                ({"url": "http://x/", "events": ["*"], "colour": 1}, "colour", "unknown"),
                ({"url": "http://x/", "events": ["*"], "secret": 7}, "secret", "string"),
                ({"url": "http://x/", "events": ["*"], "enabled": "yes"}, "enabled", "true"),
            ]:
                r = await gw.post("/api/v1/webhooks", key="admin", json=body)
                assert r.status_code == 400, body
                error = r.json()["error"]
                assert error["field"] == field and words in error["message"], error
            r = await gw.post("/api/v1/webhooks", key="admin", content=b"{nope")
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"

            # scopes: read may list, only admin may change
            r = await gw.post("/api/v1/webhooks", key="full",
                              json={"url": receiver.url, "events": ["*"]})
            assert r.status_code == 403
            r = await gw.post("/api/v1/webhooks", key="admin", json={
                "url": receiver.url, "events": ["sms.received", "message.failed"],
                "description": "the NAS"})
            assert r.status_code == 201
            made = r.json()
            assert made["secret"] and made["events"] == ["sms.received", "message.failed"]
            assert made["enabled"] is True and made["description"] == "the NAS"
            listed = (await gw.get("/api/v1/webhooks", key="admin")).json()
            assert [w["id"] for w in listed["webhooks"]] == [made["id"]]
            assert "secret" not in listed["webhooks"][0] and "sms.received" in listed["events"]

            # a test delivery, then the endpoint shows it with counts
            r = await gw.post(f"/api/v1/webhooks/{made['id']}/test", key="admin")
            assert r.status_code == 202
            delivery = r.json()["delivery"]
            await receiver.wait_for_count(1)
            got = receiver.requests[0]
            assert got.headers["x-cardgate-event"] == "webhook.test"
            assert got.headers["x-cardgate-delivery"] == str(delivery)
            assert verify(made["secret"], got.headers["x-cardgate-timestamp"], got.body,
                          got.headers["x-cardgate-signature"], now=time.time())

            async def shown():
                one = (await gw.get(f"/api/v1/webhooks/{made['id']}", key="admin")).json()
                return one if one["counts"]["delivered"] == 1 else None

            one = await wait_for(shown, "the delivery recorded")
            assert "secret" not in one
            assert one["deliveries"][0]["id"] == delivery
            assert one["deliveries"][0]["state"] == "delivered"
            assert one["deliveries"][0]["last_status"] == 200

            # PATCH: validated, applied; a new secret is shown once
            r = await patch(f"/api/v1/webhooks/{made['id']}", {"events": ["nope"]})
            assert r.status_code == 400 and r.json()["error"]["field"] == "events"
            r = await patch(f"/api/v1/webhooks/{made['id']}", {"enabled": False}, key="reader")
            assert r.status_code == 403
            r = await patch(f"/api/v1/webhooks/{made['id']}",
                            {"enabled": False, "secret": None})
            assert r.status_code == 200
            assert r.json()["enabled"] is False and r.json()["secret"] != made["secret"]
            assert (await patch("/api/v1/webhooks/999", {"enabled": True})).status_code == 404

            # DELETE
            r = await gw.delete(f"/api/v1/webhooks/{made['id']}", key="admin")
            assert r.status_code == 204
            r = await gw.get(f"/api/v1/webhooks/{made['id']}", key="admin")
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
            r = await gw.post(f"/api/v1/webhooks/{made['id']}/test", key="admin")
            assert r.status_code == 404
    finally:
        await receiver.stop()


async def test_a_key_sees_only_the_endpoints_it_registered(tmp_path: Path):
    """As for messages: another key's endpoint (whose deliveries tell of other keys' messages)
    is a 404 exactly like a missing one; an admin key sees every endpoint."""
    receiver = await Receiver().start()
    keys = {**KEYS, "other": ["read"]}
    try:
        async with running(tmp_path, modems=1, keys=keys) as gw:
            await gw.wait_ready()
            r = await gw.post("/api/v1/webhooks", key="admin", json={
                "url": receiver.url, "events": ["message.sent"]})
            assert r.status_code == 201
            system = r.json()["id"]
            r = await gw.client.post("/webhooks", auth=("reader", gw.keys["reader"]), json={
                "id": "mine", "url": receiver.url, "event": "sms:received"})
            assert r.status_code == 201, r.text
            listed = (await gw.get("/api/v1/webhooks", key="admin")).json()["webhooks"]
            own = next(w["id"] for w in listed if w["id"] != system)
            # the system endpoint hears the "full" key's message
            r = await gw.post("/api/v1/messages", key="full", json={
                "to": "+8613800138000", "text": "hello", "client_ref": "secret-ref"})
            assert r.status_code in (200, 201, 202), r.text

            async def delivered():
                one = (await gw.get(f"/api/v1/webhooks/{system}", key="admin")).json()
                return one if one["deliveries"] else None

            one = await wait_for(delivered, "the system endpoint's delivery")
            assert "secret-ref" in json.dumps(one["deliveries"])

            missing = await gw.get("/api/v1/webhooks/999999", key="reader")
            assert missing.status_code == 404
            for key, hidden, shown in [("reader", [system], [own]),
                                       ("other", [system, own], []),
                                       ("full", [system, own], [])]:
                listed = (await gw.get("/api/v1/webhooks", key=key)).json()["webhooks"]
                assert [w["id"] for w in listed] == shown, key
                for hook in hidden:
                    r = await gw.get(f"/api/v1/webhooks/{hook}", key=key)
                    assert r.status_code == 404, (key, hook)
                    assert r.json() == json.loads(
                        missing.text.replace("999999", str(hook))), (key, hook)
                    r = await gw.client.head(f"/api/v1/webhooks/{hook}", headers=gw.auth(key))
                    assert r.status_code == 404, (key, hook)
                for hook in shown:
                    r = await gw.get(f"/api/v1/webhooks/{hook}", key=key)
                    assert r.status_code == 200 and r.json()["id"] == hook
            listed = (await gw.get("/api/v1/webhooks", key="admin")).json()["webhooks"]
            assert sorted(w["id"] for w in listed) == sorted([system, own])
            assert (await gw.get(f"/api/v1/webhooks/{own}", key="admin")).status_code == 200
    finally:
        await receiver.stop()


async def test_sent_failed_and_received_reach_the_receiver(tmp_path: Path):
    receiver = await Receiver().start()
    try:
        async with running(tmp_path, modems=2, keys=KEYS) as gw:
            await gw.wait_ready()
            r = await gw.post("/api/v1/webhooks", key="admin", json={
                "url": receiver.url,
                "events": ["message.sent", "message.failed", "sms.received"]})
            secret = r.json()["secret"]

            r = await gw.post("/api/v1/messages", json={"to": "+8613800138000", "text": "hi"})
            sent_id = r.json()["messages"][0]["id"]
            await gw.wait_message(sent_id, {"sent", "delivered"})
            for modem in gw.fleet.modems:
                modem.fail_next_sends(1)  # RP cause 1, unassigned number: failed at once
            r = await gw.post("/api/v1/messages", json={"to": "+8613800138001", "text": "no"})
            failed_id = r.json()["messages"][0]["id"]
            await gw.wait_message(failed_id, {"failed"})
            # a real inbound SMS through the simulator: the inbox stores it, then publishes
            gw.fleet.modems[1].inject_sms("+8613900139000", HOSTILE)
            await receiver.wait_for_count(3)

            bodies = {}
            for got in receiver.requests:
                assert verify(secret, got.headers["x-cardgate-timestamp"], got.body,
                              got.headers["x-cardgate-signature"], now=time.time())
                body = json.loads(got.body)
                assert got.headers["x-cardgate-event"] == body["event"]
                bodies[body["event"]] = body["data"]
            assert set(bodies) == {"message.sent", "message.failed", "sms.received"}
            sent = bodies["message.sent"]
            assert (sent["id"], sent["recipient"], sent["state"]) == (
                sent_id, "+8613800138000", "sent")
            assert sent["sim"] and sent["time"]
            failed = bodies["message.failed"]
            assert (failed["id"], failed["state"]) == (failed_id, "failed")
            assert failed["error"]
            received = bodies["sms.received"]
            assert received["text"] == HOSTILE  # exactly as stored, never interpreted
            assert received["number"] == "+8613900139000" and received["partial"] is False
            assert received["sim"] == gw.fleet.modems[1].profile.iccid
            inbox = (await gw.get("/api/v1/inbox")).json()["messages"]
            assert [m["id"] for m in inbox] == [received["id"]]  # the inbox's own row id
    finally:
        await receiver.stop()
