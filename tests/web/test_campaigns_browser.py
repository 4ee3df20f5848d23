"""Campaigns and approvals in a real browser: a campaign's progress reaches "delivered" live
(no reload), and an approval cycle (approved in the browser and sent; rejected with a reason
that the submitter sees, in Chinese)."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.web import campaigns_support as cs

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _wait(check, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)
    return value


def test_campaign_progress_reaches_delivered_live(console, page, login, shot):
    modems = console.gateway.fleet.modems
    for modem in modems:
        modem.latency = 0.15  # slow enough that the pause below finds most still queued
        modem.auto_status_report = 0.2  # the network reports delivery soon after
    try:
        cid, ids, _ = console.run(cs.send_campaign(console, "operator", 16, "Live progress"))
        held = console.run(cs.pause(console, cid))
        assert held
        login(page, "operator")
        page.goto(f"/console/campaigns/{cid}")
        assert page.locator(".campaign-state").get_attribute("data-state") == "paused"
        assert int(page.locator("#fig-delivered").inner_text()) < 16
        page.evaluate("window.__sameDocument = true")
        console.run(cs.resume(console, cid))
        expect(page.locator("#fig-delivered")).to_have_text("16", timeout=30_000)
        # The same document all along: the figures came over the event stream, not a reload.
        assert page.evaluate("window.__sameDocument === true")
        assert page.locator(".campaign-state").get_attribute("data-state") == "finished"
        assert page.locator("#progress").get_attribute("data-refreshed")
        shot(page, "campaign-delivered-en")
    finally:
        for modem in modems:
            modem.latency = 0.0
            modem.auto_status_report = None


def test_approval_cycle_approve_then_reject_with_reason(console, new_page, login, shot):
    console.run(cs.approval_for_department(console, "operator", "Sales"))
    try:
        good, good_ids, notes = console.run(cs.send_campaign(console, "operator", 3,
                                                             "Spring notice"))
        good_approval = notes["approval"]["id"]
        bad, _, notes = console.run(cs.send_campaign(console, "operator", 4, "Wrong notice"))
        bad_approval = notes["approval"]["id"]

        approver = new_page()
        login(approver, "approver")
        approver.goto("/console/approvals")
        card = approver.locator(f"#approval-{good_approval}")
        assert "Spring notice" in card.locator(".sms-text").inner_text()
        assert "Sales" in card.inner_text()
        assert card.locator(".estimate").inner_text().strip()
        shot(approver, "approvals-en")
        card.locator("button.approve").click()
        approver.wait_for_url("**/console/approvals?done=approved")
        _wait(lambda: console.run(cs.states(console, good))["figures"]["sent"]
              + console.run(cs.states(console, good))["figures"]["delivered"] == 3)

        # A rejection needs a reason: the message is next to the field.
        card = approver.locator(f"#approval-{bad_approval}")
        card.locator("button.danger").click()
        error = approver.locator(f"#reason-error-{bad_approval}")
        assert error.inner_text() == "Give a reason for the rejection."
        approver.locator(f"#reason-{bad_approval}").fill("The date is wrong: send it next week")
        approver.locator(f"#approval-{bad_approval} button.danger").click()
        approver.wait_for_url("**/console/approvals?done=rejected")
        assert approver.locator(f"#approval-{bad_approval}").count() == 0

        # The submitter sees both outcomes, in Chinese: a count on the list, the reason on the
        # campaign's page.
        operator = new_page(locale="zh-CN")
        login(operator, "operator")
        operator.goto("/console/campaigns")
        notice = operator.locator("#decisions")
        assert notice.locator("#decisions-count").inner_text() == "2"
        assert "The date is wrong: send it next week" in notice.inner_text()
        assert "已驳回" in notice.inner_text() and "已批准" in notice.inner_text()
        shot(operator, "campaigns-decisions-zh")
        operator.goto(f"/console/campaigns/{bad}")
        state = operator.locator(".approval-state")
        assert state.get_attribute("data-approval") == "rejected"
        assert "The date is wrong: send it next week" in state.inner_text()
        assert int(operator.locator("#fig-cancelled").inner_text()) == 4
        shot(operator, "campaign-rejected-zh")
        operator.goto(f"/console/campaigns/{good}")
        assert operator.locator(".approval-state").get_attribute("data-approval") == "approved"
        # Both seen now: the notice is gone.
        operator.goto("/console/campaigns")
        assert operator.locator("#decisions").count() == 0
    finally:
        console.run(_no_department(console, "operator"))


async def _no_department(console, role: str) -> None:
    from appliance.store import accounts as accounts_store

    info = await cs.user(console, role)
    await console.appliance.store.write(
        lambda: accounts_store.update_user(info.id, department_id=None))
