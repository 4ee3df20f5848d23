"""The life of an outbound message and of each of its parts, as explicit transition tables.

Knows: which states exist and which moves between them are legal (h11's `_state.py` idea:
everything that decides the state machine lives here, and the tables are tested as tables).
Must not know: storage, modems, or policy (whether an ambiguous part may be resent is the
"dispatch.ambiguous" setting's decision; this table only says the move exists).
"""

from __future__ import annotations

from enum import StrEnum


class MessageState(StrEnum):
    HELD = "held"  # waiting: approval, send_at, quiet hours, a caps window (API may say queued)
    QUEUED = "queued"  # ready to be claimed (possibly pinned to the SIM that sent its first parts)
    SENDING = "sending"  # claimed by one SIM; its parts are going out through that SIM
    SENT = "sent"  # every part has a +CMGS reference
    DELIVERED = "delivered"  # every part has a successful status report
    FAILED = "failed"
    AMBIGUOUS = "ambiguous"  # a +CMGS went unanswered: the network may have taken the part
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class PartState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # the PDU is being written / +CMGS is in flight
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    AMBIGUOUS = "ambiguous"


M = MessageState
P = PartState

MESSAGE_TRANSITIONS: dict[MessageState, frozenset[MessageState]] = {
    M.HELD: frozenset({M.QUEUED, M.CANCELLED, M.EXPIRED}),
    # queued -> held: a policy (quiet hours, a caps window) can put a ready message back on hold.
    # queued -> ambiguous/failed: a long message pinned to a SIM gone for good, a part of it
    # having (maybe) left through that SIM: what left is never sent again (queue.unpin).
    M.QUEUED: frozenset({M.SENDING, M.CANCELLED, M.EXPIRED, M.HELD, M.AMBIGUOUS, M.FAILED}),
    # sending -> queued: the part provably did not leave (+CMS ERROR 38/42/500, modem gone before
    # the write), or the SIM was unplugged with work still claimed: try again (elsewhere if no
    # part has left yet).
    M.SENDING: frozenset({M.SENT, M.QUEUED, M.FAILED, M.AMBIGUOUS}),
    # sent -> failed: a status report says the network gave up.
    M.SENT: frozenset({M.DELIVERED, M.FAILED}),
    # ambiguous -> queued only when the "resend" setting chooses it; a late status report can
    # still settle it either way; a late +CMGS answer (after the timeout) proves it left: sent.
    M.AMBIGUOUS: frozenset({M.QUEUED, M.SENT, M.DELIVERED, M.FAILED}),
    M.DELIVERED: frozenset(),
    M.FAILED: frozenset(),
    M.EXPIRED: frozenset(),
    M.CANCELLED: frozenset(),
}
ALLOWED = MESSAGE_TRANSITIONS  # the name the brief and callers use

PART_TRANSITIONS: dict[PartState, frozenset[PartState]] = {
    # pending -> failed: the message failed, expired or was cancelled before this part left.
    P.PENDING: frozenset({P.SENDING, P.FAILED}),
    # sending -> pending: provably not sent, will be tried again.
    P.SENDING: frozenset({P.SENT, P.PENDING, P.FAILED, P.AMBIGUOUS}),
    P.SENT: frozenset({P.DELIVERED, P.FAILED}),
    # ambiguous -> pending: "resend" chosen; a late status report settles it otherwise, and a
    # late +CMGS answer (it came after the timeout) makes it sent, with its reference.
    P.AMBIGUOUS: frozenset({P.PENDING, P.SENT, P.DELIVERED, P.FAILED}),
    P.DELIVERED: frozenset(),
    P.FAILED: frozenset(),
}

TERMINAL_MESSAGE_STATES = frozenset(s for s, exits in MESSAGE_TRANSITIONS.items() if not exits)
TERMINAL_PART_STATES = frozenset(s for s, exits in PART_TRANSITIONS.items() if not exits)


class InvalidTransition(ValueError):
    """A state change the tables do not allow; names both states."""

    def __init__(self, old: str, new: str, what: str = "message"):
        super().__init__(f"{what} cannot go from {old} to {new}")
        self.old = old
        self.new = new


def check_transition(old: MessageState | str, new: MessageState | str) -> None:
    """Raise InvalidTransition unless a message may go from `old` to `new`."""
    _check(MESSAGE_TRANSITIONS, MessageState, old, new, "message")


def check_part_transition(old: PartState | str, new: PartState | str) -> None:
    """Raise InvalidTransition unless a part may go from `old` to `new`."""
    _check(PART_TRANSITIONS, PartState, old, new, "part")


def _check(table: dict, enum: type[StrEnum], old: str, new: str, what: str) -> None:
    try:
        allowed = table[enum(old)] and enum(new) in table[enum(old)]
    except ValueError:  # not a state at all
        allowed = False
    if not allowed:
        raise InvalidTransition(str(old), str(new), what)


__all__ = [
    "ALLOWED",
    "InvalidTransition",
    "MESSAGE_TRANSITIONS",
    "MessageState",
    "PART_TRANSITIONS",
    "PartState",
    "TERMINAL_MESSAGE_STATES",
    "TERMINAL_PART_STATES",
    "check_part_transition",
    "check_transition",
]
