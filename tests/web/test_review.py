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


def test_why_a_message_did_not_go_reads_in_the_users_language():
    from appliance.console_web.reasons import message_error

    assert message_error("zh-CN", "campaign cancelled by zhang") == "群发任务已由 zhang 取消"
    assert (message_error("zh-CN", "rejected by li: 内容不合规: 请改")
            == "已被 li 驳回：内容不合规: 请改")
    assert (message_error("zh-CN", "gave up after 3 attempts: cancelled")
            == "尝试 3 次后放弃：已取消")
    assert message_error("en", "rejected by li: {x}") == "Rejected by li: {x}"
    assert message_error("zh-CN", "CMS ERROR 500: unknown") == "CMS ERROR 500: unknown"
    assert message_error("zh-CN", None) == ""


def test_history_page_and_export_word_states_and_errors_in_chinese(console):
    import csv
    import io
    from datetime import UTC, datetime

    from appliance.store.models import Message

    at = datetime(2026, 9, 3, 2, 0, tzinfo=UTC)

    def write() -> None:
        Message.create(recipient="+8613900777001", text="审核前的通知", state="cancelled",
                       error="rejected by li: <b>措辞</b>不当", created_at=at, updated_at=at)

    console.run(console.appliance.store.write(write))
    name, password = console.users["admin"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        page = http.get("/console/history?since=2026-09-03&until=2026-09-03")
        assert "已被 li 驳回：&lt;b&gt;措辞&lt;/b&gt;不当" in page.text
        assert "rejected by" not in page.text
        answer = http.get("/console/history/export.csv?since=2026-09-03&until=2026-09-03")
        rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
        header, row = rows[0], rows[1]
        assert row[header.index("状态")] == "已取消"
        assert row[header.index("错误")] == "已被 li 驳回：<b>措辞</b>不当"


def test_the_dashboard_names_operators_as_people_do(console):
    from appliance.console_web.dash_snapshot import operator_label

    assert operator_label("CHN-CT") == "China Telecom"
    assert operator_label("CHINA MOBILE", "46000") == "China Mobile"
    assert operator_label("", "46001") == "China Unicom"
    assert operator_label("Vodafone") == "Vodafone"
    name, password = console.users["viewer"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        page = http.get("/console/dashboard/modems")
        assert page.status_code == 200
        assert "中国移动" in page.text or "中国联通" in page.text or "中国电信" in page.text


def test_a_review_that_cannot_be_sent_says_why(console):
    name, password = console.users["operator"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        page = http.get("/console/compose")
        out = http.post("/console/compose", data={
            "to": "13800138077", "text": "{name}您好，本月工资已发放。", "when": "now",
            "category": "notice", "action": "review", "csrf_token": _csrf(page.text)})
        assert out.status_code == 200 and 'id="merge-missing"' in out.text
        # The send button is gone: the page says why, and what to do.
        assert 'value="send"' not in out.text
        assert "每个接收人的每个占位符都有取值后才能发送" in out.text


def test_a_message_state_has_one_chinese_name_across_pages():
    from appliance.console_web.i18n import translate

    # The history's filter and badges ("held", "sent") and the campaign page's ("Held",
    # "Sent") name the same states: one word each, or a user filters for what the other
    # page never shows.
    for state in ("held", "queued", "sent", "delivered", "failed", "cancelled", "expired"):
        assert translate("zh-CN", state) == translate("zh-CN", state.capitalize()), state


def test_a_scheduled_single_message_is_not_announced_as_sent(console):
    import re
    from datetime import datetime, timedelta

    when = (datetime.now() + timedelta(days=2)).strftime("%Y-%m-%dT15:00")
    name, password = console.users["operator"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        page = http.get("/console/compose")
        out = http.post("/console/compose", data={
            "to": "13800138078", "text": "下午三点开会（定时）", "when": "at",
            "send_at": when, "category": "notice", "action": "send",
            "csrf_token": _csrf(page.text)}, follow_redirects=True)
        assert out.status_code == 200 and 'id="sent-at"' in out.text
        assert "<h1>已定时</h1>" in out.text and "<h1>已发送</h1>" not in out.text
        # Its link opens the history at that message (there is no ?message= filter).
        link = re.search(r'<a href="(/console/history\?before=(\d+))">#(\d+)</a>', out.text)
        assert link and int(link.group(2)) == int(link.group(3)) + 1
        listed = http.get(link.group(1))
        first = re.search(r'<tr data-id="(\d+)"', listed.text)
        assert first and first.group(1) == link.group(3)


def test_switching_the_language_keeps_the_filters_of_the_page(console):
    import html
    import re

    name, password = console.users["viewer"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        page = http.get("/console/history?tab=in&number=13800138001")
        link = re.search(r'<a href="(/console/lang/en\?next=[^"]+)"', page.text)
        assert link
        switched = http.get(html.unescape(link.group(1)))
        assert switched.status_code == 302
        assert switched.headers["location"] == "/console/history?tab=in&number=13800138001"


def test_a_sim_is_named_by_its_number_not_its_iccid(console):
    from datetime import UTC, datetime

    from appliance.store.models import Campaign, InboxMessage, Message, Sim

    iccid = "89860000000000777001"
    at = datetime(2026, 9, 5, 2, 0, tzinfo=UTC)

    def write() -> int:
        Sim.get_or_create(iccid=iccid, defaults={"own_number": "+8613900777999"})
        campaign = Campaign.create(name="SIM 名称").id
        Message.create(recipient="+8613900777002", text="x", state="delivered", sim=iccid,
                       campaign=campaign, created_at=at, updated_at=at)
        InboxMessage.create(sim=iccid, sender="+8613900777003", number="+8613900777003",
                            text="收到", smsc_at=datetime.now(UTC),
                            received_at=datetime.now(UTC))
        return campaign

    campaign = console.run(console.appliance.store.write(write))
    name, password = console.users["admin"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        for url in (f"/console/campaigns/{campaign}/recipients", "/console/dashboard/replies"):
            page = http.get(url)
            assert page.status_code == 200, url
            assert ">+8613900777999</td>" in page.text, url
            assert f">{iccid}<" not in page.text, url


def test_a_button_address_opened_as_a_page_says_so_in_chinese(console):
    name, password = console.users["operator"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        page = http.get("/console/campaigns/1/pause")
        assert page.status_code == 405
        assert "text/html" in page.headers["content-type"]
        assert "无法直接打开" in page.text and "请返回原页面" in page.text
        assert "无权访问" not in page.text  # it is not a matter of rights
        assert "is not allowed" not in page.text


def test_console_typed_by_hand_leads_to_the_dashboard(console):
    name, password = console.users["viewer"]
    with client(console, "zh-CN") as http:
        assert http.get("/console").headers["location"] == "/console/login"
        log_in(http, name, password)
        for path in ("/console", "/console/"):
            answer = http.get(path)
            assert answer.status_code == 302, path
            assert answer.headers["location"] == "/console/dashboard"


def test_a_refused_reply_says_why_in_chinese(console):
    from appliance.console_web.reasons import send_refusal
    from appliance.dispatch.intake import PolicyRefused

    refused = PolicyRefused("forbidden_word", "text", "contains a forbidden word", word="赌博")
    assert "赌博" in send_refusal("zh-CN", refused)
    assert "forbidden" not in send_refusal("zh-CN", refused)
    name, password = console.users["operator"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        page = http.get("/console/replies/%2B8613800138001")
        out = http.post("/console/replies/%2B8613800138001",
                        data={"text": "长" * 2000, "csrf_token": _csrf(page.text)})
        assert out.status_code == 400
        assert "内容过长：共 2000 个字符" in out.text and "too long" not in out.text
        assert "长" * 2000 in out.text  # what was typed stays


def test_compose_says_a_text_is_too_long_in_chinese(console):
    name, password = console.users["operator"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        page = http.get("/console/compose")
        out = http.post("/console/compose", data={
            "to": "13800138079", "text": "长" * 2000, "when": "now", "category": "notice",
            "action": "review", "csrf_token": _csrf(page.text)})
        assert out.status_code == 200
        assert "内容过长：共 2000 个字符" in out.text and "too long" not in out.text


def test_one_is_singular_in_english(console):
    name, password = console.users["operator"]
    with client(console, "en") as http:
        log_in(http, name, password)
        page = http.get("/console/compose")
        out = http.post("/console/compose", data={
            "to": "13800138076", "text": "One recipient, one part", "when": "now",
            "category": "notice", "action": "review", "csrf_token": _csrf(page.text)})
        assert "1 recipient<" in out.text and "1 recipients" not in out.text
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        page = http.get("/console/compose")
        out = http.post("/console/compose", data={
            "to": "13800138076", "text": "一个接收人", "when": "now",
            "category": "notice", "action": "review", "csrf_token": _csrf(page.text)})
        assert "1 个接收人" in out.text


def test_a_password_too_long_is_refused_in_chinese(console):
    name, password = console.users["viewer"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        page = http.get("/console/password")
        out = http.post("/console/password", data={
            "current": password, "new": "x" * 300, "repeat": "x" * 300,
            "csrf_token": _csrf(page.text)})
        assert out.status_code == 400
        assert "密码最多 256 个字符。" in out.text and "at most" not in out.text


def test_the_at_log_is_stamped_in_the_appliances_time_zone():
    from zoneinfo import ZoneInfo

    from appliance.at.traffic import TrafficLine
    from appliance.console_web.dash import traffic_text

    line = TrafficLine(at=1_790_000_000.25, direction=">", text="AT+CSQ")
    # 2026-09-21 14:13:20 UTC is 22:13:20 in Shanghai, whatever the process's zone.
    assert traffic_text(line, ZoneInfo("Asia/Shanghai")) == "22:13:20.250 > AT+CSQ"


def test_reloading_the_page_after_a_send_does_not_send_again(console):
    name, password = console.users["operator"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        page = http.get("/console/compose")
        out = http.post("/console/compose", data={
            "to": "13800138074", "text": "发送后刷新页面", "when": "now", "category": "notice",
            "action": "send", "csrf_token": _csrf(page.text)})
        # The answer to the POST is a redirect: a reload asks for the result page again.
        assert out.status_code == 303
        assert out.headers["location"].startswith("/console/compose/sent?ids=")
        shown = http.get(out.headers["location"])
        assert shown.status_code == 200 and "<h1>已发送</h1>" in shown.text
        assert 'id="sent-ids"' in shown.text


def test_campaigns_name_people_as_the_history_does(console):
    from tests.web import campaigns_support as cs

    info = console.run(cs.user(console, "operator"))
    console.run(console.appliance.store.write(lambda: accounts_store_update(info.id)))
    cid, _, _ = console.run(cs.send_campaign(console, "operator", 2, "Display name notice"))
    name, password = console.users["viewer"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        for url in ("/console/campaigns", f"/console/campaigns/{cid}"):
            page = http.get(url)
            assert "周操作员" in page.text, url


def accounts_store_update(user_id: int) -> None:
    from appliance.store import accounts

    accounts.update_user(user_id, display_name="周操作员")


def test_a_recurring_sends_last_run_reads_in_chinese(console):
    from appliance.console_web.reasons import schedule_result
    from appliance.store.models import SendSchedule

    assert schedule_result("zh-CN", "sent: 3 message(s) campaign 12; 1 left out") == \
        "已发送 3 条；剔除 1 个号码"
    name, password = console.users["operator"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        page = http.get("/console/compose")
        http.post("/console/compose", data={
            "to": "13800138073", "text": "每天的值班提醒", "when": "recurring",
            "repeat": "daily", "repeat_at": "08:30", "category": "notice", "action": "send",
            "csrf_token": _csrf(page.text)})
        console.run(console.appliance.store.write(lambda: SendSchedule.update(
            last_result="sent: 1 message(s); 0 left out").execute()))
        listed = http.get("/console/schedules")
        assert "已发送 1 条；剔除 0 个号码" in listed.text and "message(s)" not in listed.text


def test_a_recurring_send_says_when_as_it_was_chosen(console):
    name, password = console.users["operator"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        page = http.get("/console/compose")
        http.post("/console/compose", data={
            "to": "13800138072", "text": "每周一的例会提醒", "when": "recurring",
            "repeat": "weekly", "repeat_weekday": "1", "repeat_at": "09:00",
            "category": "notice", "action": "send", "csrf_token": _csrf(page.text)})
        listed = http.get("/console/schedules")
        assert "每星期一 09:00" in listed.text and "<code>0 9 * * 1</code>" not in listed.text


def test_the_dashboard_says_how_many_waiting_messages_are_held(console):
    from datetime import UTC, datetime

    from appliance.store.models import Message

    at = datetime.now(UTC)

    def write() -> None:
        for i in range(3):
            Message.create(recipient=f"+86139007790{i:02d}", text="暂挂", state="held",
                           created_at=at, updated_at=at)

    console.run(console.appliance.store.write(write))
    name, password = console.users["viewer"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        page = http.get("/console/dashboard/figures")
        assert page.status_code == 200
        assert 'id="fig-held"' in page.text and "条暂挂" in page.text
