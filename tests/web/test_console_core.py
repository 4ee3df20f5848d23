"""The console's door: language choice, safe redirects, sessions, CSRF, roles, lockout, the
security headers and the assets; over real HTTP against a running appliance (no browser)."""

from __future__ import annotations

import re

import httpx
import pytest

from appliance.console_web.auth_pages import safe_next
from appliance.console_web.i18n import catalog, choose_lang, translate
from appliance.console_web.render import environment
from tests.web.conftest import csrf_of as _csrf

LOGIN = "/console/login"


@pytest.mark.parametrize(("cookie", "header", "expected"), [
    (None, None, "zh-CN"),  # the box's users are Chinese offices first
    (None, "en-US,en;q=0.9", "en"),
    (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
    (None, "fr-FR,en;q=0.5,zh;q=0.9", "zh-CN"),  # by quality, not by order
    (None, "fr-FR,de;q=0.9", "zh-CN"),
    ("en", "zh-CN", "en"),  # the switcher wins
    ("xx", "en", "en"),  # a cookie we do not know is ignored
    (None, "en;q=oops, zh;q=0.1", "zh-CN"),
])
def test_language_choice(cookie, header, expected):
    assert choose_lang(cookie, header) == expected


@pytest.mark.parametrize(("target", "expected"), [
    ("/console/history?state=sent", "/console/history?state=sent"),
    ("//evil.example/x", "/console/dashboard"),
    ("https://evil.example/", "/console/dashboard"),
    ("/\\evil.example", "/console/dashboard"),
    ("", "/console/dashboard"),
    (None, "/console/dashboard"),
    ("/x\r\nSet-Cookie: a=b", "/console/dashboard"),
])
def test_next_stays_on_the_box(target, expected):
    assert safe_next(target) == expected


def test_every_core_string_has_chinese_and_fields_survive():
    assert translate("zh-CN", "Log in") == "登录"
    assert translate("en", "Log in") == "Log in"
    assert translate("zh-CN", "Too many failed attempts. Try again in {seconds} seconds.",
                     seconds=30) == "失败次数过多，请在 30 秒后重试。"
    assert translate("zh-CN", "not in any catalog") == "not in any catalog"
    fields = re.compile(r"\{(\w+)\}")
    for english, chinese in catalog().items():
        assert set(fields.findall(english)) == set(fields.findall(chinese)), english


def test_templates_escape_everything():
    hostile = "<script>alert(1)</script>"
    out = environment().from_string("{{ value }}").render(value=hostile)
    assert "<script>" not in out and "&lt;script&gt;" in out


def client(console, lang: str = "en") -> httpx.Client:
    return httpx.Client(base_url=console.base_url, timeout=20.0,
                        headers={"Accept-Language": lang})


def log_in(http: httpx.Client, name: str, password: str) -> httpx.Response:
    form = http.get(LOGIN)
    return http.post(LOGIN, data={"name": name, "password": password,
                                  "csrf_token": _csrf(form.text), "next": "/console/users"})


def test_root_sends_a_stranger_to_the_login_page(console):
    with client(console, "zh-CN,zh;q=0.9") as http:
        root = http.get("/")
        assert root.status_code == 302 and root.headers["location"] == LOGIN
        page = http.get("/console/users")
        assert page.status_code == 302
        assert page.headers["location"] == "/console/login?next=%2Fconsole%2Fusers"
        form = http.get(LOGIN)
        assert "登录" in form.text and '<html lang="zh-CN">' in form.text
        assert "cg_prelogin" in form.headers["set-cookie"]
        assert "httponly" in form.headers["set-cookie"].lower()
        assert "samesite=strict" in form.headers["set-cookie"].lower()


def test_wrong_password_is_refused_in_the_browsers_language(console):
    with client(console, "zh-CN") as http:
        refused = log_in(http, "admin1", "not-the-password")
        assert refused.status_code == 401
        assert "用户名或密码错误" in refused.text
        assert "cg_session" not in refused.headers.get("set-cookie", "")
    with client(console, "en") as http:
        refused = log_in(http, "nobody-at-all", "whatever-1234")
        assert refused.status_code == 401 and "Wrong user name or password." in refused.text


def test_login_without_the_forms_token_is_refused(console):
    name, password = console.users["admin"]
    with client(console) as http:
        http.get(LOGIN)
        refused = http.post(LOGIN, data={"name": name, "password": password})
        assert refused.status_code == 403 and "expired" in refused.text
        assert "cg_session" not in refused.headers.get("set-cookie", "")


def test_session_csrf_and_role(console):
    name, password = console.users["operator"]
    with client(console) as http:
        done = log_in(http, name, password)
        assert done.status_code == 302 and done.headers["location"] == "/console/users"
        cookie = done.headers["set-cookie"].lower()
        assert "cg_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        # An operator is refused an admin page, with the reason, in an HTML page.
        users = http.get("/console/users")
        assert users.status_code == 403 and "may not use this page" in users.text
        assert "operator" in users.text
        # The menu offers what the role may use, not the admin's pages.
        assert 'href="/console/compose"' in users.text
        assert 'href="/console/users"' not in users.text
    admin, admin_password = console.users["admin"]
    with client(console) as http:
        log_in(http, admin, admin_password)
        page = http.get("/console/users")
        assert page.status_code == 200 and "operator1" in page.text
        # A form post without the CSRF token changes nothing.
        refused = http.post("/console/users", data={"name": "mallory", "role": "admin"})
        assert refused.status_code == 403 and "CSRF" in refused.text
        wrong = http.post("/console/users", data={"name": "mallory", "role": "admin",
                                                  "csrf_token": "0" * 40})
        assert wrong.status_code == 403
        assert "mallory" not in http.get("/console/users").text
        # With it, the user is made and its one-time password shown.
        made = http.post("/console/users", data={"name": "clerk7", "role": "viewer",
                                                 "csrf_token": _csrf(page.text)})
        assert made.status_code == 201
        shown = re.search(r"<code>([^<]+)</code>", made.text)
        assert shown and "clerk7" in made.text
    with client(console) as http:
        first = log_in(http, "clerk7", shown.group(1))
        # First login: nothing but the password change until it is done.
        assert first.headers["location"] == "/console/password"
        assert http.get("/console/users").headers["location"] == "/console/password"


def test_logout_ends_the_session(console):
    name, password = console.users["viewer"]
    with client(console) as http:
        log_in(http, name, password)
        token = http.cookies["cg_session"]
        page = http.get("/console/password")
        out = http.post("/console/logout", data={"csrf_token": _csrf(page.text)})
        assert out.status_code == 302
    with client(console) as http:
        http.cookies.set("cg_session", token)
        assert http.get("/console/password").status_code == 302  # to the login page


def test_lockout_after_repeated_failures(console):
    console.run(_add_user(console, "locky", "viewer"))
    with client(console) as http:
        statuses = [log_in(http, "locky", f"wrong-{i}-password").status_code
                    for i in range(5)]
        assert statuses[:4] == [401] * 4 and statuses[4] == 429
        locked = log_in(http, "locky", "Dawn-Kettle-4821")  # even the right one, for now
        assert locked.status_code == 429 and "Try again in" in locked.text
        assert int(locked.headers["retry-after"]) > 0


async def _add_user(console, name: str, role: str) -> None:
    from appliance.accounts.passwords import hash_password

    hashed = hash_password("Dawn-Kettle-4821")
    await console.appliance.store.write(lambda: __import__(
        "appliance.store.accounts", fromlist=["create_user"]).create_user(
        name, role, hashed, must_change_password=False))


def test_pages_carry_security_headers_and_assets_are_local(console):
    with client(console) as http:
        form = http.get(LOGIN)
        csp = form.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert form.headers["x-frame-options"] == "DENY"
        for src in re.findall(r'(?:src|href)="([^"]+)"', form.text):
            assert src.startswith("/"), f"an asset from outside the box: {src}"
        htmx = http.get("/static/vendor/htmx-2.0.11.min.js")
        assert htmx.status_code == 200 and "htmx" in htmx.text[:2000]
        assert "max-age" in htmx.headers["cache-control"]


def test_event_stream_names_unknown_kinds_and_streams_events(console):
    name, password = console.users["viewer"]
    with client(console) as http:
        log_in(http, name, password)
        bad = http.get("/console/events?kinds=message.state,nope")
        assert bad.status_code == 400 and "nope" in bad.text
        with http.stream("GET", "/console/events?kinds=message.state") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines).startswith(": live")
            sent = console.gateway  # send one message through the API: its states stream
            import httpx as _httpx
            response = _httpx.post(f"{console.base_url}/api/v1/messages",
                                   headers=sent.auth(), json={"to": "+8613800138000",
                                                              "text": "hello"})
            assert response.status_code in (200, 201, 202), response.text
            message_id = response.json()["messages"][0]["id"]
            seen = []
            for line in lines:
                if line.startswith("data:") and f'"message_id":{message_id}' in line:
                    seen.append(line)
                    if '"state":"sent"' in line or '"state":"delivered"' in line:
                        break
            assert seen, "no message.state event for the message"


