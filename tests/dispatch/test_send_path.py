"""The send path at full speed: one commit between a modem's answer and its next PDU, and the
durability rules still hold at every PDU (its part `sending` on disk, no other part of that
SIM `sending`, the message before it settled in the same commit)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from typing import Any

from appliance.modem.contract import PartNotSent
from tests.dispatch.conftest import new, numbers

LONG = "This is a long notice. " * 12  # 276 GSM-7 characters: 2 parts


class CheckingSender:
    """Wraps a SIM's sender: at each PDU, reads what is committed (a connection of its own
    sees only committed rows) before the PDU goes to the modem."""

    def __init__(self, inner: Any, iccid: str, db_file: str, seen: list):
        self.inner, self.iccid, self.seen = inner, iccid, seen
        self.raw = sqlite3.connect(db_file)

    @property
    def ready(self) -> bool:
        return self.inner.ready

    def _sending(self) -> list:
        return self.raw.execute(
            "SELECT p.pdu, p.message_id, "
            " (SELECT COUNT(*) FROM part q WHERE q.message_id = p.message_id"
            "  AND q.state IN ('pending', 'sending')) FROM part p"
            " WHERE p.sim = ? AND p.state = 'sending'", (self.iccid,)).fetchall()

    async def send_part(self, pdu: str, tpdu_length: int, *, before_pdu, **options) -> int:
        # Before the prompt is open, the part is not marked yet: a crash here leaves it
        # pending (never sent, safe to send after a restart).
        before = [r[0] for r in self._sending()]

        async def at_the_prompt() -> None:
            await before_pdu()
            rows = self._sending()
            unsettled = self.raw.execute(
                "SELECT COUNT(*) FROM message m WHERE m.sim = ? AND m.state = 'sending' AND NOT"
                " EXISTS (SELECT 1 FROM part p WHERE p.message_id = m.id"
                " AND p.state IN ('pending', 'sending'))", (self.iccid,)).fetchone()[0]
            self.seen.append((self.iccid, pdu, before, rows, unsettled))

        return await self.inner.send_part(pdu, tpdu_length, before_pdu=at_the_prompt,
                                          **options)

    async def check_alive(self, timeout: float = 2.0) -> bool:
        return await self.inner.check_alive(timeout)


async def test_every_pdu_goes_out_with_its_part_alone_sending_and_committed(make_rig):
    async with make_rig(2, latency=0.02) as rig:
        d = rig.dispatcher
        db_file = d.store.db.database
        seen: list = []
        for iccid, slot in d.slots.items():
            slot.sender = CheckingSender(slot.sender, iccid, db_file, seen)
        recipients = numbers(40)
        ids = await rig.submit(new(r, LONG if i % 4 == 0 else f"short {i}")
                               for i, r in enumerate(recipients))
        states = await rig.wait_final(ids)
        assert Counter(states.values()) == {"sent": 40}
        assert len(seen) == 30 + 10 * 2
        for _iccid, pdu, before, rows, unsettled in seen:
            assert pdu not in before  # not marked before the prompt opened
            assert [r[0] for r in rows] == [pdu]  # this part, committed, and no other
            # A message whose parts have all left is `sent` by the time the next PDU goes.
            assert unsettled == 0


async def test_back_to_back_messages_cost_one_urgent_commit_per_part(make_rig):
    async with make_rig(1, latency=0.05) as rig:
        d = rig.dispatcher
        urgent = Counter()
        write = d.store.write

        async def counting(fn, **kw):  # type: ignore[no-untyped-def]
            if not fn.__qualname__.startswith("Acceptor."):  # the send path's writes only
                urgent[kw.get("urgent", False)] += 1
            return await write(fn, **kw)

        d.store.write = counting  # type: ignore[method-assign]
        recipients = numbers(12)
        ids = await rig.submit(new(r, LONG if i % 3 == 0 else f"short {i}")
                               for i, r in enumerate(recipients))
        await rig.wait_final(ids)
        await rig.wait_for(lambda: not d.slots[rig.iccid(0)].busy)
        parts = 8 + 4 * 2
        # One `sending` per part (each carrying the previous answer, and the previous message's
        # `sent`), plus the last message's `sent` alone; never a prepare on the critical path.
        assert parts <= urgent[True] <= parts + 1
        events = [e for e in rig.events if e[1] == "sent"]
        assert sorted(e[0] for e in events) == sorted(ids)


async def test_an_unencodable_message_fails_alone_with_the_reason(make_rig):
    """Its claim stores no parts (the encoder refuses 256 parts), so its send prepares it again and
    fails it with the encoder's reason; the messages around it go out."""
    async with make_rig(1, latency=0.01) as rig:
        recipients = numbers(3)
        ids = await rig.submit([new(recipients[0], "before"), new(recipients[1], "x" * 153 * 256),
                                new(recipients[2], "after")])
        states = await rig.wait_final(ids)
        assert [states[i] for i in ids] == ["sent", "failed", "sent"]
        failed = await rig.message(ids[1])
        assert "cannot be encoded" in failed["error"] and failed["parts"] == []


class RefusedBeforePrompt:
    """Wraps a SIM's sender: its first +CMGS is refused before the prompt (as a modem that
    answers AT+CMGS=<n> with +CMS ERROR)."""

    def __init__(self, inner: Any):
        self.inner, self.refused = inner, 0

    @property
    def ready(self) -> bool:
        return self.inner.ready

    async def send_part(self, pdu: str, tpdu_length: int, **options) -> int:
        if self.refused:
            return await self.inner.send_part(pdu, tpdu_length, **options)
        self.refused += 1
        await asyncio.sleep(0.1)
        raise PartNotSent("+CMS ERROR: 500", cms_error=500)

    async def check_alive(self, timeout: float = 2.0) -> bool:
        return await self.inner.check_alive(timeout)


async def test_a_part_refused_before_its_prompt_is_not_left_sending(make_rig):
    """Nothing left: the part is pending (never `sending`) when the message is queued again,
    and is sent once, later."""
    async with make_rig(1, latency=0.01) as rig:
        d = rig.dispatcher
        slot = d.slots[rig.iccid(0)]
        slot.sender = RefusedBeforePrompt(slot.sender)
        raw = sqlite3.connect(d.store.db.database)
        at_requeue: list[list[str]] = []

        def on_event(message_id: int, state: str, iccid: str | None) -> None:
            if state == "queued":  # told once committed, before it can be claimed again
                at_requeue.append([s for (s,) in raw.execute(
                    "SELECT state FROM part WHERE message_id = ?", (message_id,))])

        d.listeners.append(on_event)
        (mid,) = await rig.submit([new(numbers(1)[0], "refused once")])
        states = await rig.wait_final([mid])
        assert states[mid] == "sent" and slot.sender.refused == 1
        assert at_requeue and "sending" not in at_requeue[0]
        assert len(rig.accepted()) == 1

