"""The console's history and replies store: filters, keyset paging (no gap, no duplicate, in
both directions), date ranges as id ranges, and the reply threads' unread marks."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import peewee
import pytest

from appliance.store import history as h
from appliance.store.models import (
    Campaign,
    Contact,
    ContactNumber,
    InboxMessage,
    Message,
    ReplyThread,
    Sim,
    User,
)

T0 = datetime(2026, 9, 1, tzinfo=UTC)
SIMS = ("89860000000000000001", "89860000000000000002", "89860000000000000003")
STATES = ("delivered", "failed", "queued", "sent")
NUMBERS = tuple(f"+861380000{i:04d}" for i in range(12))


def add_outbound(n: int, *, seed: int = 3, start: datetime = T0,
                 step: timedelta = timedelta(minutes=7)) -> list[dict]:
    """`n` messages, one every `step`, with a mix of every filtered column; returns them."""
    rnd = random.Random(seed)
    users = [User.create(name=f"u{i}", role="operator", password_hash="!").id for i in range(3)]
    campaigns = [Campaign.create(name=f"c{i}").id for i in range(3)]
    for iccid in SIMS:
        Sim.get_or_create(iccid=iccid, defaults={"label": f"card {iccid[-1]}"})
    rows = []
    for i in range(n):
        at = start + step * i
        rows.append({"recipient": rnd.choice(NUMBERS), "text": f"msg {i}",
                     "state": rnd.choice(STATES), "sim": rnd.choice(SIMS),
                     "user_id": rnd.choice([*users, None]),
                     "campaign": rnd.choice([*campaigns, None]),
                     "created_at": at, "updated_at": at})
    Message.insert_many(rows).execute()
    for row, m in zip(rows, Message.select().order_by(Message.id), strict=True):
        row["id"] = m.id
    return rows


def add_inbound(number: str, text: str, sim: str = SIMS[0], at: datetime = T0) -> int:
    return InboxMessage.create(sim=sim, sender=number, number=number, text=text, smsc_at=at,
                               received_at=at).id


def walk_older(f, limit: int, page=h.outbound_page) -> list[list[int]]:
    pages, before = [], None
    while True:
        p = page(f, before=before, limit=limit)
        pages.append([r["id"] for r in p.rows])
        if p.older is None:
            return pages
        before = p.older


def test_pages_walked_back_and_forth_cover_every_row_once(db: peewee.Database):
    rows = add_outbound(203)
    expected = sorted((r["id"] for r in rows), reverse=True)
    pages = walk_older(h.OutboundFilter(), 20)
    assert [i for p in pages for i in p] == expected
    assert [len(p) for p in pages] == [20] * 10 + [3]
    # From the last page back to the first through `newer`: the same pages.
    back, after = [], None
    last = h.outbound_page(h.OutboundFilter(), before=pages[-2][-1], limit=20)
    back.append([r["id"] for r in last.rows])
    after = last.newer
    while after is not None:
        p = h.outbound_page(h.OutboundFilter(), after=after, limit=20)
        back.append([r["id"] for r in p.rows])
        after = p.newer
    assert back[::-1] == pages
    first = h.outbound_page(h.OutboundFilter(), limit=20)
    assert first.newer is None and first.older == pages[0][-1]


@pytest.mark.parametrize("f,keep", [
    (h.OutboundFilter(state="failed"), lambda r: r["state"] == "failed"),
    (h.OutboundFilter(sim=SIMS[1]), lambda r: r["sim"] == SIMS[1]),
    (h.OutboundFilter(numbers=frozenset(NUMBERS[:2])), lambda r: r["recipient"] in NUMBERS[:2]),
    (h.OutboundFilter(numbers=frozenset()), lambda r: False),
    (h.OutboundFilter(state="delivered", sim=SIMS[0]),
     lambda r: r["state"] == "delivered" and r["sim"] == SIMS[0]),
    (h.OutboundFilter(numbers=frozenset(NUMBERS[3:4]), state="sent", sim=SIMS[2]),
     lambda r: r["recipient"] == NUMBERS[3] and r["state"] == "sent" and r["sim"] == SIMS[2]),
])
def test_each_filter_pages_exactly_its_rows(db: peewee.Database, f, keep):
    rows = add_outbound(150)
    expected = sorted((r["id"] for r in rows if keep(r)), reverse=True)
    assert [i for p in walk_older(f, 7) for i in p] == expected


def test_user_and_campaign_filters_also_with_the_others(db: peewee.Database):
    rows = add_outbound(150)
    user = next(r["user_id"] for r in rows if r["user_id"])
    campaign = next(r["campaign"] for r in rows if r["campaign"])
    for f, keep in [
        (h.OutboundFilter(user_id=user), lambda r: r["user_id"] == user),
        (h.OutboundFilter(campaign_id=campaign), lambda r: r["campaign"] == campaign),
        (h.OutboundFilter(campaign_id=campaign, user_id=user, state="failed"),
         lambda r: (r["campaign"], r["user_id"], r["state"]) == (campaign, user, "failed")),
    ]:
        expected = sorted((r["id"] for r in rows if keep(r)), reverse=True)
        assert expected, f
        assert [i for p in walk_older(f, 5) for i in p] == expected


def test_a_date_range_lists_exactly_the_rows_stamped_inside_it(db: peewee.Database):
    rows = add_outbound(300)
    Message.delete().where(Message.id.in_([r["id"] for r in rows if r["id"] % 5 == 0])).execute()
    rows = [r for r in rows if r["id"] % 5]
    since, until = T0 + timedelta(hours=5, minutes=3), T0 + timedelta(hours=20)
    expected = sorted((r["id"] for r in rows if since <= r["created_at"] < until), reverse=True)
    f = h.OutboundFilter(since=since, until=until)
    assert [i for p in walk_older(f, 9) for i in p] == expected
    f = h.OutboundFilter(since=since, until=until, state="failed")
    assert [i for p in walk_older(f, 4) for i in p] == [
        i for i in expected if next(r for r in rows if r["id"] == i)["state"] == "failed"]
    # Outside the stored times: nothing, and open ends.
    assert h.outbound_page(h.OutboundFilter(since=T0 + timedelta(days=30))).rows == []
    assert h.outbound_page(h.OutboundFilter(until=T0)).rows == []
    assert len(h.outbound_page(h.OutboundFilter(until=T0 + timedelta(minutes=8))).rows) == 2


def test_first_id_at_or_after_finds_the_boundary_over_gaps(db: peewee.Database):
    rows = add_outbound(100, step=timedelta(minutes=1))
    Message.delete().where(Message.id.between(40, 60)).execute()
    for minute in (0, 10, 39, 40, 45, 61, 62, 99):
        when = T0 + timedelta(minutes=minute)
        expected = min((r["id"] for r in rows
                        if r["created_at"] >= when and not 40 <= r["id"] <= 60), default=None)
        assert h.first_id_at_or_after(Message, Message.created_at, when) == expected, minute
    assert h.first_id_at_or_after(Message, Message.created_at, T0 + timedelta(days=1)) is None


def test_page_rows_name_the_contact_user_campaign_and_sim(db: peewee.Database):
    rows = add_outbound(30)
    contact = Contact.create(name="王小明")
    ContactNumber.create(contact=contact, number=rows[-1]["recipient"])
    top = h.outbound_page(h.OutboundFilter(), limit=1).rows[0]
    assert top["id"] == rows[-1]["id"] and top["contact"] == "王小明"
    assert top["sim_label"] == f"card {rows[-1]['sim'][-1]}"
    assert h.numbers_of_contacts_named("小明") == frozenset({rows[-1]["recipient"]})
    assert h.numbers_of_contacts_named("nobody") == frozenset()


def test_inbound_filters_and_paging(db: peewee.Database):
    ids = [add_inbound(NUMBERS[i % 3], f"r{i}", SIMS[i % 2], T0 + timedelta(minutes=i))
           for i in range(40)]
    assert [i for p in walk_older(h.InboundFilter(), 6, h.inbound_page) for i in p] == ids[::-1]
    f = h.InboundFilter(numbers=frozenset({NUMBERS[1]}), sim=SIMS[1],
                        since=T0 + timedelta(minutes=5), until=T0 + timedelta(minutes=30))
    expected = [ids[i] for i in range(5, 30) if i % 3 == 1 and i % 2 == 1][::-1]
    assert [i for p in walk_older(f, 2, h.inbound_page) for i in p] == expected


def test_threads_follow_inbound_messages_with_unread_counts(db: peewee.Database):
    a, b = NUMBERS[0], NUMBERS[1]
    add_inbound(a, "one", at=T0)
    add_inbound(b, "two", SIMS[1], at=T0 + timedelta(minutes=1))
    last_a = add_inbound(a, "three", SIMS[2], at=T0 + timedelta(minutes=2))
    page = h.reply_threads()
    assert [(r["number"], r["unread"], r["text"]) for r in page.rows] == [
        (a, 2, "three"), (b, 1, "two")]
    assert h.unread_threads() == 2 and h.has_unread([a])
    assert h.last_inbound_sim([a]) == SIMS[2] and h.last_inbound_sim([b]) == SIMS[1]
    assert h.mark_read([a]) == 1 and h.mark_read([a]) == 0
    assert [r["unread"] for r in h.reply_threads().rows] == [0, 1]
    assert ReplyThread.get_by_id(a).read_upto_id == last_a
    add_inbound(a, "four", at=T0 + timedelta(minutes=3))
    assert [(r["number"], r["unread"]) for r in h.reply_threads().rows] == [(a, 1), (b, 1)]
    one = h.reply_threads(limit=1)
    assert [r["number"] for r in one.rows] == [a]
    assert [r["number"] for r in h.reply_threads(before=one.older, limit=1).rows] == [b]
