"""store.sims on a real SQLite WAL file: SIM identity, counters, sticky history, inbound
de-duplication and status-report matching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from appliance.dispatch import rates
from appliance.store import messages as outbox
from appliance.store import sending, sims
from appliance.store.models import InboundMessage, Message, Modem, Part, Sim, StatusReportRecord

TZ = ZoneInfo("Asia/Shanghai")
ICCID = "89860012345678901234"


def _sent_message(db, recipient: str = "+8613912345678", mr: int = 7, parts: int = 1) -> int:
    now = datetime.now(UTC)
    with db.atomic():
        [mid] = outbox.accept_messages([outbox.NewMessage(recipient=recipient, text="x")])
        outbox.claim_messages(ICCID, 1, now, candidate_ids=[mid])
        ids = outbox.add_parts(mid, ICCID, [outbox.NewPart(pdu="00", tpdu_length=1)] * parts)
        for n, pid in enumerate(ids):
            outbox.transition_part(pid, "sending")
            outbox.transition_part(pid, "sent", message_reference=mr + n)
        outbox.transition_message(mid, "sent")
    return mid


def test_upsert_keeps_one_row_per_sim_and_modem_and_follows_the_port(db):
    for port in ("/dev/ttyUSB2", "/dev/ttyUSB5"):
        sims.upsert_modem_and_sim(imei="861518030000001", manufacturer="huawei", model="E3372",
                                  revision="1", port=port, iccid=ICCID, imsi="460001",
                                  operator="CHINA MOBILE", operator_code="46000", own_number="")
    assert Sim.select().count() == 1 and Modem.select().count() == 1
    assert Modem.get().last_port == "/dev/ttyUSB5" and Modem.get().sim == ICCID


def test_ensure_sim_creates_a_bare_row_once(db):
    sims.ensure_sim(ICCID)
    sims.ensure_sim(ICCID)
    assert Sim.select().count() == 1
    assert outbox.next_concat_ref(ICCID) == 1


def test_counters_round_trip_through_local_window_rows(db):
    now = datetime(2026, 3, 1, 15, 59, 30, tzinfo=UTC)  # 23:59 in Shanghai
    counters = rates.record_send(rates.SimCounters(), now, TZ, 3)
    sims.save_counters(ICCID, counters.to_dict(), TZ)
    loaded = rates.SimCounters.from_dict(sims.load_counters(ICCID, TZ))
    assert loaded.rolled(now, TZ).to_dict() == counters.rolled(now, TZ).to_dict()  # calendar
    assert loaded.rolled(now, TZ).count("day") == 3
    # A minute later it is a new local day (and month): those windows start again.
    assert loaded.rolled(now + timedelta(minutes=1), TZ).count("day") == 0


def test_last_sims_by_recipient_gives_the_latest_sender(db):
    _sent_message(db, "+8613900000001")
    Message.update(sim="OTHER", sent_at=datetime.now(UTC) - timedelta(days=40)).execute()
    _sent_message(db, "+8613900000001")
    assert sims.last_sims_by_recipient(datetime.now(UTC) - timedelta(days=30)) == {
        "+8613900000001": ICCID}


def test_inbound_part_read_twice_is_stored_once(db):
    kwargs = dict(iccid=ICCID, sender="+8613900000001", text="hi", received_at=datetime.now(UTC),
                  concat_ref=None, concat_count=1, concat_index=1, smsc=None, pdu="0791AB")
    assert sims.store_inbound(**kwargs) == sims.store_inbound(**kwargs)


def test_status_report_matches_sim_reference_and_recipient(db):
    mid = _sent_message(db, mr=7)
    other = _sent_message(db, "+8613900000009", mr=8)
    # National form, as some networks give it.
    assert sims.apply_status_report(iccid=ICCID, message_reference=7, recipient="13912345678",
                                    status=0, delivered=True, final=True, pdu="") == (
        mid, "delivered")
    assert Message.get_by_id(other).state == "sent"
    # An unknown reference is recorded, unmatched.
    assert sims.apply_status_report(iccid=ICCID, message_reference=99, recipient="+86139",
                                    status=0, delivered=True, final=True, pdu="") == (None, None)
    assert StatusReportRecord.select().count() == 2


def test_multipart_is_delivered_only_when_every_part_is(db):
    mid = _sent_message(db, mr=10, parts=2)
    args = dict(iccid=ICCID, recipient="+8613912345678", status=0, delivered=True,
                final=True, pdu="")
    assert sims.apply_status_report(message_reference=10, **args) == (mid, None)
    assert sims.apply_status_report(message_reference=11, **args) == (mid, "delivered")


def test_late_report_settles_an_ambiguous_part_without_a_reference(db):
    now = datetime.now(UTC)
    with db.atomic():
        [mid] = outbox.accept_messages([outbox.NewMessage(recipient="+8613912345678",
                                                          text="x")])
        outbox.claim_messages(ICCID, 1, now, candidate_ids=[mid])
        [pid] = outbox.add_parts(mid, ICCID, [outbox.NewPart(pdu="00", tpdu_length=1)])
        outbox.transition_part(pid, "sending")
        outbox.transition_part(pid, "ambiguous")
        outbox.transition_message(mid, "ambiguous")
    assert sims.apply_status_report(iccid=ICCID, message_reference=42, recipient="+8613912345678",
                                    status=0, delivered=True, final=True, pdu="") == (
        mid, "delivered")
    assert Part.get_by_id(pid).message_reference == 42
    # Another recipient's report does not claim it.
    assert Message.get_by_id(mid).state == "delivered"


def _ambiguous_message(db, recipient: str = "+8613912345678", at: datetime | None = None
                       ) -> tuple[int, int]:
    at = at or datetime.now(UTC)
    with db.atomic():
        [mid] = outbox.accept_messages([outbox.NewMessage(recipient=recipient, text="x")])
        outbox.claim_messages(ICCID, 1, at, candidate_ids=[mid])
        [pid] = outbox.add_parts(mid, ICCID, [outbox.NewPart(pdu="00", tpdu_length=1)])
        outbox.transition_part(pid, "sending", now=at)
        outbox.transition_part(pid, "ambiguous", now=at)
        outbox.transition_message(mid, "ambiguous", now=at)
    return mid, pid


def test_a_report_does_not_settle_an_ambiguous_part_older_than_the_window(db):
    mid, pid = _ambiguous_message(db, at=datetime.now(UTC) - timedelta(days=10))
    assert sims.apply_status_report(iccid=ICCID, message_reference=42, recipient="+8613912345678",
                                    status=0, delivered=True, final=True, pdu="") == (None, None)
    assert Message.get_by_id(mid).state == "ambiguous"
    assert Part.get_by_id(pid).message_reference is None


def test_a_report_settles_the_message_only_from_the_state_it_was_read_in(db):
    mid, pid = _ambiguous_message(db)
    message = Message.get_by_id(mid)
    # The message moves on (the operator resends it by hand, say) between the read and the
    # write: the report must not overwrite that.
    real_get = Message.get_by_id

    def get_then_change(pk):
        row = real_get(pk)
        Message.update(state="queued").where(Message.id == pk).execute()
        return row

    Message.get_by_id = get_then_change  # type: ignore[method-assign]
    try:
        result = sims.apply_status_report(iccid=ICCID, message_reference=42,
                                          recipient="+8613912345678", status=0, delivered=True,
                                          final=True, pdu="")
    finally:
        del Message.get_by_id
    assert result == (mid, None)
    assert real_get(mid).state == "queued" and message.state == "ambiguous"


def test_recipient_suffix_match():
    assert sims.same_recipient("13912345678", "+8613912345678")
    assert sims.same_recipient("+8613912345678", "13912345678")
    assert not sims.same_recipient("+8613900000009", "+8613912345678")
    assert not sims.same_recipient("", "+8613912345678")


def test_inbound_parts_carry_the_hash_their_duplicate_check_uses(db):
    import hashlib

    kwargs = dict(iccid=ICCID, sender="+8613900000001", text="hi", received_at=datetime.now(UTC),
                  concat_ref=None, concat_count=1, concat_index=1, smsc=None, pdu="0791AB")
    first = sims.store_inbound(**kwargs)
    assert InboundMessage.get_by_id(first).pdu_hash == hashlib.sha256(b"0791AB").hexdigest()
    assert sims.store_inbound(**kwargs) == first
    # The same PDU on another SIM is another message.
    assert sims.store_inbound(**{**kwargs, "iccid": "OTHER"}) != first
    indexes = {tuple(i.columns) for i in db.get_indexes("inbound_message")}
    assert ("sim", "pdu_hash") in indexes


def test_last_sims_by_recipient_reads_only_the_latest_messages_when_limited(db):
    for n in range(3):
        _sent_message(db, f"+861390000000{n}")
    latest = sims.last_sims_by_recipient(datetime.now(UTC) - timedelta(days=30), limit=2)
    assert list(latest) == ["+8613900000001", "+8613900000002"]  # oldest first


def _sent_through_the_send_path(instants: list[tuple[datetime, int]], tz=TZ) -> rates.SimCounters:
    counters = rates.SimCounters()
    for at, parts in instants:
        counters = rates.record_send(counters, at, tz, parts)
        sending.save_counters(ICCID, counters.to_dict(), tz)  # what the sender stores per part
    return counters


def test_sliding_windows_survive_a_restart_never_looser(db):
    t0 = datetime(2026, 5, 6, 2, 0, 5, tzinfo=UTC)
    sends = [(t0, 3), (t0 + timedelta(seconds=45), 2), (t0 + timedelta(minutes=30), 1),
             (t0 + timedelta(hours=20), 4)]
    live = _sent_through_the_send_path(sends)
    restarted = rates.SimCounters.from_dict(sims.load_counters(ICCID, TZ))
    limits = rates.RateLimits(per_minute=6, per_hour=6, per_day=12)
    for now in (t0 + timedelta(hours=20, seconds=10), t0 + timedelta(hours=20, minutes=1),
                t0 + timedelta(hours=24), t0 + timedelta(hours=24, seconds=55),
                t0 + timedelta(hours=26)):
        for window in ("minute", "hour", "day"):
            assert restarted.sent_within(window, now) >= live.sent_within(window, now)
        for parts in (1, 4):
            before = rates.caps_allow_at(live, limits, now, TZ, parts=parts)
            after = rates.caps_allow_at(restarted, limits, now, TZ, parts=parts)
            # Never earlier (a window would pass its cap), at most a minute later.
            assert before <= after < before + timedelta(minutes=1)
    assert restarted.rolled(t0 + timedelta(hours=20), TZ).count("hour") == 4  # calendar too
    # A day after the first sends, they are gone; the 02:30 one and the last 4 are counted.
    again = rates.SimCounters.from_dict(sims.load_counters(ICCID, TZ))
    assert again.sent_within("day", t0 + timedelta(hours=24, minutes=1)) == 5


def test_only_a_day_of_minute_rows_is_rebuilt(db):
    t0 = datetime(2026, 5, 6, 2, 0, 5, tzinfo=UTC)
    _sent_through_the_send_path([(t0, 1), (t0 + timedelta(hours=30), 2)])
    loaded = sims.load_counters(ICCID, TZ)
    assert [parts for _, parts in loaded["sends"]] == [2]
    assert sims.load_counters("OTHER", TZ) == {}


def test_the_repeated_hour_of_a_fall_back_is_rebuilt_as_the_later_one(db):
    ny = ZoneInfo("America/New_York")
    first = datetime(2026, 11, 1, 1, 30, 10, tzinfo=ny)  # EDT
    second = datetime(2026, 11, 1, 1, 50, 10, tzinfo=ny, fold=1)  # EST, an hour and 20 min on
    _sent_through_the_send_path([(first, 1), (second, 1)], ny)
    restarted = rates.SimCounters.from_dict(sims.load_counters(ICCID, ny))
    now = second.astimezone(UTC) + timedelta(minutes=5)
    # Both minute rows sit in the later hour: counted at least as long as they really are.
    assert restarted.sent_within("hour", now) == 2
    assert restarted.sent_within("day", now) == 2


def test_a_report_settling_an_ambiguous_message_records_when_it_left(db):
    # The report proves the network took the part: the message was sent, when its part may
    # have left. Without sent_at a delivered message showed `sent_at: null` on the API, was
    # left out of "sent today" and lost its sticky SIM (both read Message.sent_at).
    left = datetime.now(UTC) - timedelta(minutes=5)
    for delivered, state in ((True, "delivered"), (False, "failed")):
        recipient = "+861391234567" + ("8" if delivered else "9")
        mid, pid = _ambiguous_message(db, recipient=recipient, at=left)
        assert Message.get_by_id(mid).sent_at is None
        assert sims.apply_status_report(iccid=ICCID, message_reference=42, recipient=recipient,
                                        status=0 if delivered else 0x41, delivered=delivered,
                                        final=True, pdu="") == (mid, state)
        assert Message.get_by_id(mid).sent_at == Part.get_by_id(pid).sent_at
    assert sims.last_sims_by_recipient(left - timedelta(seconds=1))["+8613912345678"] == ICCID
