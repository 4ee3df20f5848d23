"""The compose page over real HTTP against a running appliance on simulated modems (no
browser): the counter equals the gateway's split, an import's bad rows are reported and
nothing is sent from it, an imported table waits on disk for its own session only (and the
upload stashes go when the app stops), a send to a group becomes a campaign of messages, a
recurring send is listed and paused. Browser tests: tests/web/test_compose_browser.py."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import httpx
import pytest

from appliance.compose.checks import count_as_sent
from appliance.console_web.session import SESSION_COOKIE
from appliance.dispatch.intake import SendRequest
from appliance.pdu import encode_submit
from appliance.policy.origin import Origin
from appliance.store import contacts as contacts_store
from appliance.store.models import Message
from tests.web.conftest import csrf_of as _csrf

LOGIN = "/console/login"


@contextlib.contextmanager
def logged_in(console, role: str = "operator") -> Iterator[httpx.Client]:
    """A client with a session of its own, on the compose page's CSRF token."""
    name, password = console.users[role]
    with httpx.Client(base_url=console.base_url, timeout=30.0,
                      headers={"Accept-Language": "en"}) as client:
        form = client.get(LOGIN)
        done = client.post(LOGIN, data={"name": name, "password": password,
                                        "csrf_token": _csrf(form.text),
                                        "next": "/console/compose"})
        assert done.status_code == 302
        page = client.get("/console/compose")
        assert page.status_code == 200
        client.headers["X-CSRF-Token"] = _csrf(page.text)
        yield client


@pytest.fixture
def http(console):
    with logged_in(console) as client:
        yield client


def messages(console, **where) -> list:
    def read():
        query = Message.select()
        for key, value in where.items():
            query = query.where(getattr(Message, key) == value)
        return list(query)

    return console.run(console.appliance.store.read(read))


def test_page_renders_in_both_languages(console, http):
    page = http.get("/console/compose")
    assert 'name="text"' in page.text and "Recipients" in page.text
    zh = http.get("/console/compose", headers={"Accept-Language": "zh-CN"})
    assert "接收人" in zh.text and "连号发送" in zh.text


@pytest.mark.parametrize("text", ["停水通知：明天9点到12点停水，请提前储水。" * 3,
                                  "Water off 9-12 tomorrow",
                                  "a" * 170])
def test_counter_equals_the_gateway(console, http, text):
    out = http.post("/console/compose/count", data={"text": text, "category": "notice"})
    assert out.status_code == 200
    parts = int(re.search(r'data-parts="(\d+)"', out.text).group(1))
    appliance = console.appliance
    origin = Origin(door="console", role="operator")
    counted = count_as_sent(appliance.policy, SendRequest(to=[], text=text, origin=origin))
    assert parts == counted.parts == len(encode_submit("+8613800138000", counted.text))


CSV = ("姓名,手机号码,部门\n"
       "张三,13800138001,财务\n"
       "李四,not-a-number,财务\n"
       "王五,13800138001,人事\n"
       "赵六,13800138009,人事\n"
       "钱七,01012345678,人事\n").encode("gbk")


def test_import_reports_bad_rows_and_sends_nothing(console, http):
    console.run(console.appliance.blacklist.add("+8613800138009", "replied TD", "api"))
    before = len(messages(console))
    out = http.post("/console/compose/import", files={"file": ("名单.csv", CSV, "text/csv")},
                    data={"category": "notice"})
    assert out.status_code == 200, out.text
    assert "1 recipients can be sent to." in out.text
    assert 'data-kind="invalid">Invalid: 2' in out.text
    assert 'data-kind="duplicate">Duplicate: 1' in out.text
    assert 'data-kind="blacklisted">Blacklisted: 1' in out.text
    assert "not-a-number" in out.text
    token = re.search(r'name="import_token" value="([^"]+)"', out.text).group(1)
    assert len(messages(console)) == before
    # Review: still nothing sent; the confirm button is offered.
    review = http.post("/console/compose", data={"import_token": token, "text": "{name}，请交表",
                                                 "action": "review"})
    assert review.status_code == 200 and 'id="confirm-send"' in review.text
    assert len(messages(console)) == before
    sent = http.post("/console/compose", data={"import_token": token, "text": "{name}，请交表",
                                               "action": "send"}, follow_redirects=True)
    assert sent.status_code == 200 and "Accepted: message" in sent.text
    [row] = messages(console, recipient="+8613800138001")
    assert row.text.endswith("张三，请交表")


