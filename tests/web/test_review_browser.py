"""Defects found by walking through the console as office staff would (review lane), that only
a browser shows: layout on a phone. Synchronous tests only (the browser fixture)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PHONE = {"width": 390, "height": 844}


def test_history_on_a_phone_keeps_the_text_readable(console, new_page, login, shot):
    from appliance.store.models import Message

    at = datetime(2026, 9, 4, 2, 0, tzinfo=UTC)

    def write() -> None:
        for i in range(5):
            Message.create(recipient=f"+86139007770{i:02d}", state="delivered",
                           text="【市政办】各位居民：本周六上午将进行消防演练，请配合。",
                           created_at=at, updated_at=at)

    console.run(console.appliance.store.write(write))
    page = new_page(locale="zh-CN", viewport=PHONE)
    login(page, "viewer")
    page.goto("/console/history?since=2026-09-04&until=2026-09-04")
    text = page.locator("#history-table td.text").first
    # Seven columns squeezed the text to a character a line (a page 30,000 px tall).
    assert text.bounding_box()["width"] > 250
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "review-history-zh-phone")


def test_a_state_badge_on_a_phone_stays_on_one_line(console, new_page, login):
    from appliance.store.models import Campaign, Message

    at = datetime(2026, 9, 6, 2, 0, tzinfo=UTC)

    def write() -> int:
        campaign = Campaign.create(name="徽章").id
        Message.create(recipient="+8613900778001", text="x", state="delivered",
                       campaign=campaign, created_at=at, updated_at=at)
        return campaign

    campaign = console.run(console.appliance.store.write(write))
    page = new_page(locale="zh-CN", viewport=PHONE)
    login(page, "operator")
    page.goto(f"/console/campaigns/{campaign}")
    badge = page.locator("#recipients .badge").first
    # 已送达 broke into three lines in a narrow column.
    assert badge.bounding_box()["height"] < 2 * badge.evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)")


def test_recurring_sends_on_a_phone_are_readable(console, new_page, login, shot):
    page = new_page(locale="zh-CN", viewport=PHONE)
    login(page, "operator")
    page.goto("/console/compose")
    page.fill("#to", "13800138075")
    page.fill("#text", "每周例会提醒：周一上午九点在三楼会议室。")
    page.check("input[name=when][value=recurring]")
    page.select_option("select[name=repeat]", "weekly")
    page.fill("input[name=repeat_at]", "09:00")
    page.click("button[name=action][value=review]")
    page.click("button[name=action][value=send]")
    page.wait_for_url("**/console/schedules")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.locator("#schedules td").first.bounding_box()["width"] > 100
    shot(page, "review-schedules-zh-phone")


def test_a_new_request_appears_on_the_open_approvals_page(console, new_page, login, shot):
    from tests.web import campaigns_support as cs

    console.run(cs.approval_for_department(console, "operator", "Review office"))
    _, _, notes = console.run(cs.send_campaign(console, "operator", 3, "First notice"))
    first = notes["approval"]["id"]
    page = new_page(locale="zh-CN")
    login(page, "approver")
    page.goto("/console/approvals")
    page.locator(f"#reason-{first}").fill("日期写错了")
    page.wait_for_timeout(500)  # the event stream is open
    _, _, notes = console.run(cs.send_campaign(console, "operator", 2, "Second notice"))
    second = notes["approval"]["id"]
    # No reload: the new request comes in, and the reason being typed stays.
    page.locator(f"#approval-{second}").wait_for(timeout=15_000)
    assert page.locator("#pending-count").inner_text() == "2"
    assert page.locator(f"#reason-{first}").input_value() == "日期写错了"
    shot(page, "review-approvals-live-zh")
