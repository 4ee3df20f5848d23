"""History and replies over real HTTP against a running appliance (no browser): filters and
their refusals, keyset pages, the CSV and XLSX exports read back (formula injection
neutralised), the replies list with unread counts, a hostile inbound text escaped, and a reply
going out through the SIM the person wrote to."""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from openpyxl import load_workbook

from appliance.console_web.history_export import excel_safe
from appliance.store.models import Campaign, InboxMessage, Message
from tests.web.conftest import csrf_of as _csrf

LOGIN = "/console/login"
T0 = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3",
           "@SUM(A1:A9)", "<script>window.pwned=1</script>"]
SIM_A, SIM_B = "89860000000000000011", "89860000000000000022"


@contextlib.contextmanager
def logged_in(console, role: str = "admin", lang: str = "en") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console.base_url, timeout=30.0,
                      headers={"Accept-Language": lang}) as http:
        name, password = console.users[role]
        form = http.get(LOGIN)
        answer = http.post(LOGIN, data={"name": name, "password": password,
                                        "csrf_token": _csrf(form.text),
                                        "next": "/console/history"})
        assert answer.status_code in (302, 303), answer.text[:300]
        yield http


@pytest.fixture(scope="module")
def seeded(console):
    """120 outbound messages a minute apart (campaign on every third, texts that a
    spreadsheet would run as formulas among them) and 30 inbound ones."""
    store = console.appliance.store

    def write() -> dict:
        campaign = Campaign.create(name="秋季通知").id
        rows = []
        for i in range(120):
            at = T0 + timedelta(minutes=i)
            rows.append({"recipient": f"+8613900{i % 10:06d}",
                         "text": HOSTILE[i % len(HOSTILE)] if i % 4 == 0 else f"通知 {i}",
                         "state": ("delivered", "failed", "sent")[i % 3],
                         "sim": SIM_A if i % 2 else SIM_B,
                         "campaign": campaign if i % 3 == 0 else None,
                         "created_at": at, "updated_at": at})
        Message.insert_many(rows).execute()
        ids = [m.id for m in Message.select(Message.id).where(
            Message.created_at >= T0, Message.created_at < T0 + timedelta(hours=3))
            .order_by(Message.id)]
        for i in range(30):
            at = T0 + timedelta(minutes=2 * i, seconds=30)
            InboxMessage.create(sim=SIM_A, sender=f"+8613700{i % 3:06d}",
                                number=f"+8613700{i % 3:06d}", text=f"回复 {i}",
                                smsc_at=at, received_at=at)
        return {"campaign": campaign, "ids": ids}

    return console.run(store.write(write))


DAY = "since=2026-10-01&until=2026-10-01"


def test_outbound_pages_cover_the_filtered_rows_once(console, seeded):
    with logged_in(console) as http:
        seen, url = [], f"/console/history?{DAY}&state=failed"
        while url:
            page = http.get(url)
            assert page.status_code == 200
            seen += [int(i) for i in re.findall(r'<tr data-id="(\d+)"', page.text)]
            older = re.search(r'href="(/console/history\?[^"]*before=\d+[^"]*)" id="page-older"',
                              page.text)
            url = older.group(1).replace("&amp;", "&") if older else None
        assert seen == [i for n, i in enumerate(seeded["ids"]) if n % 3 == 1][::-1]
        # Hostile text is shown escaped.
        page = http.get(f"/console/history?{DAY}")
        assert "<script>window.pwned" not in page.text
        assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page.text


def test_bad_filters_are_named_next_to_their_field(console, seeded):
    with logged_in(console) as http:
        page = http.get("/console/history?since=2026-13-01&number=abc%3Cx&state=nonsense"
                        "&campaign=x1&before=zz")
        assert page.status_code == 400
        for message in ("Not a date (YYYY-MM-DD).", "Not a phone number.",
                        "Choose a state from the list.", "Choose from the list.",
                        "That page does not exist"):
            assert message in page.text
        assert "abc&lt;x" in page.text  # the value as typed, escaped
        page = http.get("/console/history?since=2026-10-02&until=2026-10-01")
        assert page.status_code == 400 and "The end date is before the start date." in page.text
        with logged_in(console, lang="zh-CN") as zh:
            assert "日期格式不对" in zh.get("/console/history?since=x").text


def test_inbound_tab_and_number_filter(console, seeded):
    with logged_in(console) as http:
        page = http.get(f"/console/history?tab=in&{DAY}&number=13700000001")
        assert page.status_code == 200
        texts = re.findall(r'<td class="text">(回复 \d+)', page.text)
        assert texts == [f"回复 {i}" for i in range(29, -1, -1) if i % 3 == 1]


def test_csv_export_streams_the_filtered_view_with_a_bom_and_no_formulas(console, seeded):
    with logged_in(console) as http:
        answer = http.get(f"/console/history/export.csv?{DAY}&campaign={seeded['campaign']}")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in answer.headers["content-disposition"]
        assert answer.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
        assert rows[0][:5] == ["ID", "Time", "Number", "Contact", "Text"]
        body = rows[1:]
        assert [int(r[0]) for r in body] == [i for n, i in enumerate(seeded["ids"])
                                             if n % 3 == 0][::-1]
        assert body[-1][1] == "2026-10-01 10:00:00"  # local time
        for row in body:
            for cell in row:
                assert not cell.startswith(("=", "-", "@")) and \
                    (not cell.startswith("+") or re.fullmatch(r"\+\d+", cell)), cell
        texts = {r[4] for r in body}
        assert "'=HYPERLINK(\"http://evil.example\",\"x\")" in texts
        assert "'@SUM(A1:A9)" in texts and "'-2+3" in texts
        assert any(r[2] == "+8613900000000" for r in body)  # numbers stay numbers


