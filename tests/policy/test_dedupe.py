"""Dedupe over a real SQLite outbox: the window across a working-day boundary (tables), what
counts as sent, duplicates inside one request, skip_dedupe, and the index it reads."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import zoneinfo
from datetime import date, datetime
from pathlib import Path

import pytest

from appliance.dispatch.intake import PolicyRefused, SendRequest, check_request
from appliance.policy.dedupe import Dedupe, content_hash, normalise
from appliance.policy.layer import Draft
from appliance.policy.origin import Origin
from appliance.policy.workdays import WorkCalendar
from appliance.store.db import open_database
from appliance.store.messages import accept_messages
from appliance.store.migrations import migrate
from appliance.store.models import Message
from appliance.store.writer import Store

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
CALENDAR = WorkCalendar(holidays=frozenset({date(2026, 12, 9)}),
                        working_weekend_days=frozenset({date(2026, 12, 19)}))
TEXT = "【市局】明天9点开会"
A, B, C = "+8613800138000", "+8613900139000", "+8618600186000"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SH)


def draft(to: list[str], now: datetime, text: str = TEXT, **kw) -> Draft:
    request = SendRequest(to=to, text=text, **kw)
    valid = check_request(request, now, 86400.0)
    return Draft(request=request, rows=valid.rows, count=valid.count, now=now)


async def accept(store: Store, dedupe: Dedupe, to: list[str], now: datetime,
                 text: str = TEXT, **kw) -> tuple[Draft, list[int]]:
    """What intake does: admit, store (created_at = now), tell the check."""
    d = draft(to, now, text, **kw)
    await dedupe.admit(d)
    ids = await store.write(lambda: accept_messages(d.rows, now)) if d.rows else []
    await dedupe.accepted(d, ids)
    return d, ids


@pytest.fixture(autouse=True, params=["record", "read"])
def _with_record(request, monkeypatch):
    """Every test twice: with the in-memory record of recent pairs (as the appliance runs on
    SQLite) and reading the outbox for every row (a shared PostgreSQL outbox)."""
    monkeypatch.setattr(sys.modules[__name__], "RECORD", request.param == "record")


RECORD = True


def check(store: Store, **kw) -> Dedupe:
    dedupe = Dedupe(store, enabled=True, tz=SH, calendar=CALENDAR, exclusive=RECORD, **kw)
    if RECORD:  # what `load` finds in the tests' empty outbox: nothing, seeded
        dedupe._seeded = True
    return dedupe


def counting_reads(dedupe: Dedupe) -> list[int]:
    """Recipients the check asked the outbox about, per read."""
    asked: list[int] = []
    look_up = dedupe._look_up

    async def counted(lookups):
        asked.append(sum(len(recipients) for _, recipients, _, _ in lookups))
        return await look_up(lookups)

    dedupe._look_up = counted
    return asked


async def restarted(store: Store, now: datetime, **kw) -> Dedupe:
    """A new check over the same outbox, seeded as the appliance seeds it at start."""
    dedupe = Dedupe(store, enabled=True, tz=SH, calendar=CALENDAR, exclusive=True, **kw)
    await dedupe.load(now)
    return dedupe


@pytest.mark.parametrize(("sent", "again", "duplicate"), [
    (at(11, 16), at(14, 15, 59), True),   # Friday 16:00, restart, Monday 15:59
    (at(11, 16), at(14, 16, 0), False),
    (at(8, 10), at(10, 9, 59), True),     # over the Wednesday holiday
])
async def test_the_record_is_seeded_at_start_across_the_window(store, sent, again, duplicate):
    _, (first,) = await accept(store, check(store), [A], sent)
    dedupe = await restarted(store, again)
    asked = counting_reads(dedupe)
    d, _ = await accept(store, dedupe, [A, B], again)
    assert bool(d.rejected) is duplicate
    if duplicate:
        assert d.rejected == [(A, f"duplicate of message {first} accepted at "
                                  f"{sent.isoformat()}")]
    assert asked == [1]  # A, in the seed, is read; B cannot have a copy and is not


async def test_the_record_reads_only_pairs_that_may_have_a_copy(store):
    dedupe = await restarted(store, at(7, 9))
    asked = counting_reads(dedupe)
    await accept(store, dedupe, [A, B], at(7, 10))
    assert asked == []  # nothing sent lately: no read at all
    d, _ = await accept(store, dedupe, [A, C], at(7, 11))
    assert asked == [1] and [r.recipient for r in d.rows] == [C]
    await store.write(lambda: Message.update(state="cancelled")
                      .where(Message.recipient == A).execute())
    d, _ = await accept(store, dedupe, [A], at(7, 12))  # a cancelled copy is no copy
    assert asked == [1, 1] and [r.recipient for r in d.rows] == [A]
    # Lifted dedupe still leaves a copy for the next send to find.
    await accept(store, dedupe, [C, B], at(7, 13), text="告警", category="alert",
                 skip_dedupe=True)
    d, _ = await accept(store, dedupe, [C], at(7, 14), text="告警")
    assert d.rows == [] and d.rejected[0][1].startswith("duplicate of message ")


async def test_the_record_forgets_pairs_past_the_window(store):
    dedupe = await restarted(store, at(7, 9), window_hours=2.0)
    await accept(store, dedupe, [A], at(7, 10))
    await accept(store, dedupe, [B], at(10, 10))  # three days on: the prune runs
    assert len(dedupe._recent) == 1
    asked = counting_reads(dedupe)
    d, _ = await accept(store, dedupe, [A], at(10, 11))
    assert asked == [] and d.rejected == []


async def test_a_seed_too_large_to_hold_reads_every_send(store, monkeypatch):
    import appliance.policy.dedupe as dedupe_module

    await accept(store, check(store), [A, B, C], at(7, 10))
    monkeypatch.setattr(dedupe_module, "RECENT_MAX", 2)
    dedupe = await restarted(store, at(7, 11))
    asked = counting_reads(dedupe)
    d, _ = await accept(store, dedupe, ["+8613800138001"], at(7, 12))
    assert asked == [1] and d.rejected == []
    assert (await accept(store, dedupe, [B], at(7, 12)))[0].rejected


async def test_a_shared_outbox_is_read_for_every_send(store):
    dedupe = Dedupe(store, enabled=True, tz=SH, calendar=CALENDAR, exclusive=False)
    await dedupe.load(at(7, 9))
    asked = counting_reads(dedupe)
    await accept(store, dedupe, [A], at(7, 10))
    assert asked == [1]


@pytest.mark.parametrize(("sent", "again", "duplicate"), [
    (at(11, 16), at(14, 15, 59), True),   # Friday 16:00, Monday 15:59: within one working day
    (at(11, 16), at(14, 16, 0), False),   # Monday 16:00: the window starts at Friday 16:00...
    (at(11, 15, 59), at(14, 16), False),  # ...so Friday 15:59 is outside it
    (at(8, 10), at(10, 9, 59), True),     # Tuesday, then Thursday after the Wednesday holiday
    (at(8, 10), at(10, 10, 1), False),
    (at(18, 10), at(21, 9), False),       # Friday, then Monday after the 调休 Saturday
    (at(19, 10), at(21, 9), True),        # the 调休 Saturday counts as a working day
    (at(12, 10), at(14, 9), True),        # sent on Saturday: still within Monday's window
])
async def test_the_working_day_window(store, sent, again, duplicate):
    dedupe = check(store)
    _, (first,) = await accept(store, dedupe, [A], sent)
    d, _ = await accept(store, dedupe, [A, B], again)
    if duplicate:
        assert [r.recipient for r in d.rows] == [B]
        assert d.rejected == [(A, f"duplicate of message {first} accepted at "
                                  f"{sent.isoformat()}")]
    else:
        assert [r.recipient for r in d.rows] == [A, B] and d.rejected == []


async def test_a_window_in_hours(store):
    dedupe = check(store, window_hours=2.0)
    await accept(store, dedupe, [A], at(11, 10))
    assert (await accept(store, dedupe, [A], at(11, 11, 59)))[0].rejected
    assert not (await accept(store, dedupe, [A], at(11, 12, 1)))[0].rejected


@pytest.mark.parametrize(("state", "counts"), [
    ("queued", True), ("held", True), ("sending", True), ("sent", True), ("delivered", True),
    ("ambiguous", True), ("failed", False), ("cancelled", False), ("expired", False),
])
async def test_what_counts_as_sent(store, state, counts):
    dedupe = check(store)
    _, (first,) = await accept(store, dedupe, [A], at(7, 10))
    await store.write(lambda: Message.update(state=state).where(Message.id == first).execute())
    d, _ = await accept(store, dedupe, [A], at(7, 11))
    assert bool(d.rejected) is counts


async def test_same_text_after_normalising_is_a_duplicate_and_other_text_is_not(store):
    dedupe = check(store)
    await accept(store, dedupe, [A], at(7, 10), text="会议 改到  三点 ")
    assert (await accept(store, dedupe, [A], at(7, 11), text=" 会议 改到 三点"))[0].rejected
    assert not (await accept(store, dedupe, [A], at(7, 11), text="会议改到四点"))[0].rejected
    assert normalise("a\u0301  b\n") == "\u00e1 b"  # NFC, white space runs folded


async def test_an_invisible_character_does_not_make_the_same_text_new(store):
    dedupe = check(store)
    await accept(store, dedupe, [A], at(7, 10), text="会议改到三点")
    for text in ("会议\u200b改到三点", "\ufeff会议改到三点", "会议改\u00ad到三点\u2060"):
        assert (await accept(store, dedupe, [A], at(7, 11), text=text))[0].rejected, text


async def test_the_same_number_twice_in_one_request(store):
    d, _ = await accept(store, check(store), [A, "13800138000", B], at(7, 10))
    assert [r.recipient for r in d.rows] == [A, B]
    assert d.rejected == [(A, "duplicate of an earlier recipient of this request")]


async def test_every_row_gets_the_content_hash_even_when_dedupe_is_lifted(store):
    dedupe = check(store)
    await accept(store, dedupe, [A], at(7, 10), category="alert")
    d, ids = await accept(store, dedupe, [A, A], at(7, 11), category="alert", skip_dedupe=True)
    assert len(ids) == 2 and d.rejected == []
    hashes = await store.read(lambda: [m.content_hash for m in Message.select()])
    assert hashes == [content_hash(TEXT)] * 3
    off = Dedupe(store, enabled=False, tz=SH)
    d, _ = await accept(store, off, [A], at(7, 12))
    assert d.rejected == [] and d.rows[0].content_hash == content_hash(TEXT)


@pytest.mark.parametrize(("category", "privileged", "role", "allowed"), [
    ("alert", False, None, True), ("otp", False, None, True),
    ("notice", True, None, True), ("marketing", False, "admin", True),
    ("notice", False, None, False), ("marketing", False, "operator", False),
])
def test_who_may_lift_dedupe(store, category, privileged, role, allowed):
    request = SendRequest(to=[A], text=TEXT, category=category, privileged=privileged,
                          origin=Origin(door="api", role=role), skip_dedupe=True)
    if allowed:
        assert check(store).prepare(request) is request
    else:
        with pytest.raises(PolicyRefused) as refused:
            check(store).prepare(request)
        assert (refused.value.code, refused.value.field, refused.value.status) == (
            "skip_dedupe_not_allowed", "skip_dedupe", 403)


async def test_answers_from_rules_are_not_deduplicated(store):
    dedupe = check(store)
    rules = Origin(door="rules")
    await accept(store, dedupe, [A], at(7, 10), origin=rules)
    assert not (await accept(store, dedupe, [A], at(7, 11), origin=rules))[0].rejected


async def test_two_identical_requests_at_once_send_once(store):
    dedupe = check(store)

    async def submit() -> Draft:
        d = draft([A], at(7, 10))
        await dedupe.admit(d)
        await asyncio.sleep(0.05)  # the store's commit takes a while: both are in flight
        ids = await store.write(lambda: accept_messages(d.rows, at(7, 10))) if d.rows else []
        await dedupe.accepted(d, ids)
        return d

    first, second = await asyncio.gather(submit(), submit())
    assert [len(first.rows), len(second.rows)] == [1, 0]
    assert second.rejected[0][1].startswith("duplicate of message ")


async def test_a_draft_not_stored_releases_its_recipients_at_once(store):
    dedupe = check(store)
    d = draft([A], at(7, 10))
    await dedupe.admit(d)
    dedupe.abandoned(d)  # a later rule refused it
    loop = asyncio.get_running_loop()
    started = loop.time()
    again, _ = await accept(store, dedupe, [A], at(7, 10))
    assert again.rejected == [] and loop.time() - started < 0.5


def test_the_lookup_is_an_index_search(tmp_path: Path):
    db = open_database(f"sqlite:///{tmp_path / 'cg.db'}")
    migrate(db)
    from appliance.store.dedupe import copies_since

    with db.atomic():
        accept_messages([dataclasses.replace(r, content_hash=content_hash(TEXT))
                         for r in draft([A, B, C], at(7, 10)).rows], at(7, 10))
    assert set(copies_since(content_hash(TEXT), [A, C], at(7, 9))) == {A, C}
    sql, params = (Message.select(Message.id).where(
        (Message.content_hash == 1) & Message.recipient.in_([A, B])
        & (Message.created_at >= at(7, 9))).sql())
    plan = " ".join(str(row) for row in db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "message_content_hash_recipient_created_at" in plan, plan
    db.close()