def test_a_missing_console_page_is_an_html_page_and_the_api_stays_json(console):
    with client(console, "zh-CN") as http:
        missing = http.get("/console/no-such-page")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert "页面不存在" in missing.text and "/console/no-such-page" in missing.text
        api = http.get("/api/v1/no-such-thing")
        assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_console_pages_say_their_server_time(console):
    with client(console) as http:
        form = http.get(LOGIN)
        timing = form.headers["server-timing"]
        assert re.fullmatch(r"app;dur=\d+\.\d\d", timing)
        assert "server-timing" not in http.get("/api/v1/health").headers


@pytest.mark.parametrize(("path", "href", "active"), [
    ("/console/groups/3", "/console/contacts", True),
    ("/console/schedules", "/console/compose", True),
    ("/console/contacts?q=1", "/console/contacts", True),
    ("/console/campaigns/2", "/console/compose", False),
])
def test_menu_marks_the_entry_a_page_belongs_to(path, href, active):
    from appliance.console_web.render import nav_active

    assert nav_active(path, href) is active


def test_an_admin_changes_a_users_role_and_department(console):
    from appliance.store import accounts as accounts_store

    department = console.run(console.appliance.store.write(
        lambda: accounts_store.create_department("财务科", "财务")))
    console.run(_add_user(console, "movable", "viewer"))
    admin, admin_password = console.users["admin"]
    with client(console, "zh-CN") as http:
        done = log_in(http, admin, admin_password)
        assert done.status_code == 302, done.text[-500:]
        page = http.get("/console/users")
        user = console.run(console.appliance.store.read(
            lambda: accounts_store.get_user_by_name("movable")))
        changed = http.post(f"/console/users/{user.id}/role",
                            data={"role": "operator", "department_id": str(department["id"]),
                                  "csrf_token": _csrf(page.text)})
        assert changed.status_code == 200 and "已保存" in changed.text
        after = console.run(console.appliance.store.read(
            lambda: accounts_store.get_user(user.id)))
        assert (after.role, after.department_id) == ("operator", department["id"])
        # A role that does not exist is refused and nothing changes.
        refused = http.post(f"/console/users/{user.id}/role",
                            data={"role": "overlord", "department_id": "",
                                  "csrf_token": _csrf(page.text)})
        assert refused.status_code == 400
        still = console.run(console.appliance.store.read(
            lambda: accounts_store.get_user(user.id)))
        assert (still.role, still.department_id) == ("operator", department["id"])
    # The change holds at the user's next request: an operator may now compose.
    with client(console) as http:
        log_in(http, "movable", "Dawn-Kettle-4821")
        assert http.get("/console/compose").status_code == 200