def test_an_import_waits_on_disk_for_its_own_session_only(console, http):
    stash = console.gateway.app.ctx.compose_imports
    assert stash.directory.stat().st_mode & 0o777 == 0o700
    out = http.post("/console/compose/import", files={"file": ("名单.csv", CSV, "text/csv")},
                    data={"category": "notice"})
    token = re.search(r'name="import_token" value="([^"]+)"', out.text).group(1)
    # The table is in the stash's directory, not in the app's memory; the page has a token.
    table = stash.directory / f"{token}.table"
    assert "赵六" in table.read_text(encoding="utf-8")
    # Choosing the columns again is kept with the upload.
    remapped = http.post("/console/compose/import", data={"import_token": token,
                                                          "number_col": "1", "name_col": "2"})
    assert '<option value="2" selected>部门</option>' in remapped.text
    assert stash.get(http.cookies[SESSION_COOKIE], token).roles == ["field", "number", "name"]
    before = len(messages(console))
    # Another session (the same user logged in again, or another user) cannot use the token.
    for role in ("operator", "admin"):
        with logged_in(console, role) as other:
            refused = other.post("/console/compose/import", data={"import_token": token})
            assert 'data-code="expired"' in refused.text and "赵六" not in refused.text
            review = other.post("/console/compose", data={
                "import_token": token, "text": "{name}，请交表", "action": "send"})
            assert "the imported file has expired" in review.text
            assert "赵六" not in review.text
    assert len(messages(console)) == before
    # Its owner still can; the send drops the file.
    sent = http.post("/console/compose", data={"import_token": token, "text": "{name}，请交表",
                                               "action": "send"}, follow_redirects=True)
    assert "Accepted: message" in sent.text
    assert not table.exists()


def test_send_to_a_group_makes_a_campaign(console, http):
    def book():
        g = contacts_store.create_group("compose-http")
        ids = [contacts_store.create_contact(f"员工{i}", [f"+86139001390{i:02d}"])["id"]
               for i in range(3)]
        contacts_store.add_contacts_to_group(g["id"], ids)
        return g["id"]

    group = console.run(console.appliance.store.write(book))
    form = {"group_id": str(group), "text": "今晚八点消防演练", "name": "演练通知"}
    review = http.post("/console/compose", data={**form, "action": "review"})
    assert "3 recipients" in review.text and 'id="estimate"' in review.text
    sent = http.post("/console/compose", data={**form, "action": "send"})
    assert sent.status_code == 302
    campaign = int(sent.headers["location"].rsplit("/", 1)[1])
    assert sent.headers["location"] == f"/console/campaigns/{campaign}"
    rows = messages(console, campaign=campaign)
    assert sorted(r.recipient for r in rows) == [f"+86139001390{i:02d}" for i in range(3)]


def test_errors_are_shown_next_to_their_fields(console, http):
    out = http.post("/console/compose", data={"to": "", "text": "", "range_start": "abc",
                                              "range_count": "5", "action": "send"})
    assert out.status_code == 200
    assert 'id="error-text"' in out.text and 'id="error-range_start"' in out.text
    out = http.post("/console/compose", data={"to": "13800138000", "text": "x",
                                              "when": "recurring", "repeat": "cron",
                                              "cron": "* * * * *", "action": "send"})
    assert 'id="error-cron"' in out.text


def test_recurring_send_is_listed_paused_and_deleted(console, http):
    form = {"to": "13800138000", "text": "周报提醒", "when": "recurring", "repeat": "weekly",
            "repeat_at": "09:30", "repeat_weekday": "1", "name": "周报"}
    made = http.post("/console/compose", data={**form, "action": "send"})
    assert made.status_code == 302 and made.headers["location"] == "/console/schedules"
    listing = http.get("/console/schedules")
    sid = re.search(r'data-schedule="(\d+)"', listing.text).group(1)
    assert "30 9 * * 1" in listing.text
    paused = http.post(f"/console/schedules/{sid}/pause")
    assert paused.status_code == 302
    assert "Paused" in http.get("/console/schedules").text
    http.post(f"/console/schedules/{sid}/delete")
    assert f'data-schedule="{sid}"' not in http.get("/console/schedules").text


