"""The compose page in a real browser: the live counter shows the gateway's parts for a
Chinese and a GSM-7 text; an import with bad rows lists them and sends nothing until
confirmed; a send to a group becomes messages that leave through the simulated modems."""

from __future__ import annotations

import time

import pytest

from appliance.compose.checks import count_as_sent
from appliance.dispatch.intake import SendRequest
from appliance.pdu import encode_submit
from appliance.policy.origin import Origin
from appliance.store import contacts as contacts_store
from appliance.store.models import Message

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def gateway_parts(console, text: str) -> tuple[str, int]:
    counted = count_as_sent(console.appliance.policy, SendRequest(
        to=[], text=text, origin=Origin(door="console", role="operator")))
    assert counted.parts == len(encode_submit("+8613800138000", counted.text))
    return counted.encoding, counted.parts


def messages(console, **where) -> list:
    def read():
        query = Message.select()
        for key, value in where.items():
            query = query.where(getattr(Message, key) == value)
        return list(query)

    return console.run(console.appliance.store.read(read))


def test_counter_shows_the_gateways_parts(console, new_page, login, shot):
    page = new_page(locale="zh-CN")
    login(page, "operator")
    page.goto("/console/compose")
    chinese = "各位同事：本周五下午三点在三楼会议室召开安全生产例会，请准时参加，不得缺席。" * 2
    encoding, parts = gateway_parts(console, chinese)
    assert (encoding, parts) == ("ucs2", 2)
    page.fill("#text", chinese)
    page.wait_for_selector(f"#counter [data-parts='{parts}']")
    assert page.locator("#count-encoding").inner_text() == "UCS2"
    assert page.locator("#count-parts").inner_text().startswith(f"{parts} ")
    shot(page, "compose-counter-zh")
    latin = "Server room temperature high: 31C. Please check the air conditioning now. " * 3
    encoding, parts = gateway_parts(console, latin)
    assert (encoding, parts) == ("gsm7", 2)
    page.fill("#text", latin)
    page.wait_for_selector(f"#counter [data-encoding='gsm7'][data-parts='{parts}']")
    assert page.locator("#count-encoding").inner_text() == "GSM-7"


CSV = (b"name,phone,company\n"
       b"Alice,13700137001,Acme\n"
       b"Bob,12345,Acme\n"
       b"Carol,13700137001,Beta\n"
       b"Dave,13700137002,Beta\n")


def test_import_lists_bad_rows_and_sends_only_when_confirmed(console, page, login, shot):
    login(page, "operator")
    page.goto("/console/compose")
    before = len(messages(console))
    page.click("text=Import from CSV or XLSX")
    page.set_input_files("#import-file", files=[{"name": "staff.csv", "mimeType": "text/csv",
                                                 "buffer": CSV}])
    page.click("#import-button")
    page.wait_for_selector("#import-report")
    report = page.locator("#recipient-problems")
    assert "Invalid: 1" in report.inner_text() and "Duplicate: 1" in report.inner_text()
    assert "12345" in report.inner_text()
    assert "2 recipients can be sent to." in page.locator("#import-valid").inner_text()
    shot(page, "compose-import-en")
    assert len(messages(console)) == before  # a preview sends nothing
    page.fill("#text", "{name} of {company}: the office is closed on Friday.")
    page.click("button[value=review]")
    page.wait_for_selector("#review")
    assert "2 recipients" in page.locator("#review-recipients").inner_text()
    assert page.locator("#recipient-problems .problem").count() == 2
    assert len(messages(console)) == before  # a review sends nothing either
    shot(page, "compose-review-en")
    page.click("#confirm-send")
    page.wait_for_url("**/console/campaigns/*")
    campaign = int(page.url.rsplit("/", 1)[1])
    texts = sorted(m.text for m in messages(console, campaign=campaign))
    assert texts == ["Alice of Acme: the office is closed on Friday.",
                     "Dave of Beta: the office is closed on Friday."]


def test_send_to_a_group_creates_messages_that_go_out(console, new_page, login, shot):
    def book():
        g = contacts_store.create_group("Night shift")
        ids = [contacts_store.create_contact(f"Worker {i}", [f"+86135001350{i:02d}"])["id"]
               for i in range(3)]
        contacts_store.add_contacts_to_group(g["id"], ids)
        return g["id"]

    group = console.run(console.appliance.store.write(book))
    page = new_page(locale="zh-CN")
    login(page, "operator")
    page.goto("/console/compose")
    page.click("text=联系人与分组")
    page.check(f"input[name=group_id][value='{group}']")
    page.fill("#text", "今晚20:00消防演练，请各班组按预案疏散。")
    page.click("button[value=review]")
    page.wait_for_selector("#estimate")
    assert "3 个接收人" in page.locator("#review-recipients").inner_text()
    assert "预计" in page.locator("#estimate").inner_text()
    shot(page, "compose-review-zh")
    page.click("#confirm-send")
    page.wait_for_url("**/console/campaigns/*")
    campaign = int(page.url.rsplit("/", 1)[1])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = messages(console, campaign=campaign)
        if len(rows) == 3 and all(r.state in ("sent", "delivered") for r in rows):
            break
        time.sleep(0.3)
    assert sorted(r.recipient for r in rows) == [f"+86135001350{i:02d}" for i in range(3)]
    assert all(r.state in ("sent", "delivered") for r in rows), [r.state for r in rows]
