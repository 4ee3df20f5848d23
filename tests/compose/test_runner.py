"""The recurring-send runner against a real store: fires once per occurrence, never twice
(two runners at once, or a second round), skips an old miss, leaves a paused schedule."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from appliance.compose.recurrence import MISSED_GRACE
from appliance.compose.runner import ScheduleRunner
from appliance.store import compose as compose_store
from appliance.store import contacts as contacts_store

NOW = datetime(2026, 12, 2, 1, 0, 5, tzinfo=UTC)  # 09:00:05 in Shanghai
DUE = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


@dataclass
class Config:
    default_ttl: float = 86400.0
    max_recipients: int = 10_000


class Dispatcher:
    """What intake asks of a dispatcher; records the rows instead of sending them."""

    def __init__(self):
        self.config = Config()
        self.policy = None
        self.recipient_block = None
        self.rows = []

    def now(self):
        return NOW

    async def submit(self, rows):
        start = len(self.rows)
        self.rows += rows
        return list(range(start + 1, start + 1 + len(rows)))


async def make(store, spec, next_at=DUE, state="active"):
    sid = await store.write(lambda: compose_store.create_schedule(
        "周会提醒", "daily", "0 9 * * *", "Asia/Shanghai", spec, next_at, created_by="li",
        user_id=None, role="operator", now=NOW - timedelta(days=3)))
    if state != "active":
        await store.write(lambda: compose_store.set_schedule_state(sid, state))
    return sid


async def test_fires_once_to_a_group_with_merge(store):
    def book():
        g = contacts_store.create_group("销售部")
        a = contacts_store.create_contact("张三", ["+8613800138000"])
        b = contacts_store.create_contact("李四", ["+8613900139000"])
        contacts_store.add_contacts_to_group(g["id"], [a["id"], b["id"]])
        return g["id"]

    group = await store.write(book)
    sid = await make(store, {"text": "{name}：九点开周会", "group_ids": [group],
                             "numbers": ["13700137000"], "category": "notice"})
    d1, d2 = Dispatcher(), Dispatcher()
    r1 = ScheduleRunner(store, d1, clock=lambda: NOW)
    r2 = ScheduleRunner(store, d2, clock=lambda: NOW)
    fired = await asyncio.gather(r1.run_due(), r2.run_due())
    assert sorted(fired) == [0, 1]  # one runner fired it, the other found it claimed
    rows = d1.rows + d2.rows
    assert sorted(r.text for r in rows) == ["张三：九点开周会", "李四：九点开周会"]
    assert len({r.campaign_id for r in rows}) == 1 and rows[0].campaign_id
    assert await r1.run_due() == 0  # moved on to tomorrow
    s = await store.read(lambda: compose_store.get_schedule(sid))
    assert s["next_at"] == DUE + timedelta(days=1) and s["fired"] == 1
    # 13700137000 has no name: reported, not sent "{name}：..."
    assert s["last_result"].startswith("sent: 2 message(s) campaign") and "1 left out" in \
        s["last_result"]


async def test_an_old_miss_is_skipped_and_said(store):
    # Off from yesterday 08:00 to today 09:00 + grace + 1 h: today's 09:00 is too old too.
    sid = await make(store, {"text": "hi", "numbers": ["13800138000"]},
                     next_at=DUE - timedelta(days=1))
    later = DUE + MISSED_GRACE + timedelta(hours=1)
    d = Dispatcher()
    assert await ScheduleRunner(store, d, clock=lambda: later).run_due() == 0
    s = await store.read(lambda: compose_store.get_schedule(sid))
    assert not d.rows and s["last_result"].startswith("skipped")
    assert s["next_at"] == DUE + timedelta(days=1)


async def test_paused_is_left_alone(store):
    await make(store, {"text": "hi", "numbers": ["13800138000"]}, state="paused")
    d = Dispatcher()
    assert await ScheduleRunner(store, d, clock=lambda: NOW).run_due() == 0
    assert not d.rows


async def test_single_recipient_is_no_campaign_and_refusal_recorded(store):
    sid = await make(store, {"text": "hi", "numbers": ["13800138000"]})
    d = Dispatcher()
    await ScheduleRunner(store, d, clock=lambda: NOW).run_due()
    assert [r.campaign_id for r in d.rows] == [None]
    bad = await make(store, {"text": "", "numbers": ["13800138000"]})
    await ScheduleRunner(store, d, clock=lambda: NOW).run_due()
    s = await store.read(lambda: compose_store.get_schedule(bad))
    assert s["last_result"].startswith("refused") and s["fired"] == 1
    assert (await store.read(lambda: compose_store.get_schedule(sid)))["fired"] == 1