def test_contact_search_template_and_a_later_send(console, http):
    console.run(console.appliance.store.write(
        lambda: contacts_store.create_contact("孙悟空", ["+8613600136077"])))
    found = http.get("/console/compose/contacts", params={"q": "悟空"})
    assert 'data-add-number="+8613600136077"' in found.text
    saved = http.post("/console/compose", data={"text": "明天放假一天", "template_name": "放假",
                                                "action": "save_template"})
    assert 'id="template-saved"' in saved.text and 'data-text="明天放假一天"' in saved.text
    template = re.search(r'<option value="(\d+)" data-text="明天放假一天"', saved.text).group(1)
    assert "明天放假一天</textarea>" in http.get(f"/console/compose?template={template}").text
    form = {"to": "13600136077", "text": "明天放假一天", "when": "at",
            "send_at": "2099-01-01T09:00"}
    assert "at most a year ahead" in http.post("/console/compose",
                                               data={**form, "action": "send"}).text
    later = console.appliance.dispatcher.now().replace(microsecond=0)
    from datetime import timedelta
    from zoneinfo import ZoneInfo
    local = (later + timedelta(days=2)).astimezone(ZoneInfo("Asia/Shanghai"))
    form["send_at"] = local.strftime("%Y-%m-%dT%H:%M")
    sent = http.post("/console/compose", data={**form, "action": "send"},
                     follow_redirects=True)
    assert "Accepted: message" in sent.text and 'id="sent-at"' in sent.text
    [row] = [m for m in messages(console, recipient="+8613600136077") if m.send_at]
    assert row.send_at == local.replace(second=0)
    assert row.state == "queued"


def test_forbidden_word_is_shown_next_to_the_text(console, http):
    from appliance.policy.build import check_named

    words = check_named(console.appliance.policy, "forbidden_words")
    old = words.list
    words.set_words(["代开发票"])
    try:
        counter = http.post("/console/compose/count", data={"text": "本公司代开发票"})
        assert 'id="counter-refusal"' in counter.text
        assert "forbidden word “代开发票”" in counter.text
        zh = http.post("/console/compose/count", data={"text": "本公司代开发票"},
                       headers={"Accept-Language": "zh-CN"})
        assert "内容含有违禁词“代开发票”" in zh.text
        review = http.post("/console/compose", data={"to": "13800138000",
                                                     "text": "本公司代开发票",
                                                     "action": "send"})
        assert 'data-check="forbidden_words"' in review.text
        assert 'id="confirm-send"' not in review.text
        assert not messages(console, text="本公司代开发票")
    finally:
        words.use(old)


def test_a_viewer_may_not_compose(console):
    name, password = console.users["viewer"]
    with httpx.Client(base_url=console.base_url, timeout=30.0) as client:
        form = client.get(LOGIN)
        client.post(LOGIN, data={"name": name, "password": password,
                                 "csrf_token": _csrf(form.text), "next": "/console/compose"})
        assert client.get("/console/compose").status_code == 403
        assert client.get("/console/schedules").status_code == 403


def test_a_sheet_over_the_boxs_request_limit_imports_and_a_huge_one_is_named(console, http):
    # 1 MB is the API's request limit; a recipients' sheet may be bigger (console_web.uploads).
    rows = "".join(f"客户{i},+86139{i:08d}\n" for i in range(60_000))
    big = ("姓名,手机\n" + rows).encode()
    assert len(big) > 1024 * 1024
    out = http.post("/console/compose/import", files={"file": ("big.csv", big, "text/csv")},
                    data={"category": "notice"})
    assert out.status_code == 200, out.text[:500]
    assert "60,000 recipients can be sent to." in out.text or "60000" in out.text
    huge = b"a,b\n" + b"1,2\n" * (21 * 1024 * 1024 // 4)
    refused = http.post("/console/compose/import",
                        files={"file": ("huge.csv", huge, "text/csv")})
    assert refused.status_code == 413
    assert "The file is too large (at most 20 MB)." in refused.text
