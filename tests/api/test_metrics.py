"""GET /metrics on a running appliance over simulated modems: the Prometheus text a scrape gets
says what the gateway did (messages by state, per SIM, inbound, modems, HTTP by route pattern),
and it is served only to a key with the read scope unless `[api] metrics_public`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from appliance.metrics import AppMetrics
from tests.api.conftest import Gateway, running, wait_for

MESSAGES = "/api/v1/messages"

Samples = dict[tuple[str, frozenset], float]


def parse(response: httpx.Response) -> Samples:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, name: str) -> dict[frozenset, float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


async def scrape(gw: Gateway, key: str | None = "reader") -> Samples:
    return parse(await gw.get("/metrics", key=key))


async def test_a_scrape_shows_what_the_gateway_did(tmp_path: Path) -> None:
    async with running(tmp_path, per_sim_per_hour=100) as gw:
        await gw.wait_ready()
        ok = (await gw.post(MESSAGES, json={"to": "+8613800138000", "text": "hi"})).json()
        ok_view = await gw.wait_message(ok["messages"][0]["id"], {"sent", "delivered"})
        for modem in gw.fleet.modems:
            modem.fail_next_sends(1)  # RP cause 1, unassigned number: failed at once
        bad = (await gw.post(MESSAGES, json={"to": "+8613800138001", "text": "no"})).json()
        bad_view = await gw.wait_message(bad["messages"][0]["id"], {"failed"})
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        held = await gw.post(MESSAGES, json={"to": "+8613800138002", "text": "later",
                                             "send_at": later, "priority": 5})
        assert held.status_code == 202, held.text
        gw.fleet.modems[1].inject_sms("+8613900139000", "reply")

        async def inbound() -> bool:
            return bool((await gw.get("/api/v1/inbox")).json()["messages"])

        await wait_for(inbound, "the injected SMS in the inbox")
        assert (await gw.get("/no/such/path")).status_code == 404
        # A known path asked with a method it does not take: its route's, not "unmatched"
        put = await gw.client.put(f"{MESSAGES}/{ok_view['id']}", headers=gw.auth())
        assert put.status_code == 405

        m = await scrape(gw)

        # messages by state, from the store
        assert value(m, "cardgate_messages", state=ok_view["state"]) == 1
        assert value(m, "cardgate_messages", state="failed") == 1
        assert value(m, "cardgate_messages", state="queued") == 1  # send_at: queued, not due
        assert value(m, "cardgate_messages", state="cancelled") == 0
        assert series(m, "cardgate_queue_depth") == {
            frozenset({("state", "queued"), ("priority", "5")}): 1}
        # per SIM: the message each SIM claimed, parts sent and failures since start, caps
        sent_sim, failed_sim = ok_view["sim"], bad_view["sim"]
        assert value(m, "cardgate_sim_messages", sim=sent_sim, state=ok_view["state"]) == 1
        assert value(m, "cardgate_sim_messages", sim=failed_sim, state="failed") == 1
        assert value(m, "cardgate_sim_parts_sent_total", sim=sent_sim) == 1
        assert sum(series(m, "cardgate_sim_parts_sent_total").values()) == 1
        assert value(m, "cardgate_sim_send_failures_total", sim=failed_sim) == 1
        assert value(m, "cardgate_sim_cap_used_parts", sim=sent_sim, window="hour") == 1
        assert value(m, "cardgate_sim_cap_used_parts", sim=sent_sim, window="day") == 1
        assert value(m, "cardgate_sim_cap_limit_parts", sim=sent_sim, window="hour") == 100
        assert value(m, "cardgate_sim_cap_limit_parts", sim=sent_sim, window="day") == 0
        # inbound, webhooks
        assert value(m, "cardgate_inbox_messages") == 1
        assert value(m, "cardgate_webhook_backlog") == 0
        # modems: up, signal, by state
        for i, modem in enumerate(gw.fleet.modems):
            port, imei = str(gw.fleet.symlink(i)), modem.profile.imei
            assert value(m, "cardgate_modem_up", port=port, imei=imei,
                         sim=modem.profile.iccid) == 1
            assert value(m, "cardgate_modem_signal_rssi", port=port, imei=imei) is not None
        assert value(m, "cardgate_modems", state="ready") == 2
        # HTTP requests by route pattern and status; never the raw path
        http = "cardgate_http_requests_total"
        assert value(m, http, route="/api/v1/messages", method="POST", status="202") == 3
        assert value(m, http, route="/api/v1/messages/<message_id:int>", method="GET",
                     status="200") >= 2
        assert value(m, http, route="unmatched", method="GET", status="404") == 1
        assert value(m, http, route="/api/v1/messages/<message_id:int>", method="PUT",
                     status="405") == 1
        routes = {dict(labels)["route"] for labels in series(m, http)}
        assert routes == {"/api/v1/messages", "/api/v1/messages/<message_id:int>",
                          "/api/v1/inbox", "unmatched"}

        again = await scrape(gw)  # the previous scrape is counted under its pattern
        assert value(again, http, route="/metrics", method="GET", status="200") == 1


async def test_without_a_key_401_and_without_the_read_scope_403(gateway: Gateway) -> None:
    missing = await gateway.get("/metrics", key=None)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    lacking = await gateway.get("/metrics", key="sender")
    assert lacking.status_code == 403 and "'read'" in lacking.json()["error"]["message"]
    assert (await gateway.get("/metrics", key="full")).status_code == 200
    samples = await scrape(gateway)
    http = "cardgate_http_requests_total"
    assert value(samples, http, route="/metrics", method="GET", status="401") == 1
    assert value(samples, http, route="/metrics", method="GET", status="403") == 1


async def test_metrics_public_serves_without_a_key(gateway: Gateway) -> None:
    gateway.appliance.config.api.metrics_public = True
    samples = await scrape(gateway, key=None)
    assert value(samples, "cardgate_modems", state="ready") == 2
    head = await gateway.client.head("/metrics")
    assert head.status_code == 200 and head.content == b""


async def test_an_unplugged_modem_stays_as_down(gateway: Gateway) -> None:
    port, imei = str(gateway.fleet.symlink(1)), gateway.fleet.modems[1].profile.imei
    gateway.fleet.ports[1].unplug()
    await wait_for(lambda: port not in gateway.appliance.pool.supervisors,
                   "the pool to forget the vanished port")
    samples = await scrape(gateway)
    assert value(samples, "cardgate_modem_up", port=port, imei=imei,
                 sim=gateway.fleet.modems[1].profile.iccid) == 0
    assert value(samples, "cardgate_modems", state="gone") == 1
    assert value(samples, "cardgate_modems", state="ready") == 1


def test_request_labels_are_bounded() -> None:
    app = AppMetrics()
    app.count_request(None, "BREW", 405)
    app.count_request("/api/v1/health", "get", 200)
    got = {(s.labels["route"], s.labels["method"], s.labels["status"]): s.value
           for family in app.registry.collect() for s in family.samples
           if s.name.endswith("_total")}
    assert got == {("unmatched", "other", "405"): 1, ("/api/v1/health", "GET", "200"): 1}
