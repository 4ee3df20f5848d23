"""What the network delivers to a simulated modem: SMS and status reports, and their +CNMA.

Knows: routing per +CNMI (TS 27.005 §3.4.1: stored with +CMTI/+CDSI, or shown with +CMT/+CDS),
the acknowledgement +CSMS=1 demands for what is shown (+CNMA, §3.4.4), and building each
SMS-DELIVER / SMS-STATUS-REPORT with the production codec. Must not know: AT parsing or bytes
on the port. `InboundMixin` is part of `SimulatedModem`: it uses the modem's +CNMI/+CSMS
settings, its message store and its URC output.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from .commands import ModemError

if TYPE_CHECKING:
    from .identity import SimProfile
    from .record import AcceptedPdu
    from .storage import MessageStore

__all__ = ["CHINA_TIME", "InboundMixin"]

CHINA_TIME = timezone(timedelta(hours=8))  # SCTS of Chinese networks carry +08:00


class InboundMixin:
    """Inbound injection for `SimulatedModem` (see the module docstring)."""

    profile: SimProfile
    store: MessageStore
    accepted: list[AcceptedPdu]
    cnmi: tuple[int, ...]
    cpms: list[str]
    csms: int
    ack_timeout: float
    acknowledged: list[str]
    unacknowledged: list[str]
    _awaiting_ack: deque[str]
    _next_concat: int

    # Provided by SimulatedModem (declared for type checkers only: a stub here would
    # shadow the real method for a class later in the MRO).
    if TYPE_CHECKING:
        def _urc(self, *lines: str) -> None: ...
        def _later(self, delay: float, action: Callable[[], object]) -> None: ...
        @staticmethod
        def tpdu_length(pdu_hex: str) -> int: ...

    def inject_sms(self, sender: str, text: str, *, stored_before_start: bool = False,
                   force_ucs2: bool = False, concat_bits: int = 8,
                   timestamp: datetime | None = None, flash: bool = False) -> list[int | None]:
        """Deliver an SMS from the network: one SMS-DELIVER per part (several if long).

        Each part is stored with a +CMTI URC, or shown with +CMT when +CNMI <mt>=2 (not
        stored), according to +CNMI. `stored_before_start` puts the parts on the SIM silently,
        as messages that arrived while nothing listened. Returns each part's slot (None: shown
        directly, or refused because the store is full).
        """
        from appliance.pdu import encode_deliver

        if timestamp is not None and timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=CHINA_TIME)  # an SCTS always has a zone
        reference = self._next_concat
        self._next_concat = (self._next_concat + 1) % (256 if concat_bits == 8 else 65536)
        pdus = encode_deliver(sender, text, timestamp or datetime.now(CHINA_TIME),
                              smsc=self.profile.smsc, reference=reference,
                              force_ucs2=force_ucs2, concat_bits=concat_bits, flash=flash)
        return [self._arrive(pdu, stored_before_start, status_report=False) for pdu in pdus]

    def inject_status_report(self, message_reference: int, status: int = 0) -> int | None:
        """Deliver an SMS-STATUS-REPORT for `message_reference` (status 0 = delivered).

        Routed per +CNMI <ds>: 1 → +CDS shown directly, 2 → stored with +CDSI, 0 → dropped.
        """
        from appliance.pdu import encode_status_report

        sent = next((a for a in reversed(self.accepted)
                     if a.message_reference == message_reference), None)
        recipient = getattr(sent.submit, "to", None) if sent else None
        now = datetime.now(CHINA_TIME)
        scts = datetime.fromtimestamp(sent.at, UTC).astimezone(CHINA_TIME) if sent else now
        pdu = encode_status_report(message_reference, recipient or "+8613800000000", status,
                                   scts, now, smsc=self.profile.smsc)
        return self._arrive(pdu, False, status_report=True)

    def _arrive(self, pdu: str, silently: bool, *, status_report: bool,
                length: int | None = None) -> int | None:
        if not self.profile.sim_present:
            return None
        mode, mt, _bm, ds, _bfr = self.cnmi
        route = ds if status_report else mt
        if status_report and route == 0:
            return None
        direct = route == (1 if status_report else 2)
        if direct and not silently and mode != 0:
            head = "+CDS: " if status_report else "+CMT: ,"
            self._urc(f"{head}{self.tpdu_length(pdu) if length is None else length}", pdu)
            if self.csms == 1:
                self._expect_ack(pdu)
            return None
        index = self.store.store(pdu)
        if index is None:
            if self.profile.memory_full_urc and not silently:
                self._urc(self.profile.memory_full_urc)
            return None
        if not silently and mode != 0 and route != 0:
            self._urc(f'{"+CDSI" if status_report else "+CMTI"}: "{self.cpms[2]}",{index}')
        return index

    def _expect_ack(self, pdu: str) -> None:
        """With +CSMS=1 every +CMT/+CDS waits for +CNMA. Without one in `ack_timeout` the
        network gets RP-ERROR (it will deliver again later) and the TA stops routing to the
        TE: <mt> and <ds> drop to 0 (TS 27.005 §3.4.1)."""
        self._awaiting_ack.append(pdu)

        def expire() -> None:
            if pdu in self._awaiting_ack:
                self._awaiting_ack.remove(pdu)
                self.unacknowledged.append(pdu)
                mode, _mt, bm, _ds, bfr = self.cnmi
                self.cnmi = (mode, 0, bm, 0, bfr)

        self._later(self.ack_timeout, expire)

    def acknowledge(self, negative: bool) -> None:
        """+CNMA: the oldest +CMT/+CDS waiting is acknowledged (negative: RP-ERROR sent, the
        network delivers again later). +CMS ERROR: 340 when nothing waits."""
        if not self._awaiting_ack:
            raise ModemError("CMS", 340)
        pdu = self._awaiting_ack.popleft()
        (self.unacknowledged if negative else self.acknowledged).append(pdu)
