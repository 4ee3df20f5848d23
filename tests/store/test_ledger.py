"""The parts ledger on the send path: a part charged as it is sent (in the same transaction as
its +CMGS record), a message that finally fails refunded what it was charged, once; nothing
charged for a message cancelled before sending or for a submitter without a quota; reserved
parts; balances as sums of rows; the month in the dispatch time zone. Real SQLite files (and
PostgreSQL where it can run), no mocks."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import peewee
import pytest

from appliance.policy.quota import month_bounds
from appliance.store import ledger, queue, sending
from appliance.store.messages import (
    NewMessage,
    NewPart,
    accept_messages,
    add_parts,
    cancel_message,
    claim_messages,
    expire_due,
)
from appliance.store.models import Ledger
from appliance.store.sims import apply_status_report

pytest_plugins = ["tests.store.pg_server"]  # pg_db (skipped where PostgreSQL cannot run)

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
SIM = "89860000000000000001"
DEPT = "department:2"
USER = "user:7"
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> peewee.Database:
    return request.getfixturevalue("db" if request.param == "sqlite" else "pg_db")


def accepted(db: peewee.Database, parts: int, charge_to: tuple[str, ...] = (DEPT,)) -> int:
    with db.atomic():
        for account in charge_to:
            ledger.set_quota(account, 1000, None, NOW)
        (msg_id,) = accept_messages([NewMessage("+8613800000001", "hi", parts_count=parts,
                                                charge_to=charge_to)], now=NOW)
    return msg_id


def claimed(db: peewee.Database, msg_id: int, parts: int) -> list[int]:
    with db.atomic():
        assert [m.id for m in claim_messages(SIM, 1, NOW, candidate_ids=[msg_id])] == [msg_id]
        return add_parts(msg_id, SIM, [NewPart(pdu="00", tpdu_length=1, concat_ref=7)] * parts)


def send_parts(db: peewee.Database, part_ids: list[int], at: datetime = NOW) -> None:
    for n, pid in enumerate(part_ids):
        with db.atomic():
            sending.mark_part_sending(pid)
            sending.mark_part_sent(pid, 40 + n, at)


def rows(msg_id: int) -> list[tuple[str, int, str]]:
    return [(r.account, r.delta, r.kind) for r in
            Ledger.select().where(Ledger.message_id == msg_id).order_by(Ledger.id)]


@pytest.mark.parametrize(("parts", "sent", "outcome", "charged_after", "refunds"), [
    # parts, parts sent, how it ends, parts net charged, refund rows
    (3, 3, "sent", 3, 0),
    (3, 1, "failed", 0, 1),          # failed after one part left: that part comes back
    (3, 3, "report failed", 0, 1),   # the network gave up (status report): refunded
    (1, 0, "cancelled", 0, 0),       # cancelled before sending: never charged
    (2, 0, "failed", 0, 0),          # failed before any part left: nothing to refund
])
def test_charge_and_refund_from_a_table(db: peewee.Database, parts: int, sent: int,
                                        outcome: str, charged_after: int, refunds: int):
    msg_id = accepted(db, parts)
    if outcome == "cancelled":
        with db.atomic():
            cancel_message(msg_id, "cancelled by the submitter", now=NOW)
    else:
        part_ids = claimed(db, msg_id, parts)
        send_parts(db, part_ids[:sent])
        assert ledger.charged_parts(msg_id) == sent  # charged as each part left
        with db.atomic():
            if outcome == "sent":
                sending.mark_message_sent(msg_id, "sent", SIM, NOW)
            elif outcome == "failed":
                queue.fail_message(msg_id, "+CMS ERROR: 21", SIM, now=NOW)
            else:
                sending.mark_message_sent(msg_id, "sent", SIM, NOW)
                apply_status_report(iccid=SIM, message_reference=40, recipient="+8613800000001",
                                    status=0x41, delivered=False, final=True, pdu="", now=NOW)
    assert ledger.charged_parts(msg_id) == charged_after
    assert sum(1 for _, _, kind in rows(msg_id) if kind == "refund") == refunds
    if outcome != "sent":
        with db.atomic():  # a second failure report, or a retry of the refund: nothing more
            assert ledger.refund_message(msg_id, NOW) == 0
        assert ledger.charged_parts(msg_id) == charged_after


def test_a_three_part_message_sent_costs_three_parts_of_every_account(db: peewee.Database):
    msg_id = accepted(db, 3, charge_to=(USER, DEPT))
    with db.atomic():
        ledger.append(DEPT, 10, "topup", "test")
    send_parts(db, claimed(db, msg_id, 3))
    assert sorted(rows(msg_id)) == [(DEPT, -1, "charge")] * 3 + [(USER, -1, "charge")] * 3
    assert ledger.balance(DEPT) == 7
    assert ledger.balance(USER) == -3  # not prepaid: it only counts against the month


def test_a_failure_after_one_part_refunds_that_part_once(db: peewee.Database):
    msg_id = accepted(db, 3)
    part_ids = claimed(db, msg_id, 3)
    send_parts(db, part_ids[:1])
    with db.atomic():
        queue.fail_message(msg_id, "+CMS ERROR: 21", SIM, now=NOW)
    assert rows(msg_id) == [(DEPT, -1, "charge"), (DEPT, 1, "refund")]
    start, end = month_bounds(NOW, SHANGHAI)
    assert ledger.used(DEPT, start, end) == 0


def test_a_message_expired_after_its_first_part_left_gets_that_part_back(db: peewee.Database):
    with db.atomic():
        ledger.set_quota(DEPT, 100, None, NOW)
        (msg_id,) = accept_messages([NewMessage("+8613800000001", "hi", parts_count=2,
                                                charge_to=(DEPT,),
                                                expires_at=NOW + timedelta(hours=1))], now=NOW)
    part_ids = claimed(db, msg_id, 2)
    send_parts(db, part_ids[:1])
    with db.atomic():  # its SIM went away: back in the queue, pinned, until it expires
        queue.requeue_unsent([msg_id], "SIM lost", resend_ambiguous=False)
        assert expire_due(NOW + timedelta(hours=2)) == [msg_id]
    assert rows(msg_id) == [(DEPT, -1, "charge"), (DEPT, 1, "refund")]


def test_a_submitter_without_a_quota_is_never_charged(db: peewee.Database):
    msg_id = accepted(db, 2, charge_to=())
    send_parts(db, claimed(db, msg_id, 2))
    assert rows(msg_id) == []


def test_parts_not_yet_sent_are_reserved_until_charged(db: peewee.Database):
    msg_id = accepted(db, 3)
    assert ledger.reserved(DEPT) == 3
    part_ids = claimed(db, msg_id, 3)
    send_parts(db, part_ids[:1])
    assert ledger.reserved(DEPT) == 2
    send_parts(db, part_ids[1:])
    with db.atomic():
        sending.mark_message_sent(msg_id, "sent", SIM, NOW)
    assert ledger.reserved(DEPT) == 0
    cancelled = accepted(db, 2)
    assert ledger.reserved(DEPT) == 2
    with db.atomic():
        cancel_message(cancelled, now=NOW)
    assert ledger.reserved(DEPT) == 0


def test_the_balance_is_the_sum_of_the_ledger_rows(db: peewee.Database):
    with db.atomic():
        ledger.append(DEPT, 50, "topup", "admin", note="first")
        ledger.append(DEPT, -4, "adjust", "admin", note="a correction")
    msg_id = accepted(db, 2)
    part_ids = claimed(db, msg_id, 2)
    send_parts(db, part_ids)
    with db.atomic():
        queue.fail_message(msg_id, "gave up", SIM, now=NOW)
    listed = ledger.entries(DEPT, limit=100)
    assert [r["kind"] for r in listed] == ["refund", "charge", "charge", "adjust", "topup"]
    assert ledger.balance(DEPT) == sum(r["delta"] for r in listed) == 46
    start, end = month_bounds(NOW, SHANGHAI)
    assert ledger.figures(DEPT, start, end).balance == 46


@pytest.mark.parametrize(("kind", "delta", "field"), [
    ("charge", -1, "kind"), ("refund", 1, "kind"), ("topup", -5, "parts"), ("topup", 0, "parts"),
    ("adjust", True, "parts"), ("adjust", 10_000_001, "parts"),
])
def test_manual_rows_are_topups_and_adjustments_only(db: peewee.Database, kind: str,
                                                     delta: int, field: str):
    with pytest.raises(ledger.LedgerInvalid) as err, db.atomic():
        ledger.append(DEPT, delta, kind, "admin")
    assert err.value.field == field
    assert ledger.balance(DEPT) == 0


@pytest.mark.parametrize(("now", "start", "end"), [
    # Asia/Shanghai is UTC+8: its month starts at 16:00 UTC on the previous day.
    (datetime(2026, 11, 30, 15, 59, tzinfo=UTC), datetime(2026, 10, 31, 16, 0, tzinfo=UTC),
     datetime(2026, 11, 30, 16, 0, tzinfo=UTC)),
    (datetime(2026, 11, 30, 16, 0, tzinfo=UTC), datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
     datetime(2026, 12, 31, 16, 0, tzinfo=UTC)),
    (datetime(2026, 12, 31, 17, 0, tzinfo=UTC), datetime(2026, 12, 31, 16, 0, tzinfo=UTC),
     datetime(2027, 1, 31, 16, 0, tzinfo=UTC)),
])
def test_the_month_is_the_dispatch_time_zones(now: datetime, start: datetime, end: datetime):
    got = month_bounds(now, SHANGHAI)
    assert (got[0].astimezone(UTC), got[1].astimezone(UTC)) == (start, end)


def test_a_part_sent_before_local_midnight_counts_in_the_month_before(db: peewee.Database):
    before = datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)  # 23:59:59 on 30 Nov in Shanghai
    after = before + timedelta(seconds=2)  # 00:00:01 on 1 Dec in Shanghai
    first, second = accepted(db, 1), accepted(db, 2)
    send_parts(db, claimed(db, first, 1), at=before)
    send_parts(db, claimed(db, second, 2), at=after)
    november, december = month_bounds(before, SHANGHAI), month_bounds(after, SHANGHAI)
    assert ledger.used(DEPT, *november) == 1
    assert ledger.used(DEPT, *december) == 2


@pytest.mark.parametrize(("monthly", "prepaid", "balance", "used", "reserved", "left"), [
    (None, False, 0, 5, 5, None),   # no bound at all
    (10, False, 0, 3, 2, 5),        # the month: 10 - 3 sent - 2 waiting
    (10, False, 0, 9, 4, 0),        # never below zero
    (None, True, 8, 0, 3, 5),       # prepaid: 8 - 3 waiting
    (100, True, 8, 50, 3, 5),       # both: the tighter
    (4, True, 100, 1, 0, 3),
])
def test_what_is_left_of_an_account(monthly: int | None, prepaid: bool, balance: int,
                                    used: int, reserved: int, left: int | None):
    fig = ledger.Figures("department:1", monthly, prepaid, used, reserved, balance)
    assert fig.left() == left


@pytest.mark.parametrize("text", ["dept:1", "user:", "user:0", "user:-3", "user:1.5", 7,
                                  "user:١", None])
def test_account_names_are_checked(text: object):
    with pytest.raises(ledger.LedgerInvalid):
        ledger.parse_account(text)
