"""Defects found by walking through the console as office staff would (review lane): each test
fails without its fix. Over real HTTP against a running appliance (no browser)."""

from __future__ import annotations

from tests.web.test_console_core import _csrf, client, log_in


def test_a_refused_user_name_is_explained_in_chinese(console):
    name, password = console.users["admin"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        page = http.get("/console/users")
        refused = http.post("/console/users", data={
            "name": "", "display_name": "张三", "role": "operator",
            "csrf_token": _csrf(page.text)})
        assert refused.status_code == 400
        assert "用户名须为 1 至 64 个字母" in refused.text
        assert "letters, digits" not in refused.text
        assert 'value="张三"' in refused.text  # what was typed stays
