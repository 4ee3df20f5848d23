"""The drivers' inbound handler: each received part stored, then the modem may delete it.

Knows: the driver contract's inbound items (InboundSms, InboundStatusReport, QuarantinedPdu),
which modem (IMEI) holds which SIM (from the pool's ModemIdentified events), the partial
timer, and that `SmsReceived` is published on the hub after each commit that created or grew
an inbox message.
Must not know: SQL (store.inbox does the reassembly inside one writer job), AT commands, what
status reports mean for outbound messages (handed to `on_status_report`: the dispatcher's), or
what the rules do.

Contract rule 3: `handle` returns only once the item is committed, and the modem deletes it
only after that; if `handle` raises the message stays on the modem and is read again later
(the duplicate checks make that harmless).

Inbound writes go in the writer's bulk lane (never `urgent`): a burst of replies waits behind
the sends' own small commits at most the lane's `bulk_wait`, and shares group commits with
other bulk work, so it does not slow sending down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from appliance.config import InboxConfig
from appliance.dispatch.phone import InvalidNumber, normalize_number
from appliance.hub import EventHub, SmsReceived
from appliance.modem.contract import (
    Inbound,
    InboundSms,
    InboundStatusReport,
    QuarantinedPdu,
)
from appliance.pool.events import ModemIdentified, PoolEvent
from appliance.store import inbox as inbox_store
from appliance.store import sims as sim_store
from appliance.store.writer import Store

log = logging.getLogger(__name__)

TICK_MAX = 60.0
"""The partial timer wakes at least this often (and at a tenth of the timeout when shorter)."""


def number_of(sender: str, default_region: str = "CN") -> str:
    """E.164 when the sender normalises; an alphanumeric sender or a short code stays as
    received (they are not numbers anyone can be matched by)."""
    try:
        return normalize_number(sender, default_region)
    except InvalidNumber:
        return sender


class Inbox:
    """Stores what the modems receive, one writer job per part; a pool listener for IMEIs.

    `on_status_report` takes the status reports (the dispatcher settles outbound messages);
    `on_sender(number, iccid)` is told who wrote to which SIM (the dispatcher keeps that
    recipient on that SIM). `clock` is injectable so tests can move time past the timeout.
    """

    def __init__(self, config: InboxConfig, store: Store, hub: EventHub, *,
                 clock: Callable[[], datetime] | None = None,
                 on_status_report: Callable[[InboundStatusReport], Awaitable[None]] | None = None,
                 on_sender: Callable[[str, str], None] | None = None,
                 default_region: str = "CN"):
        self.config = config
        self.store = store
        self.hub = hub
        self.clock = clock or (lambda: datetime.now(UTC))
        self.on_status_report = on_status_report
        self.on_sender = on_sender
        self.default_region = default_region
        self.modems: dict[str, str] = {}  # ICCID -> IMEI of the modem that holds it
        self.waiting = True  # parts may wait for siblings: the timer queries (start: unknown)
        self.stored = 0  # inbox messages created or grown (for tests and the benchmark)
        self.duplicates = 0
        self._timer: asyncio.Task | None = None

    @property
    def partial_after(self) -> timedelta:
        return timedelta(seconds=self.config.partial_after_seconds)

    @property
    def tick(self) -> float:
        return min(TICK_MAX, max(self.config.partial_after_seconds / 10, 0.05))

    # -- life --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Store what became due while the appliance was off, then start the timer."""
        await self.store_partials_due()
        self._timer = asyncio.get_running_loop().create_task(self._timer_loop(),
                                                             name="inbox-partials")

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
            self._timer = None

    # -- the pool tells us -------------------------------------------------------------------
    def pool_event(self, event: PoolEvent) -> None:
        if isinstance(event, ModemIdentified) and event.identity.sim.iccid:
            self.modems[event.identity.sim.iccid] = event.identity.imei

    # -- the drivers' handler ----------------------------------------------------------------
    async def handle(self, item: Inbound) -> None:
        """The drivers' InboundHandler: returns once the item is committed (contract rule 3)."""
        if isinstance(item, InboundSms):
            await self._receive(item)
        elif isinstance(item, InboundStatusReport):
            if self.on_status_report is not None:
                await self.on_status_report(item)
        elif isinstance(item, QuarantinedPdu):
            await self.store.write(lambda: sim_store.store_quarantined(
                item.sim_iccid, item.pdu, item.error))
            log.warning("undecodable PDU from SIM %s quarantined: %s", item.sim_iccid, item.error)

    async def _receive(self, item: InboundSms) -> None:
        number = number_of(item.sender, self.default_region)
        modem = self.modems.get(item.sim_iccid, "")
        arrived = self.clock()
        received = await self.store.write(lambda: inbox_store.receive_part(
            iccid=item.sim_iccid, modem=modem, sender=item.sender, number=number,
            text=item.text, smsc_at=item.received_at, arrived_at=arrived,
            concat_ref=item.concat_reference, concat_count=item.concat_count,
            concat_index=item.concat_index, smsc=item.smsc, pdu=item.pdu))
        # A recipient who wrote to this SIM keeps it (replies land in one conversation).
        if self.on_sender is not None and number.startswith("+"):
            self.on_sender(number, item.sim_iccid)
        if received.duplicate:
            self.duplicates += 1
            log.info("SIM %s gave a part already stored (id %s); not stored again",
                     item.sim_iccid, received.part_id)
        elif received.waiting:
            self.waiting = True
        if received.message is not None:
            self._publish(received.message)

    def _publish(self, message: dict) -> None:
        self.stored += 1
        self.hub.publish(SmsReceived(inbox_id=message["id"], sender=message["sender"],
                                     text=message["text"], sim=message["sim"],
                                     partial=message["partial"]))

    # -- partial timer -----------------------------------------------------------------------
    async def store_partials_due(self) -> int:
        """One timer round: groups still missing a part `partial_after` after their first part
        arrived are stored as partial messages. Returns how many. Skips the query entirely
        when no part is known to be waiting."""
        if not self.waiting:
            return 0
        now = self.clock()
        cutoff = now - self.partial_after
        region = self.default_region
        created, still_waiting = await self.store.write(
            lambda: inbox_store.store_partials_due(cutoff, now, lambda s: number_of(s, region)))
        self.waiting = still_waiting > 0
        for message in created:
            if message["partial"]:
                log.warning("message from %s on SIM %s stored as partial: %d of %d parts came "
                            "within %.0f s", message["sender"], message["sim"],
                            message["parts_received"], message["parts_total"],
                            self.config.partial_after_seconds)
            self._publish(message)
        return len(created)

    async def _timer_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                await self.store_partials_due()
            except Exception:  # the next round tries again; the parts are safe on disk
                log.exception("storing partial messages failed")


__all__ = ["Inbox", "number_of"]
