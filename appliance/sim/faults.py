"""Faults and the outside world of a simulated modem: what tests switch on between awaits.

Knows: the faults a gateway must survive (+CMS errors, swallowed answers, SIM busy, hung
firmware, undecodable PDUs from the network or the SIM), and outside events (SIM removed or
inserted, signal, network lost). Must not know: AT parsing or bytes on the port; the
interpreter in `modem.py` honours the state these methods set. `FaultsMixin` is part of
`SimulatedModem`: it uses the modem's state and its URC output.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .identity import SimProfile


@dataclass(frozen=True)
class Hang:
    """A hung firmware: silent for `commands` (None = everything) until `clear_on` happens."""

    clear_on: str  # "reset" (AT+CFUN=1,1 still heard), "reopen" (port opened again), "never"
    commands: frozenset[str] | None


def command_name(text: str) -> str:
    """"AT+CMGS=23" -> "+CMGS=23": the command without its AT prefix, upper-case."""
    name = text.strip().upper()
    return name[2:] if name.startswith("AT") else name


class FaultsMixin:
    """Fault switches and outside events for `SimulatedModem` (see the module docstring)."""

    profile: SimProfile
    sim_status: str
    sim_unlocked: bool
    network_up: bool
    registration_denied: bool
    _fail_sends: deque[int]
    _swallow_sends: int
    _sim_busy: int
    _hang: Hang | None
    _late_answers: deque[float]

    # Provided by SimulatedModem (declared for type checkers only: a stub here would
    # shadow the real method for a class later in the MRO).
    if TYPE_CHECKING:
        def _urc(self, *lines: str) -> None: ...
        def _each_urc(self, lines: tuple[str, ...] | list[str]) -> None: ...
        def update_registration(self) -> None: ...
        def _arrive(
            self, pdu: str, silently: bool, *, status_report: bool, length: int | None = None
        ) -> int | None: ...

    def fail_next_sends(self, code: int, count: int = 1) -> None:
        """The next `count` submits answer +CMS ERROR: <code> (nothing was sent)."""
        self._fail_sends.extend([code] * count)

    def swallow_next_sends(self, count: int = 1) -> None:
        """The next `count` submits are transmitted and recorded but never answered."""
        self._swallow_sends += count

    def sim_busy(self, count: int) -> None:
        """The next `count` SIM-touching commands fail with SIM busy (CME 14 / CMS 314)."""
        self._sim_busy += count

    def hang(self, clear_on: str = "reset", commands: set[str] | None = None) -> None:
        """Stop answering `commands` ("+CMGL", or "AT+CMGL") or everything when None."""
        if clear_on not in ("reset", "reopen", "never"):
            raise ValueError(f"clear_on must be reset, reopen or never, not {clear_on!r}")
        names = frozenset(command_name(c) for c in commands) if commands else None
        self._hang = Hang(clear_on, names)

    def clear_hang(self) -> None:
        self._hang = None

    def answer_late_next_sends(self, delay: float, count: int = 1) -> None:
        """The next `count` submits are transmitted and recorded at once, but answered
        "+CMGS: <mr>" and OK only `delay` seconds later (instead of after `latency`): a
        client with a shorter send timeout sees no answer, then the late one. Commands
        written meanwhile wait, as they do on a modem busy with the network."""
        if delay < 0 or count < 0:
            raise ValueError(f"delay and count must be >= 0, got {delay} and {count}")
        self._late_answers.extend([delay] * count)

    def inject_raw_pdu(self, pdu: str, *, length: int | None = None,
                       stored_before_start: bool = False) -> int | None:
        """Deliver `pdu` exactly as given, garbage included (a corrupt SIM slot, a firmware or
        network bug), routed like an SMS-DELIVER per +CNMI: stored with +CMTI, or shown with
        +CMT. `length` is the <length> the modem announces (default: what the hex gives).
        Returns the slot, or None when shown directly."""
        return self._arrive(pdu, stored_before_start, status_report=False, length=length)

    @property
    def hung(self) -> bool:
        return self._hang is not None

    def remove_sim(self) -> None:
        self.profile.sim_present = False
        self.sim_unlocked = False
        self._each_urc(self.profile.sim_removed_urcs)
        self.update_registration()

    def insert_sim(self) -> None:
        self.profile.sim_present = True
        self.sim_unlocked = self.profile.pin is None
        self._urc(f"+CPIN: {self.sim_status}")
        self.update_registration()

    def flood_urcs(self, n: int, line: str = "^RSSI:17") -> None:
        """`n` copies of an unsolicited line at once (Huawei sticks chatter ^RSSI/^BOOT)."""
        self._each_urc([line] * n)

    def set_signal(self, csq: int) -> None:
        self.profile.signal = csq

    def deregister(self) -> None:
        self.network_up = False
        self.update_registration()

    def register(self) -> None:
        self.network_up = True
        self.registration_denied = False
        self.update_registration()

    def deny_registration(self) -> None:
        """The network refuses the SIM (+CREG: 3), as when an operator bars it."""
        self.registration_denied = True
        self.update_registration()
