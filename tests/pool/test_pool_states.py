"""PoolState's transition table, tested as a table (like appliance/store/states.py's)."""

from __future__ import annotations

import pytest

from appliance.pool.supervisor import (
    POOL_TRANSITIONS,
    InvalidPoolTransition,
    PoolState,
    check_transition,
)

P = PoolState


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        (P.probing, P.ready, True),  # bring-up
        (P.probing, P.pin_needed, True),
        (P.probing, P.resting, True),  # bring-up found nothing answering: recovery
        (P.ready, P.resting, True),  # a hang
        (P.ready, P.no_sim, True),  # SIM pulled (health poll, +CPIN URC)
        (P.ready, P.gone, True),  # unplugged
        (P.no_sim, P.ready, True),  # SIM inserted, seen by the re-probe
        (P.pin_needed, P.ready, True),
        (P.resting, P.probing, True),  # reopening
        (P.resting, P.ready, True),  # a reset brought it back
        (P.resting, P.gone, True),
        (P.ready, P.ready, True),  # staying (a new reason) is no move
        (P.gone, P.gone, True),
        (P.gone, P.probing, False),  # a re-plugged modem gets a new supervisor
        (P.gone, P.ready, False),
        (P.gone, P.resting, False),
    ],
)
def test_transition_table(old: PoolState, new: PoolState, allowed: bool) -> None:
    if allowed:
        check_transition(old, new)
    else:
        with pytest.raises(InvalidPoolTransition, match=f"from {old} to {new}"):
            check_transition(old, new)


def test_every_state_has_its_row_and_every_live_state_can_be_lost() -> None:
    assert set(POOL_TRANSITIONS) == set(PoolState)
    for state, targets in POOL_TRANSITIONS.items():
        assert state is P.gone or P.gone in targets
        assert state is P.gone or P.resting in targets or state is P.resting


def test_gone_is_final() -> None:
    assert POOL_TRANSITIONS[P.gone] == frozenset()
