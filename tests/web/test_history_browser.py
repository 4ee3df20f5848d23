"""Replies in a real browser: an SMS delivered by a simulated modem appears live in its open
thread and in the thread list; hostile inbound text is shown as text and never run; a reply
typed in place leaves through the SIM the person wrote to."""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def inject(console, modem: int, sender: str, text: str) -> str:
    """Deliver an SMS to simulated modem `modem` (on the appliance's loop); its SIM's ICCID."""
    sim = console.gateway.fleet.modems[modem]
    console.loop.call_soon_threadsafe(lambda: sim.inject_sms(sender, text))
    return sim.profile.iccid


def wait_stored(console, number: str, count: int, timeout: float = 20.0) -> None:
    from appliance.store.models import InboxMessage

    def stored() -> int:
        return InboxMessage.select().where(InboxMessage.number == number).count()

    deadline = time.monotonic() + timeout
    while console.run(console.appliance.store.read(stored)) < count:
        assert time.monotonic() < deadline, f"{number}: {count} inbound messages never stored"
        time.sleep(0.1)


def test_an_inbound_reply_appears_live_in_its_open_thread_and_the_list(
        console, new_page, login, shot):
    number = "+8613500000101"
    inject(console, 0, number, "请问明天几点开会？")
    wait_stored(console, number, 1)
    listing = new_page()
    login(listing, "operator")
    listing.goto("/console/replies")
    thread = new_page()
    login(thread, "operator")
    thread.goto("/console/replies/%2B8613500000101")
    thread.locator(".msg.in .body", has_text="请问明天几点开会？").wait_for()
    thread.wait_for_timeout(300)  # the event stream is open
    inject(console, 0, number, "另外，地点在哪里？")
    # No reload: the thread re-fetches itself on sms.received.
    thread.locator(".msg.in .body", has_text="另外，地点在哪里？").wait_for(timeout=15_000)
    row = listing.locator(f'.thread-row[data-number="{number}"]')
    row.locator(".last", has_text="另外，地点在哪里？").wait_for(timeout=15_000)
    shot(thread, "replies-thread-en")
    shot(listing, "replies-list-en")


def test_hostile_inbound_text_is_shown_as_text_and_never_run(console, new_page, login, shot):
    number = "+8613500000202"
    script = "<script>window.pwned=1</script>"
    image = "<img src=x onerror=window.pwned=1>"
    inject(console, 1, number, "hello")
    wait_stored(console, number, 1)
    page = new_page(locale="zh-CN")
    login(page, "viewer")
    page.goto("/console/replies/%2B8613500000202")
    page.locator(".msg.in .body", has_text="hello").wait_for()
    page.wait_for_timeout(300)
    inject(console, 1, number, script)
    inject(console, 1, number, image)
    page.locator(".msg.in .body", has_text=image).wait_for(timeout=15_000)  # live, as text
    assert page.locator(".msg.in .body", has_text=script).count() == 1
    assert page.locator("#items img").count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"
    shot(page, "replies-thread-hostile-zh")
    for url, where in (("/console/replies", ".thread-row .last"),
                       ("/console/history?tab=in&number=13500000202", "td.text")):
        page.goto(url)
        page.locator(where, has_text=image).first.wait_for()
        page.wait_for_timeout(200)  # an onerror would have fired by now
        assert page.evaluate("typeof window.pwned") == "undefined", url
        assert page.locator("main img").count() == 0, url
    shot(page, "history-inbound-zh")


def test_a_reply_in_place_goes_out_through_the_sim_written_to(console, new_page, login, shot):
    number = "+8613500000303"
    iccid = inject(console, 1, number, "能再发一次验证码吗？")
    wait_stored(console, number, 1)
    page = new_page()
    login(page, "operator")
    page.goto("/console/replies/%2B8613500000303")
    own = console.gateway.fleet.modems[1].profile
    label = page.locator("label[for=reply-text]").inner_text()
    assert "goes out through the SIM it came to" in label
    assert own.own_number in label  # the SIM's label: its own number
    page.fill("#reply-text", "好的，马上重发。")
    page.click("#reply-send")
    sent = page.locator(".msg.out", has_text="好的，马上重发。")
    sent.wait_for()
    assert page.input_value("#reply-text") == ""
    # The state follows live (message.state) until the modem has taken it.
    sent.locator(".state", has_text="sent").or_(
        sent.locator(".state", has_text="delivered")).wait_for(timeout=20_000)
    from appliance.store.models import Message

    def reply_sim() -> str | None:
        return (Message.select(Message.sim).where(Message.recipient == number)
                .order_by(Message.id.desc()).first().sim)

    assert console.run(console.appliance.store.read(reply_sim)) == iccid
    modem = console.gateway.fleet.modems[1]
    assert any("好的，马上重发。" in p.submit.text and p.submit.to == number
               for p in modem.accepted), "the reply did not leave through the SIM written to"
    shot(page, "replies-reply-sent-en")
    page.goto("/console/history")
    page.locator("#history-table td.text", has_text="好的，马上重发。").wait_for()
    shot(page, "history-outbound-en")
