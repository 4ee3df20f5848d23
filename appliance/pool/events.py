"""What the pool tells its listeners: typed events, one per change a listener acts on.

Knows: the facts a change carries (port, SIM identity, a sender for the SIM, why it was lost).
Must not know: what a listener does with them. The dispatcher is the main listener; the live
console and metrics will subscribe the same way. Listeners get plain values, never the
supervisor itself, so nothing reaches into the pool's objects by duck typing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from appliance.modem.contract import ModemIdentity

if TYPE_CHECKING:
    from appliance.pool.sender import SupervisedSender


@dataclass(frozen=True)
class ModemIdentified:
    """A modem finished bring-up: who it is and where (stored for /modems and history)."""

    port: str
    identity: ModemIdentity


@dataclass(frozen=True)
class SimAttached:
    """A SIM can send: `sender` sends through whatever modem currently holds it (the modem
    object changes when the supervisor reopens the port)."""

    port: str
    iccid: str
    operator: str
    operator_code: str
    sender: SupervisedSender


@dataclass(frozen=True)
class SimLost:
    """The SIM's modem stopped being ready (unplugged, hung, SIM removed)."""

    port: str
    iccid: str
    reason: str


@dataclass(frozen=True)
class RegistrationChanged:
    """+CREG moved. `denied` (stat 3) is how an operator's barring of a SIM shows."""

    port: str
    iccid: str
    registration: str
    """The modem's Registration state name ("home", "roaming", "searching", "denied"…)."""
    registered: bool
    denied: bool


@dataclass(frozen=True)
class ModemStatusChanged:
    """What a modem shows moved: its pool state or the reason for it, or its signal (read by
    every health poll, AT+CSQ). For live views (the console's dashboard); the dispatcher acts
    on SimAttached / SimLost / RegistrationChanged instead."""

    port: str
    iccid: str
    state: str
    """The PoolState value ("ready", "resting", "gone"...)."""
    reason: str
    bars: int
    dbm: int | None


PoolEvent = ModemIdentified | SimAttached | SimLost | RegistrationChanged | ModemStatusChanged


class PoolListener(Protocol):
    def pool_event(self, event: PoolEvent) -> None:
        """Called on the event loop; must not block (schedule work as tasks)."""


__all__ = ["ModemIdentified", "ModemStatusChanged", "PoolEvent", "PoolListener",
           "RegistrationChanged", "SimAttached", "SimLost"]
