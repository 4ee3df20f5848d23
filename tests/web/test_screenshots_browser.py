"""Every main page of the console, in both languages, as a user sees it: each answers 200,
says its heading in the page's language, and is kept as a screenshot
(test-artifacts/screenshots/page-<name>-<lang>.png) to look at."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PAGES = {
    "dashboard": "/console/dashboard",
    "compose": "/console/compose",
    "schedules": "/console/schedules",
    "campaigns": "/console/campaigns",
    "approvals": "/console/approvals",
    "history": "/console/history",
    "history-inbound": "/console/history?tab=in",
    "replies": "/console/replies",
    "contacts": "/console/contacts",
    "groups": "/console/groups",
    "users": "/console/users",
}
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_every_main_page_renders_in_both_languages(console, new_page, login, shot, locale):
    page = new_page(locale=locale, viewport={"width": 1280, "height": 860})
    login(page, "admin")
    lang = "zh" if locale == "zh-CN" else "en"
    for name, path in PAGES.items():
        response = page.goto(path)
        assert response is not None and response.status == 200, (path, response.status)
        heading = page.locator("main h1").first.inner_text()
        assert heading.strip(), f"{path}: no heading"
        if lang == "zh":
            assert CJK.search(heading), f"{path}: heading not in Chinese: {heading!r}"
        else:
            assert not CJK.search(heading), f"{path}: heading not in English: {heading!r}"
        shot(page, f"page-{name}-{lang}")


def test_pages_fit_a_phone(console, new_page, login, shot):
    page = new_page(locale="zh-CN", viewport={"width": 390, "height": 844})
    login(page, "operator")
    for name in ("dashboard", "compose", "history", "replies"):
        page.goto(PAGES[name])
        # Nothing wider than the screen but what scrolls inside its own box (tables).
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= 390 + 1, f"{name}: the page is {overflow}px wide on a 390px phone"
        shot(page, f"phone-{name}-zh")
