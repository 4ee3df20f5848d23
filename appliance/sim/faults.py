"""Faults and the outside world of a simulated modem: what tests switch on between awaits.

Knows: the faults a gateway must survive (+CMS errors, swallowed answers, SIM busy, hung
firmware, undecodable PDUs from the network or the SIM), and outside events (SIM removed or
inserted, signal, network lost). Must not know: AT parsing or bytes on the port; the
interpreter in `modem.py` honours the state these methods set. `FaultsMixin` is part of
`SimulatedModem`: it uses the modem's state and its URC output.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
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


@dataclass
class FaultRates:
    """Random faults per submit (`set_fault_rates`), and how many of each were drawn."""

    fail_rate: float = 0.0
    fail_code: int = 500
    swallow_rate: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    failed: int = 0
    swallowed: int = 0

    def draw(self) -> tuple[int | None, bool]:
        """(+CMS error code or None, swallow?) for one submit: one uniform draw, so the two
        faults never hit the same submit and their rates add up."""
        if not self.fail_rate and not self.swallow_rate:
            return None, False
        r = self.rng.random()
        if r < self.fail_rate:
            self.failed += 1
            return self.fail_code, False
        if r < self.fail_rate + self.swallow_rate:
            self.swallowed += 1
            return None, True
        return None, False


class FaultsMixin:
    """Fault switches and outside events for `SimulatedModem` (see the module docstring)."""

    profile: SimProfile
    sim_status: str
    sim_unlocked: bool
    network_up: bool
    registration_denied: bool
    _fail_sends: deque[int]
    _swallow_sends: int
    _fault_rates: FaultRates
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

    def set_fault_rates(self, *, fail_rate: float = 0.0, fail_code: int = 500,
                        swallow_rate: float = 0.0, seed: int | None = None) -> None:
        """From now on each submit independently answers +CMS ERROR: <fail_code> with
        probability `fail_rate` (nothing sent, nothing recorded), or is transmitted and recorded
        but never answered with probability `swallow_rate` (as `swallow_next_sends`). Faults
        queued with fail_next_sends/swallow_next_sends come first. A `seed` makes the sequence
        repeatable; all rates 0 switches random faults off. Counts so far: `fault_counts`."""
        for name, rate in (("fail_rate", fail_rate), ("swallow_rate", swallow_rate)):
            if not (isinstance(rate, int | float) and math.isfinite(rate) and 0 <= rate <= 1):
                raise ValueError(f"{name} must be a probability between 0 and 1, not {rate!r}")
        if fail_rate + swallow_rate > 1:
            raise ValueError(f"fail_rate + swallow_rate must not exceed 1, not "
                             f"{fail_rate} + {swallow_rate}")
        if isinstance(fail_code, bool) or not isinstance(fail_code, int) \
                or not 0 <= fail_code <= 511:
            raise ValueError(f"fail_code must be a +CMS ERROR code 0-511, not {fail_code!r}")
        self._fault_rates = FaultRates(fail_rate, fail_code, swallow_rate, random.Random(seed))

    @property
    def fault_counts(self) -> dict[str, int]:
        """Submits failed and swallowed by `set_fault_rates` so far (since it was last called)."""
        return {"failed": self._fault_rates.failed, "swallowed": self._fault_rates.swallowed}

    def _draw_send_fault(self) -> tuple[int | None, bool]:
        """A random fault for the submit being finished: (+CMS error code or None, swallow?);
        none while a queued fault (fail_next_sends, swallow_next_sends) is due instead."""
        if self._fail_sends or self._swallow_sends:
            return None, False
        return self._fault_rates.draw()

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
