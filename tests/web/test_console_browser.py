"""The console's door in a real browser: the first login's forced password change, both
languages, and a form posted without its CSRF token."""

from __future__ import annotations

import pytest

from tests.web.conftest import add_users

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_first_login_forces_a_new_password(console, page, shot):
    add_users(console.gateway.db_url, {"operator": ("newbie", "Given-Once-7788")},
              must_change_password=True)
    page.goto("/console/login")
    shot(page, "login-en")
    page.fill("#name", "newbie")
    page.fill("#password", "Given-Once-7788")
    page.click("main button[type=submit]")
    page.wait_for_url("**/console/password")
    assert page.locator(".notice").is_visible()
    # Mistakes are named next to their field, and nothing changes.
    page.fill("#current", "Given-Once-7788")
    page.fill("#new", "short")
    page.fill("#repeat", "short")
    page.click("main button[type=submit]")
    assert "at least 8 characters" in page.locator("#new-error").inner_text()
    page.fill("#current", "Given-Once-7788")
    page.fill("#new", "Brand-New-Secret-91")
    page.fill("#repeat", "Brand-New-Secret-92")
    page.click("main button[type=submit]")
    assert "differ" in page.locator("#repeat-error").inner_text()
    shot(page, "password-en")
    page.fill("#current", "Given-Once-7788")
    page.fill("#new", "Brand-New-Secret-91")
    page.fill("#repeat", "Brand-New-Secret-91")
    page.click("main button[type=submit]")
    page.wait_for_url("**/console/dashboard?changed=1")
    # The old password is gone: a new browser logs in with the new one only.
    assert page.context.cookies()[0]["name"] in ("cg_session", "cg_prelogin", "cg_lang")


def test_chinese_by_browser_language_and_switch(console, new_page, login, shot):
    page = new_page(locale="zh-CN")
    page.goto("/console/login")
    assert page.locator("h1").inner_text() == "登录"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    shot(page, "login-zh")
    login(page, "operator")
    page.goto("/console/password")
    assert page.locator("nav").inner_text().split() [:2] == ["总览", "发短信"]
    assert "用户" not in page.locator("nav").inner_text()  # an operator has no admin pages
    shot(page, "password-zh")
    page.click("text=EN")
    assert page.locator("h1").inner_text() == "Change password"
    assert "Dashboard" in page.locator("nav").inner_text()


def test_admin_page_refuses_an_operator_and_a_form_without_token(console, new_page, login,
                                                                 shot):
    page = new_page()
    login(page, "operator")
    response = page.goto("/console/users")
    assert response.status == 403
    assert "may not use this page" in page.locator(".error").inner_text()
    shot(page, "forbidden-en")
    admin = new_page(locale="zh-CN")
    login(admin, "admin")
    admin.goto("/console/users")
    shot(admin, "users-zh")
    # Strip the token from the form, as a forged cross-site post would lack it.
    admin.fill("#u-name", "forged1")
    admin.evaluate("document.querySelector('form.grid2 input[name=csrf_token]').remove()")
    admin.click("form.grid2 button[type=submit]")
    assert "CSRF" in admin.locator(".error").inner_text()
    admin.goto("/console/users")
    assert "forged1" not in admin.content()
