"""Kannel delivery reports, sent: the hub's state changes become GETs of each message's dlr-url.

Knows: the hub's MessageStateChanged, the store's Kannel rows (`store.kannel`), the rendering
(`kannel_dlr`), and a queue of outgoing GETs (`GetQueue`).
Must not know: HTTP clients' details beyond that queue, SQL, modems.

Order and durability: for a message whose state changed, the types now owed are computed from
its stored state (not from the event: events may be dropped or arrive after a restart), each
rendered URL is handed to the queue, and only then are the types recorded as fired. A crash
between the two sends a report twice rather than never; on start every message still `open`
is looked at again, so what changed while the process was down is reported once it is back.

Cost: the ids of the messages that may still owe reports are kept in memory (filled at start,
grown by `watch` when the Kannel API accepts a request with a dlr-url, shrunk when a message
owes nothing more), so the state changes of every other message cost no query at all.
The queue is the webhooks' durable delivery queue (`appliance.webhooks.Deliverer.enqueue_get`:
a row of `webhook_delivery` with no payload, sent as a GET, retried with backoff).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Protocol

from appliance.compat import kannel_dlr as dlr
from appliance.hub import EventHub, MessageStateChanged
from appliance.store import kannel as kannel_store
from appliance.store.writer import Store

log = logging.getLogger(__name__)

EVENT = "kannel.dlr"
REPORTED_STATES = frozenset({"sent", "delivered", "failed", "expired", "cancelled"})
FINAL_STATES = frozenset({"delivered", "failed", "expired", "cancelled"})
ALL_TYPES = sum(dlr.TYPES)
START_RETRY_FIRST = 1.0  # seconds before the start-up read of open messages is tried again
START_RETRY_MAX = 60.0


class GetQueue(Protocol):
    async def enqueue_get(self, url: str, event: str) -> int:
        """Queue a GET of `url` (durably, retried); its delivery id."""
        ...


def values_for(source: kannel_store.ReportSource, kind: int) -> dlr.DlrValues:
    """What one report of type `kind` says about the message `source` describes."""
    f = source.fields
    at = (source.sent_at if kind == dlr.SUBMITTED else source.final_at) \
        or source.updated_at or datetime.now(UTC)
    reply = dlr.REPLY_TEXT[kind]
    if kind == dlr.REJECTED and source.error:
        reply += source.error  # "NACK/<why>", as Kannel appends the SMSC's reason
    return dlr.DlrValues(
        type=kind, reply=reply, smsc_id=source.sim_label or source.sim or "",
        message_id=source.message_id, foreign_id=source.foreign_id,
        receiver=source.recipient, sender=f.sender or source.sim_number, time=at,
        service=f.service, coding=f.coding, mclass=f.mclass, charset=f.charset,
        udh=bytes.fromhex(f.udh) if f.udh else b"", binfo=f.binfo, account=f.account,
        validity_at=f.validity_at, deferred_at=f.deferred_at, dlr_url=f.dlr_url)


def plan(source: kannel_store.ReportSource) -> tuple[list[tuple[int, str]], int, bool]:
    """(the (type, url) reports owed now, the fired mask after them, whether more may come)."""
    was_sent = source.sent_at is not None or bool(source.foreign_id)
    kinds = dlr.due_types(source.fields.dlr_mask, source.fired, source.state, was_sent)
    now = datetime.now(UTC)
    reports = [(k, dlr.render(source.fields.dlr_url, values_for(source, k), now)) for k in kinds]
    fired = source.fired | sum(kinds)
    wanted = source.fields.dlr_mask & ALL_TYPES
    still_open = source.state not in FINAL_STATES and (wanted & ~fired) != 0
    return reports, fired, still_open


class KannelReports:
    """Subscribes to state changes and queues the dlr-url GETs they owe."""

    def __init__(self, store: Store, hub: EventHub, queue: GetQueue):
        self.store = store
        self.hub = hub
        self.queue = queue
        self.sent = 0
        self._subscription = hub.subscribe("kannel-dlr", [MessageStateChanged])
        self._task: asyncio.Task | None = None
        self._open: set[int] = set()  # messages that may still owe reports
        self._lock = asyncio.Lock()  # one settle at a time: a report is never planned twice
        self._watching: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="kannel-dlr")

    def watch(self, message_ids: list[int]) -> None:
        """Messages just accepted with a dlr-url: their state changes are looked at from now
        on, and once now (a change may have come before this call)."""
        self._open.update(message_ids)
        task = asyncio.get_running_loop().create_task(self._settle(set(message_ids)),
                                                      name="kannel-dlr-watch")
        self._watching.add(task)
        task.add_done_callback(self._watching.discard)

    async def stop(self) -> None:
        self._subscription.close()
        for task in list(self._watching):
            task.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        # Whatever changed while we were not listening; until that read has worked once, the
        # messages accepted before this start are not known to owe anything: try again.
        delay = START_RETRY_FIRST
        while not await self._settle(None):
            await asyncio.sleep(delay)
            delay = min(delay * 2, START_RETRY_MAX)
        while True:
            events = await self._subscription.batch()
            if not events:
                return
            ids = {e.message_id for e in events
                   if isinstance(e, MessageStateChanged) and e.state in REPORTED_STATES
                   and e.message_id in self._open}
            if ids:
                await self._settle(ids)

    async def _settle(self, ids: set[int] | None) -> bool:
        async with self._lock:
            return await self._settle_now(ids)

    async def _settle_now(self, ids: set[int] | None) -> bool:
        """Queue the reports owed now by `ids` (None: every open message); False if it
        failed (logged), the messages then staying open."""
        try:
            sources = await self.store.read(lambda: kannel_store.open_reports(ids))
            if ids is None:
                self._open.update(source.message_id for source in sources)
            else:  # those without an open row owe nothing (any more)
                self._open.difference_update(ids - {source.message_id for source in sources})
            marks = []
            for source in sources:
                reports, fired, still_open = plan(source)
                for _, url in reports:
                    await self.queue.enqueue_get(url, EVENT)
                    self.sent += 1
                if fired != source.fired or not still_open:
                    marks.append((source.message_id, fired, still_open))
            if marks:
                await self.store.write(lambda: kannel_store.mark_fired(marks))
                self._open.difference_update(mid for mid, _, still_open in marks
                                             if not still_open)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one bad batch must not end the reports
            log.exception("Kannel delivery reports: a batch failed (its messages stay open: "
                          "looked at again at their next change, or at the next start)")
            return False
        return True


__all__ = ["GetQueue", "KannelReports", "plan", "values_for"]
