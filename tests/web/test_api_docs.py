"""The API reference page, `GET /api/v1/docs`, in a real browser: Swagger UI served by the box
over its own OpenAPI document, every operation listed, nothing fetched from outside the box
(the `new_page` fixture fails the test on any such request), no script error or CSP
violation, and "Try it out" works with a key."""

from __future__ import annotations

import re

from appliance.api.openapi import DOCUMENT

OPERATIONS = sum(len(item) for item in DOCUMENT["paths"].values())


def test_the_reference_lists_every_operation_from_the_box_alone(page, shot) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = page.goto("/api/v1/docs")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock")
    assert page.locator(".info .title").inner_text().startswith(DOCUMENT["info"]["title"])
    assert page.locator(".opblock").count() == OPERATIONS
    assert page.locator(".opblock-summary-path", has_text="/api/v1/messages").count() >= 2
    assert page.locator(".opblock-tag", has_text="messages").count() == 1  # grouped by resource
    page.screenshot(path=str(shot(page, "api-docs").with_name("api-docs-top.png")))
    assert not errors, errors


def test_try_it_out_calls_the_api_with_the_key_given(page, console, shot) -> None:
    key = console.gateway.keys["full"]
    page.goto("/api/v1/docs")
    page.click("button.authorize")
    page.locator(".modal-ux input[type=text], .modal-ux input[type=password]").first.fill(key)
    page.locator(".modal-ux button.authorize").click()
    page.locator(".modal-ux button.btn-done").click()
    modems = page.locator(".opblock-get", has=page.locator(
        ".opblock-summary-path", has_text=re.compile(r"^/api/v1/modems$")))
    modems.locator(".opblock-summary").click()
    modems.locator("button.try-out__btn").click()
    modems.locator("button.execute").click()
    live = modems.locator(".live-responses-table tbody .response-col_status")
    live.first.wait_for()
    assert live.first.inner_text().strip() == "200"
    body = modems.locator(".live-responses-table .microlight").first.inner_text()
    assert '"modems"' in body and '"imei"' in body
    shot(page, "api-docs-try-it-out")


def test_the_console_links_to_the_reference_in_both_languages(new_page, login) -> None:
    for locale, label in (("en-US", "API docs"), ("zh-CN", "API 文档")):
        page = new_page(locale=locale)
        login(page, "operator")
        link = page.locator("header a.api-docs")
        assert link.inner_text() == label
        with page.expect_navigation():
            link.click()
        page.wait_for_selector(".opblock")
        assert page.url.endswith("/api/v1/docs")
