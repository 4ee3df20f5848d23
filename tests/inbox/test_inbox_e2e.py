"""The inbox end to end: SMS injected into simulated modems on real ptys, read by the real
drivers, stored by the inbox in a real SQLite file, listed by GET /api/v1/inbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from appliance.pdu import encode_deliver
from appliance.sim.inbound import CHINA_TIME
from appliance.store import inbox as inbox_store
from appliance.store.models import InboundMessage, QuarantinedPdu
from tests.inbox.conftest import FakeClock, InboxRig, wait_for

LONG = ("Dear customer, your parcel 4711 waits at the north gate locker; "
        "collect it before Friday or it goes back to the sender. ") * 3  # 3 GSM-7 parts


def pdus(sender: str, text: str, reference: int, at: datetime | None = None) -> list[str]:
    return encode_deliver(sender, text, at or datetime.now(CHINA_TIME).replace(microsecond=0),
                          reference=reference)


async def test_an_sms_is_stored_with_sim_modem_and_times_then_deleted_and_published(
        rig: InboxRig):
    stamp = datetime(2026, 11, 30, 21, 15, 7, tzinfo=CHINA_TIME)
    rig.fleet.modems[1].inject_sms("+8613800138000", "Meeting moved to 3pm", timestamp=stamp)
    [message] = await rig.wait_inbox(1)
    await rig.wait_modem_empty(1)
    assert message["text"] == "Meeting moved to 3pm"
    assert (message["sender"], message["number"]) == ("+8613800138000", "+8613800138000")
    assert (message["sim"], message["modem"]) == (rig.iccid(1), rig.imei(1))
    assert datetime.fromisoformat(message["smsc_at"]) == stamp
    received = datetime.fromisoformat(message["received_at"])
    assert abs(received - datetime.now(UTC)) < timedelta(minutes=5)
    assert (message["partial"], message["parts"], message["parts_received"]) == (False, 1, 1)
    [event] = await rig.published()
    assert (event.inbox_id, event.sender, event.text, event.sim, event.partial) == (
        message["id"], "+8613800138000", "Meeting moved to 3pm", rig.iccid(1), False)


async def test_parts_arriving_out_of_order_are_one_message(rig: InboxRig):
    parts = pdus("+8613900000001", LONG, reference=201)
    assert len(parts) == 3
    modem = rig.fleet.modems[0]
    for pdu in (parts[2], parts[0]):
        modem.inject_raw_pdu(pdu)
    await rig.wait_modem_empty(0)  # both committed, nothing to show yet
    assert await rig.inbox_list() == []
    modem.inject_raw_pdu(parts[1])
    [message] = await rig.wait_inbox(1)
    assert message["text"] == LONG
    assert (message["parts"], message["parts_received"], message["partial"]) == (3, 3, False)
    assert len(await rig.published()) == 1


async def test_a_missing_part_makes_a_partial_after_the_timeout_and_the_late_part_completes_it(
        rig: InboxRig):
    clock = FakeClock()
    rig.inbox.clock = clock
    after = rig.config.inbox.partial_after_seconds
    parts = pdus("+8613900000002", LONG, reference=202)
    modem = rig.fleet.modems[0]
    modem.inject_raw_pdu(parts[0])
    modem.inject_raw_pdu(parts[2])
    await rig.wait_modem_empty(0)
    clock.advance(seconds=after - 1)
    assert await rig.inbox.store_partials_due() == 0  # not yet
    clock.advance(seconds=2)
    assert await rig.inbox.store_partials_due() == 1
    [partial] = await rig.inbox_list()
    first, _, third = (LONG[i:i + 153] for i in range(0, len(LONG), 153))
    assert partial["partial"] is True
    assert partial["text"] == first + inbox_store.GAP_MARKER + third
    assert (partial["parts"], partial["parts_received"]) == (3, 2)
    assert not rig.inbox.waiting  # nothing left for the timer to query
    clock.advance(hours=1)
    modem.inject_raw_pdu(parts[1])  # the late part
    await wait_for(lambda: rig.inbox.stored >= 2, "the late part stored")
    [complete] = await rig.inbox_list()
    assert complete["id"] == partial["id"]  # completed in place, not a second message
    assert (complete["text"], complete["partial"], complete["parts_received"]) == (
        LONG, False, 3)
    events = await rig.published()
    assert [(e.inbox_id, e.partial) for e in events] == [(partial["id"], True),
                                                         (partial["id"], False)]


async def test_a_part_read_again_after_a_restart_is_stored_once(rig: InboxRig):
    modem = rig.fleet.modems[1]
    [pdu] = pdus("+8613900000003", "pay the invoice", reference=0)
    modem.inject_raw_pdu(pdu)
    [message] = await rig.wait_inbox(1)
    await rig.wait_modem_empty(1)
    await rig.stop()
    # As if the box lost power after our commit but before the modem's +CMGD: the message is
    # still on the SIM and is read again at the next start.
    modem.store.store(pdu)
    await rig.start()
    await rig.wait_modem_empty(1)  # read again, handed on, deleted
    assert await rig.inbox_list() == [message]
    parts = await rig.appliance.store.read(lambda: InboundMessage.select().count())
    assert parts == 1
    assert rig.inbox.duplicates == 1


async def test_a_network_redelivery_with_another_first_octet_is_stored_once(rig: InboxRig):
    modem = rig.fleet.modems[0]
    [pdu] = pdus("+8613900000004", "redelivered", reference=0)
    modem.inject_raw_pdu(pdu)
    await rig.wait_inbox(1)
    smsc_len = int(pdu[:2], 16)
    at = 2 + 2 * smsc_len
    flipped = f"{int(pdu[at:at + 2], 16) ^ 0x04:02X}"  # TP-MMS, set per delivery attempt
    modem.inject_raw_pdu(pdu[:at] + flipped + pdu[at + 2:])
    await wait_for(lambda: rig.inbox.duplicates == 1, "the redelivery seen as a duplicate")
    assert len(await rig.inbox_list()) == 1


HOSTILE = [
    "<script>alert(document.cookie)</script>",
    "'; DROP TABLE inbox_message; -- \" OR 1=1",
    "\u202Egnp.exe \u202Dplain \u2066isolated\u2069",
    ("Grüße 你好 👋🏽 \U0001F468\u200D\U0001F469\u200D\U0001F467 " * 80)[:2000],
]


async def test_hostile_text_is_stored_and_returned_exactly(rig: InboxRig):
    for n, text in enumerate(HOSTILE):
        rig.fleet.modems[n % 2].inject_sms(f"+861390000010{n}", text)
    messages = await rig.wait_inbox(len(HOSTILE), order="asc")
    by_sender = {m["sender"]: m["text"] for m in messages}
    for n, text in enumerate(HOSTILE):
        assert by_sender[f"+861390000010{n}"] == text
    stored = await rig.appliance.store.read(
        lambda: {m["sender"]: m["text"] for m in inbox_store.list_messages(limit=10)})
    assert stored == by_sender
    long_one = next(m for m in messages if m["sender"] == "+8613900000103")
    assert long_one["parts"] > 1 and not long_one["partial"]


async def test_a_national_sender_is_normalised_and_keeps_the_sim_it_wrote_to(rig: InboxRig):
    rig.fleet.modems[1].inject_sms("13900000005", "call me")
    [message] = await rig.wait_inbox(1)
    assert (message["sender"], message["number"]) == ("13900000005", "+8613900000005")
    assert rig.appliance.dispatcher.sticky.get("+8613900000005") == rig.iccid(1)
    assert [m["id"] for m in await rig.inbox_list(number="139 0000 0005")] == [message["id"]]


async def test_an_alphanumeric_sender_is_kept_as_received(rig: InboxRig):
    rig.fleet.modems[0].inject_sms("BANK-INFO", "your code 1234")
    [message] = await rig.wait_inbox(1)
    assert (message["sender"], message["number"]) == ("BANK-INFO", "BANK-INFO")
    assert "BANK-INFO" not in rig.appliance.dispatcher.sticky


async def test_an_undecodable_pdu_is_quarantined_and_deleted(rig: InboxRig):
    rig.fleet.modems[0].inject_raw_pdu("ZZ" * 20)
    await rig.wait_modem_empty(0)
    rows = await rig.appliance.store.read(
        lambda: [(q.sim, q.pdu) for q in QuarantinedPdu.select()])
    assert rows == [(rig.iccid(0), "ZZ" * 20)]
    assert await rig.inbox_list() == []


async def test_a_reassembly_waiting_at_a_restart_completes_after_it(rig: InboxRig):
    parts = pdus("+8613900000006", LONG, reference=206)
    modem = rig.fleet.modems[1]
    modem.inject_raw_pdu(parts[1])
    modem.inject_raw_pdu(parts[0])
    await rig.wait_modem_empty(1)  # two parts on disk, deleted from the SIM
    await rig.restart()
    assert await rig.inbox_list() == []
    modem.inject_raw_pdu(parts[2])
    [message] = await rig.wait_inbox(1)
    assert (message["text"], message["partial"]) == (LONG, False)
