"""A SIM's sender as the pool hands it out: sends through the supervisor's current modem.

Knows: that a supervisor may replace its modem object (reopen after a hang) while the SIM stays
the same, and that a modem not ready must not be given a PDU.
Must not know: which message is sent, or why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from appliance.modem.contract import PartNotSent
from appliance.modem.state import ModemState

if TYPE_CHECKING:
    from appliance.pool.supervisor import ModemSupervisor


class ModemNotReady(PartNotSent):
    """The SIM's modem was not ready to take the PDU (gone, or reopening): nothing was tried,
    so the dispatcher hands the message back without using up an attempt and leaves the SIM's
    health alone (its loss is the pool's news, not a failure of the SIM)."""

    def __init__(self) -> None:
        super().__init__("the modem is not ready")


class SupervisedSender:
    """contract.PartSender over a supervisor: always its current modem."""

    def __init__(self, supervisor: ModemSupervisor):
        self._supervisor = supervisor

    @property
    def ready(self) -> bool:
        """False while the modem is reopening or gone: claiming work for it would only hand
        the work back. Gone as soon as its driver saw the port vanish: the supervisor (and
        SimLost) follow when the port watcher notices, up to its interval later, and claims
        meanwhile came straight back (ModemNotReady), a write each, many times a second."""
        modem = self._supervisor.modem
        return (self._supervisor.ready and modem is not None
                and modem.state is not ModemState.GONE)

    async def send_part(self, pdu: str, tpdu_length: int, **options: Any) -> int:
        modem = self._supervisor.modem
        if modem is None or not self._supervisor.ready:
            raise ModemNotReady()
        try:
            return await modem.send_part(pdu, tpdu_length, **options)
        except PartNotSent as exc:
            # The modem vanished before the PDU was written: the pool's news (SimLost follows),
            # not a failure of the SIM or the message.
            if modem.state is ModemState.GONE or not self._supervisor.ready:
                raise ModemNotReady() from exc
            raise

    async def check_alive(self, timeout: float = 2.0) -> bool:
        """After an unanswered +CMGS: does the modem answer a bare AT again?"""
        modem = self._supervisor.modem
        if modem is None or not self._supervisor.ready:
            return False
        return await modem.check_alive(timeout)