def test_xlsx_export_reads_back_with_openpyxl(console, seeded, tmp_path):
    with logged_in(console, lang="zh-CN") as http:
        answer = http.get(f"/console/history/export.xlsx?{DAY}")
        assert answer.status_code == 200
        path = tmp_path / "out.xlsx"
        path.write_bytes(answer.content)
    sheet = load_workbook(path, read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:5] == ("编号", "时间", "号码", "联系人", "内容")
    assert len(rows) == 121
    assert [r[0] for r in rows[1:]] == seeded["ids"][::-1]
    cells = [c for r in rows for c in r if isinstance(c, str)]
    assert not any(c.startswith(("=", "-", "@")) for c in cells)
    assert "'=HYPERLINK(\"http://evil.example\",\"x\")" in cells
    assert "<script>window.pwned=1</script>" in cells


def test_an_export_with_a_bad_filter_is_the_page_with_the_message(console, seeded):
    with logged_in(console) as http:
        answer = http.get("/console/history/export.csv?until=yesterday")
        assert answer.status_code == 400 and "Not a date" in answer.text


def test_excel_safe_table():
    assert excel_safe("=1+1") == "'=1+1"
    assert excel_safe("+86 138") == "+86 138"  # a number as people write it
    assert excel_safe("-2+3") == "'-2+3"
    assert excel_safe("+1+cmd|' /C calc'!A0") == "'+1+cmd|' /C calc'!A0"
    assert excel_safe("+8613800138000") == "+8613800138000"
    assert excel_safe("\t=x") == "'\t=x"
    assert excel_safe("plain = text") == "plain = text"
    assert excel_safe(42) == 42


def test_replies_unread_hostile_text_and_a_reply_through_the_same_sim(console):
    store = console.appliance.store
    number = "+8613600000077"
    hostile = "<img src=x onerror=window.pwned=1>"

    def write() -> None:
        now = datetime.now(UTC)
        for i, text in enumerate(("在吗", hostile)):
            InboxMessage.create(sim=SIM_B, sender=number, number=number, text=text,
                                smsc_at=now, received_at=now + timedelta(seconds=i))

    console.run(store.write(write))
    with logged_in(console, "operator") as http:
        listing = http.get("/console/replies")
        assert listing.status_code == 200
        row = re.search(r'<li class="thread-row unread" data-number="\+8613600000077">(.*?)</li>',
                        listing.text, re.S)
        assert row and 'unread-count" title="Unread">2<' in row.group(1)
        assert "&lt;img src=x onerror=window.pwned=1&gt;" in row.group(1)
        thread = http.get("/console/replies/%2B8613600000077")
        assert thread.status_code == 200
        assert "<img src=x" not in thread.text and "&lt;img src=x onerror" in thread.text
        listing = http.get("/console/replies")
        assert 'data-number="+8613600000077"' in listing.text.replace("&#43;", "+")
        assert not re.search(r'thread-row unread" data-number="\+8613600000077"', listing.text)
        # Without the form's token: refused.
        refused = http.post("/console/replies/%2B8613600000077", data={"text": "hi"})
        assert refused.status_code == 403
        empty = http.post("/console/replies/%2B8613600000077",
                          data={"text": "  ", "csrf_token": _csrf(thread.text)})
        assert empty.status_code == 400 and "Write a reply first." in empty.text
        sent = http.post("/console/replies/%2B8613600000077",
                         data={"text": "您好，已收到", "csrf_token": _csrf(thread.text)})
        assert sent.status_code == 303

    def newest() -> Message:
        return Message.select().where(Message.recipient == number).order_by(
            Message.id.desc()).first()

    message = console.run(store.read(newest))
    assert "您好，已收到" in message.text  # a signature rule may add to it
    assert message.door == "console" and message.user_id is not None
    assert message.sim == SIM_B  # pinned to the SIM the person wrote to


def test_a_viewer_may_read_replies_but_not_answer(console):
    with logged_in(console, "viewer") as http:
        thread = http.get("/console/replies/%2B8613600000077")
        assert thread.status_code == 200 and 'id="reply-form"' not in thread.text
        answer = http.post("/console/replies/%2B8613600000077",
                           data={"text": "x", "csrf_token": _csrf(http.get(
                               "/console/history").text)})
        assert answer.status_code == 403


def test_every_history_string_has_chinese():
    from pathlib import Path

    from appliance.console_web import history_export
    from appliance.console_web.i18n import catalog

    root = Path(__file__).resolve().parents[2]
    used = set()
    for path in (root / "web" / "templates" / "history").glob("*.html"):
        used |= set(re.findall(r"""_\(["']([^"']+)["']""", path.read_text(encoding="utf-8")))
    for path in (root / "appliance" / "console_web").glob("history*.py"):
        source = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'text\(request, "([^"]+)"', source.replace('"\n', '').replace(
            '                                            "', "")))
    used |= {name for name, _ in history_export.OUTBOUND_COLUMNS + history_export.INBOUND_COLUMNS}
    chinese = catalog()
    missing = sorted(u for u in used if u not in chinese)
    assert not missing, missing


def test_a_sender_name_has_its_thread_but_no_reply_form(console):
    store = console.appliance.store

    def write() -> None:
        now = datetime.now(UTC)
        InboxMessage.create(sim=SIM_A, sender="BANK-INFO", number="BANK-INFO",
                            text="您的验证码 1234", smsc_at=now, received_at=now)

    console.run(store.write(write))
    with logged_in(console, "operator") as http:
        thread = http.get("/console/replies/BANK-INFO")
        assert thread.status_code == 200 and "您的验证码 1234" in thread.text
        assert 'id="no-reply"' in thread.text and 'id="reply-form"' not in thread.text
