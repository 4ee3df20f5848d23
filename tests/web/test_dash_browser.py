"""The dashboard and the modem page in a real browser: both simulated modems with their
operator and signal, a send through the API moving "sent today" without a reload, the live AT
traffic and a restart that works, and a viewer who reads but may not restart."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from appliance.console_web.dash_snapshot import operator_label
from tests.web.audit_entries import audit_entry_for

pytestmark = [pytest.mark.slow, pytest.mark.browser]


async def _burst(console, count: int) -> None:
    from appliance.hub import PoolChanged

    sup = _ready_modems(console)[0]
    for _ in range(count):
        console.appliance.hub.publish(PoolChanged(
            change="ModemStatusChanged", port=sup.status.port,
            sim=sup.status.identity.sim.iccid,
            detail={"state": "ready", "reason": "", "bars": sup.status.bars, "dbm": None}))


def _ready_modems(console) -> list:
    return sorted(console.appliance.pool.ready(), key=lambda s: s.status.port)


def test_the_dashboard_shows_both_modems_and_counts_a_send_live(console, page, login, shot):
    login(page, "operator")
    page.goto("/console/dashboard")
    rows = page.locator("#dash-modems tbody tr")
    expect(rows).to_have_count(2)
    for sup in _ready_modems(console):
        row = page.locator(f'#dash-modems tr[data-iccid="{sup.status.identity.sim.iccid}"]')
        sim = sup.status.identity.sim
        expect(row.locator(".dash-operator")).to_have_text(operator_label(sim.operator))
        expect(row.locator(".dash-operator span")).to_have_attribute("title", sim.operator)
        expect(row.locator(".bars")).to_have_attribute(
            "aria-label", f"Signal {sup.status.bars} of 5")
        assert row.locator(".bars i.on").count() == sup.status.bars > 0
        expect(row.locator(".badge")).to_have_text("ready")
    expect(page.locator("#dash-live.off")).to_have_count(0)  # the event stream is open
    sent_before = int(page.locator("#fig-sent").inner_text())
    page.evaluate("window.notReloaded = true")

    response = console.run(console.gateway.post("/api/v1/messages", json={
        "to": "+8613800138000", "text": "dashboard live test"}))
    assert response.status_code == 202, response.text

    expect(page.locator("#fig-sent")).to_have_text(str(sent_before + 1), timeout=20_000)
    assert page.evaluate("window.notReloaded") is True  # changed in place, no reload

    # The radio gets better: the health poll reads it, the pool tells it, the row redraws.
    iccid = _ready_modems(console)[1].status.identity.sim.iccid
    console.run(_set_signal(console, iccid, 30))
    row = page.locator(f'#dash-modems tr[data-iccid="{iccid}"]')
    expect(row.locator(".bars")).to_have_attribute("aria-label", "Signal 5 of 5")

    # A reply arrives: it shows at once, as text (SMS text is hostile).
    hostile = '<img src=x onerror="window.pwned=1">dash<script>window.pwned=2</script>'
    modem = console.gateway.fleet.modems[0]
    console.loop.call_soon_threadsafe(modem.inject_sms, "+8613700137000", hostile)
    expect(page.locator("#dash-replies td.text").first).to_have_text(hostile)
    assert page.locator("#dash-replies img, #dash-replies script").count() == 0
    assert page.evaluate("window.pwned") is None
    assert page.evaluate("window.notReloaded") is True
    shot(page, "dashboard-en")


async def _set_signal(console, iccid: str, csq: int) -> None:
    for modem in console.gateway.fleet.modems:
        if modem.profile.iccid == iccid:
            modem.set_signal(csq)
            return
    raise AssertionError(f"no simulated modem holds {iccid}")


def test_the_modem_page_streams_at_traffic_and_restarts_the_modem(console, page, login, shot):
    sup = _ready_modems(console)[0]
    imei = sup.status.identity.imei
    recoveries_before = sup.status.recoveries
    login(page, "admin")
    page.goto("/console/dashboard")
    page.click(f'#dash-modems a[href="/console/modems/{imei}"]')
    page.wait_for_url(f"**/console/modems/{imei}")
    expect(page.locator("#m-imei")).to_have_text(imei)
    expect(page.locator("#m-iccid")).to_have_text(sup.status.identity.sim.iccid)
    # The health poll (AT+CSQ every 0.2 s here) shows up live, both directions.
    expect(page.locator("#at-log li.to", has_text="AT+CSQ").first).to_be_visible()
    expect(page.locator("#at-log li.from", has_text="+CSQ:").first).to_be_visible()
    shot(page, "modem-en")

    page.click("#restart-button")
    page.wait_for_url(f"**/console/modems/{imei}?restart=ready", timeout=40_000)
    expect(page.locator("#restart-outcome")).to_contain_text("ready again")
    expect(page.locator("#m-state")).to_have_text("ready")
    # It was really brought up again: the bring-up's commands are in its traffic.
    expect(page.locator("#at-log li.to", has_text="ATE0").last).to_be_visible()
    assert sup.status.state.value == "ready" and sup.status.recoveries == recoveries_before
    shot(page, "modem-restarted-en")
    # The audit log names who restarted it, as for every other change made in the console.
    entry = audit_entry_for(console, "modem.restart", imei)
    assert (entry["actor_name"], entry["door"]) == (console.users["admin"][0], "console")
    assert entry["detail"] == {"port": sup.status.port, "outcome": "ready"}


def test_a_viewer_reads_the_dashboard_but_may_not_restart(console, new_page, login, shot):
    page = new_page(locale="zh-CN")
    login(page, "viewer")
    page.goto("/console/dashboard")
    expect(page.locator("h1")).to_have_text("总览")
    expect(page.locator("#dash-modems tbody tr")).to_have_count(2)
    expect(page.locator("#dash-modems .badge").first).to_have_text("就绪")
    shot(page, "dashboard-zh")
    # A burst of a thousand events costs a fetch or two of the part they touch, not 1,000.
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url)
            if "/console/dashboard/modems" in request.url else None)
    console.run(_burst(console, 1000))
    page.wait_for_timeout(2500)
    assert 1 <= len(fetched) <= 3, fetched
    imei = _ready_modems(console)[0].status.identity.imei
    page.goto(f"/console/modems/{imei}")
    expect(page.locator("#m-imei")).to_have_text(imei)
    assert page.locator("#restart-button").count() == 0
    assert page.locator("#at-log").count() == 0
    shot(page, "modem-viewer-zh")
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    refused = page.request.post(f"/console/modems/{imei}/restart",
                                form={"csrf_token": token}, max_redirects=0)
    assert refused.status == 403
    assert _ready_modems(console)[0].status.state.value == "ready"
