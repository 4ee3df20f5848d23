"""A modem's life as explicit states with a transition table (after h11's _state.py).

Knows: the states a modem can be in, which moves between them are allowed, and the network
registration values of TS 27.007 §7.2.
Must not know: AT commands, ports, or SIM health (resting is the dispatcher's business).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ModemState(StrEnum):
    PROBING = "probing"  # opened, being initialised (or re-initialised after a reset)
    READY = "ready"  # SIM unlocked and SMS set up: may send
    NO_SIM = "no_sim"  # +CME ERROR: 10 / +CPIN: NOT INSERTED
    PIN_NEEDED = "pin_needed"  # SIM PIN asked and none configured, or the configured one refused
    SIM_BLOCKED = "sim_blocked"  # SIM PUK: only the owner's PUK can help
    GONE = "gone"  # the port vanished (unplugged, reset on USB)


_S = ModemState

# Every allowed move; anything else is a bug in the caller and raises InvalidTransition.
TRANSITIONS: dict[ModemState, frozenset[ModemState]] = {
    _S.PROBING: frozenset({_S.READY, _S.NO_SIM, _S.PIN_NEEDED, _S.SIM_BLOCKED, _S.GONE}),
    # From ready: a vanished port, a SIM pulled or locked (URC or health poll), a reset.
    # (Resting a SIM is the dispatcher's health policy, and backing off a hung modem the
    # supervisor's: neither is a state of the driver.)
    _S.READY: frozenset({_S.GONE, _S.NO_SIM, _S.PIN_NEEDED, _S.PROBING}),
    # The SIM states wait for a re-probe (SIM inserted, PIN configured, reset) or an unplug.
    _S.NO_SIM: frozenset({_S.PROBING, _S.GONE}),
    _S.PIN_NEEDED: frozenset({_S.PROBING, _S.GONE, _S.NO_SIM}),
    _S.SIM_BLOCKED: frozenset({_S.PROBING, _S.GONE, _S.NO_SIM}),
    # A port that comes back (re-plug, USB re-enumeration after +CFUN=1,1) is probed again.
    _S.GONE: frozenset({_S.PROBING}),
}


class InvalidTransition(RuntimeError):
    """A state change the table does not allow."""


def check_transition(old: ModemState, new: ModemState) -> None:
    if old != new and new not in TRANSITIONS[old]:
        raise InvalidTransition(f"modem state {old} -> {new} is not allowed")


class Registration(IntEnum):
    """+CREG/+CEREG <stat>, TS 27.007 §7.2 (values 6-10 come with E-UTRAN)."""

    NOT_REGISTERED = 0
    HOME = 1
    SEARCHING = 2
    DENIED = 3
    UNKNOWN = 4
    ROAMING = 5
    SMS_ONLY_HOME = 6
    SMS_ONLY_ROAMING = 7
    EMERGENCY_ONLY = 8
    CSFB_NOT_PREFERRED_HOME = 9
    CSFB_NOT_PREFERRED_ROAMING = 10

    @property
    def registered(self) -> bool:
        """True when SMS can be sent (home, roaming, or the SMS-only variants)."""
        return self in _REGISTERED

    @classmethod
    def parse(cls, value: int) -> Registration:
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


_REGISTERED = frozenset({
    Registration.HOME, Registration.ROAMING, Registration.SMS_ONLY_HOME,
    Registration.SMS_ONLY_ROAMING, Registration.CSFB_NOT_PREFERRED_HOME,
    Registration.CSFB_NOT_PREFERRED_ROAMING,
})
