"""Inbound SMS and status reports from one modem: read, hand on, and delete only after.

Knows: TS 27.005 §3.4.1 new-message indications (+CMTI, +CMT, +CDSI, +CDS), reading (+CMGR,
+CMGL §3.4.2/§3.4.3), deleting (+CMGD §3.5.4), acknowledging (+CNMA §3.4.4), and contract rules
3 and 4: a message leaves the modem only after the handler has returned (stored it durably).
Must not know: the serial port, where messages are stored, or reassembly of long messages
(each part is handed on with its concatenation header; the inbox joins them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from appliance.modem.contract import (
    Inbound,
    InboundHandler,
    InboundSms,
    InboundStatusReport,
    QuarantinedPdu,
)
from appliance.modem.identity import parse_listing, value_after
from appliance.pdu import StatusReport, decode_pdu

log = logging.getLogger(__name__)

# Sends one AT command and returns its information lines; raises like AtChannel.command.
CommandFn = Callable[..., Awaitable[list[str]]]

# TS 27.005 §3.1 <stat> in PDU mode: 4 is "all messages".
STAT_ALL = 4
# TS 27.005 §3.2.5: +CMS ERROR 321 "invalid memory index" - the slot is empty or gone.
CMS_INVALID_INDEX = 321


def to_inbound(pdu: str, sim_iccid: str, storage: str = "", index: int | None = None) -> Inbound:
    """Decode one PDU as read from a modem into what the contract hands on. Never raises: a
    PDU that does not decode is quarantined with its raw hex."""
    pdu = pdu.strip()
    try:
        decoded = decode_pdu(pdu)
    except Exception as exc:  # any decode failure, PduError or a codec bug: keep the raw hex
        return QuarantinedPdu(sim_iccid=sim_iccid, pdu=pdu, error=f"{type(exc).__name__}: {exc}",
                              storage=storage, index=index)
    if isinstance(decoded, StatusReport):
        return InboundStatusReport(
            sim_iccid=sim_iccid,
            message_reference=decoded.message_reference,
            recipient=decoded.recipient,
            status=decoded.status,
            delivered=decoded.delivered,
            final=not decoded.pending,
            discharged_at=decoded.discharge,
            pdu=pdu,
        )
    concat = decoded.concat
    return InboundSms(
        sim_iccid=sim_iccid,
        sender=decoded.sender,
        text=decoded.text,
        received_at=decoded.timestamp,
        concat_reference=concat.reference if concat else None,
        concat_count=concat.count if concat else 1,
        concat_index=concat.index if concat else 1,
        smsc=decoded.smsc,
        pdu=pdu,
        storage=storage,
        index=index,
    )


class InboundReader:
    """Reads stored messages one at a time (a lock: a burst of twenty +CMTI must not become
    twenty concurrent +CMGR), hands each to the handler, deletes after it returns."""

    def __init__(
        self,
        command: CommandFn,
        sim_iccid: Callable[[], str],
        handler: InboundHandler | None,
        *,
        ack_direct: bool = False,
    ) -> None:
        self._command = command
        self._sim_iccid = sim_iccid
        self.handler = handler
        self._ack_direct = ack_direct
        self._lock = asyncio.Lock()
        self.read_storage = ""  # <mem1> currently selected with +CPMS; "" when unknown
        self.delivered = 0
        self.quarantined = 0
        self.handler_failures = 0

    async def _hand_on(self, item: Inbound) -> bool:
        """True if the handler took it (returned); False if it raised or there is none."""
        if isinstance(item, QuarantinedPdu):
            self.quarantined += 1
            log.warning("undecodable PDU from SIM %s (%s) quarantined", item.sim_iccid, item.error)
        if self.handler is None:
            log.warning("no inbound handler: message left on the modem")
            return False
        try:
            await self.handler(item)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.handler_failures += 1
            log.exception("inbound handler failed: message left on the modem, read again later")
            return False
        self.delivered += 1
        return True

    async def _select_storage(self, storage: str) -> None:
        # +CMGR/+CMGD act on <mem1> (TS 27.005 §3.2.2); a +CMTI may name another memory
        # (a status report in "SR", a message in "ME" once "SM" is full).
        if storage and storage != self.read_storage:
            await self._command(f'AT+CPMS="{storage}"', response_prefix="+CPMS")
            self.read_storage = storage

    async def read_index(self, storage: str, index: int) -> bool:
        """+CMTI/+CDSI path: read one slot, hand it on, delete it. True if handed on."""
        async with self._lock:
            await self._select_storage(storage)
            try:
                lines = await self._command(f"AT+CMGR={index}", response_prefix="+CMGR")
            except Exception as exc:
                if getattr(exc, "cms_error", None) == CMS_INVALID_INDEX:
                    return False  # already read and deleted (e.g. by read_stored)
                raise
            entries = parse_listing(lines, "+CMGR")
            if not entries:
                return False  # empty slot: some modems answer a bare OK
            fields, pdu = entries[0]
            if not _received(fields[0] if fields else ""):
                return False
            return await self._deliver_stored(pdu, storage or self.read_storage, index)

    async def _deliver_stored(self, pdu: str, storage: str, index: int) -> bool:
        item = to_inbound(pdu, self._sim_iccid(), storage, index)
        if not await self._hand_on(item):
            return False
        await self._command(f"AT+CMGD={index}")
        return True

    async def read_stored(self) -> int:
        """Everything stored in <mem1> (+CMGL=4, all states), oldest index first, through the
        same hand-on-then-delete path. Returns how many were handed on."""
        async with self._lock:
            lines = await self._command(f"AT+CMGL={STAT_ALL}", response_prefix="+CMGL")
            stored: list[tuple[int, str]] = []
            for fields, pdu in parse_listing(lines, "+CMGL"):
                try:
                    index = int(fields[0])
                except (ValueError, IndexError):
                    log.warning("unreadable +CMGL header %r", fields)
                    continue
                if _received(fields[1] if len(fields) > 1 else ""):
                    stored.append((index, pdu))
            count = 0
            for index, pdu in sorted(stored):
                if await self._deliver_stored(pdu, self.read_storage, index):
                    count += 1
            return count

    async def deliver_direct(self, urc_name: str, body: str | None) -> bool:
        """+CMT/+CDS: the PDU came in the URC and is stored nowhere (TS 27.005 §3.4.1 <mt>=2,
        <ds>=1). With +CSMS=1 the modem waits for +CNMA; without it the message is already
        acknowledged to the network, so a failing handler loses it - profiles that can should
        route to storage (+CMTI) instead."""
        if not body:
            log.warning("%s without a PDU line", urc_name)
            return False
        async with self._lock:
            ok = await self._hand_on(to_inbound(body, self._sim_iccid()))
            if ok and self._ack_direct:
                # Not acknowledging on failure makes the modem send RP-ERROR when its timer
                # runs out, and the network delivers again later (TS 27.005 §3.4.4).
                await self._command("AT+CNMA")
            return ok


def _received(stat: str) -> bool:
    """TS 27.005 §3.1 <stat>: 0 REC UNREAD and 1 REC READ are received messages (and status
    reports); 2/3 are outgoing messages someone stored, which are not ours to hand on or
    delete. An unreadable stat is treated as received rather than left forever."""
    return stat.strip() not in ("2", "3")


def parse_indication(text: str, name: str) -> tuple[str, int] | None:
    """'+CMTI: "SM",5' -> ("SM", 5) (TS 27.005 §3.4.1 <mem>,<index>)."""
    value = value_after(text, name)
    if value is None:
        return None
    mem, _, idx = value.rpartition(",")
    try:
        return mem.strip().strip('"'), int(idx)
    except ValueError:
        return None
