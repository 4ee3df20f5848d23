"""The message and part life cycles, tested as tables."""

from __future__ import annotations

import itertools

import pytest

from appliance.store.states import (
    ALLOWED,
    PART_TRANSITIONS,
    TERMINAL_MESSAGE_STATES,
    TERMINAL_PART_STATES,
    InvalidTransition,
    MessageState,
    PartState,
    check_part_transition,
    check_transition,
)

M = MessageState
P = PartState

ALLOWED_PAIRS = [(old, new) for old, exits in ALLOWED.items() for new in sorted(exits)]
FORBIDDEN_PAIRS = [
    (old, new)
    for old, new in itertools.product(MessageState, MessageState)
    if new not in ALLOWED[old]
]


def test_every_state_has_a_row():
    assert set(ALLOWED) == set(MessageState)
    assert set(PART_TRANSITIONS) == set(PartState)


@pytest.mark.parametrize(("old", "new"), ALLOWED_PAIRS)
def test_allowed_message_transitions_pass(old, new):
    check_transition(old, new)
    check_transition(old.value, new.value)  # plain strings, as read from the database


@pytest.mark.parametrize(("old", "new"), FORBIDDEN_PAIRS)
def test_forbidden_message_transitions_raise_naming_both(old, new):
    with pytest.raises(InvalidTransition) as info:
        check_transition(old, new)
    assert old.value in str(info.value) and new.value in str(info.value)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (M.SENDING, M.CANCELLED),  # too late to cancel
        (M.SENT, M.QUEUED),  # never resend a sent message
        (M.HELD, M.SENDING),  # a held message must be released first
        (M.QUEUED, M.SENT),
        (M.QUEUED, M.QUEUED),
    ],
)
def test_rules_that_matter_are_forbidden(old, new):
    with pytest.raises(InvalidTransition):
        check_transition(old, new)


def test_terminal_states_have_no_exits():
    assert TERMINAL_MESSAGE_STATES == {M.DELIVERED, M.FAILED, M.EXPIRED, M.CANCELLED}
    assert TERMINAL_PART_STATES == {P.DELIVERED, P.FAILED}
    for state in TERMINAL_MESSAGE_STATES:
        for new in MessageState:
            with pytest.raises(InvalidTransition):
                check_transition(state, new)


def test_every_non_terminal_state_can_reach_a_terminal_one():
    for start in MessageState:
        seen, todo = {start}, [start]
        while todo:
            for nxt in ALLOWED[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        assert seen & TERMINAL_MESSAGE_STATES, start


@pytest.mark.parametrize(
    ("old", "new"),
    [(old, new) for old, exits in PART_TRANSITIONS.items() for new in sorted(exits)],
)
def test_allowed_part_transitions_pass(old, new):
    check_part_transition(old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [(P.SENT, P.PENDING), (P.PENDING, P.SENT), (P.DELIVERED, P.FAILED), (P.FAILED, P.PENDING)],
)
def test_forbidden_part_transitions_raise(old, new):
    with pytest.raises(InvalidTransition, match=f"part cannot go from {old} to {new}"):
        check_part_transition(old, new)


def test_unknown_state_is_refused():
    with pytest.raises(InvalidTransition, match="bogus"):
        check_transition("queued", "bogus")


def test_a_late_cmgs_answer_may_settle_an_ambiguous_part_and_message_as_sent():
    # The modem answered +CMGS after the timeout: the part left, with its reference.
    check_part_transition(P.AMBIGUOUS, P.SENT)
    check_transition(M.AMBIGUOUS, M.SENT)
