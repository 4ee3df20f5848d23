"""Hang detection and reset through the profile's reset command."""

from __future__ import annotations

import dataclasses

from appliance.modem.profile import ModemProfile
from appliance.modem.state import ModemState

from .conftest import RigFactory


async def test_hung_modem_is_reset_and_comes_back_ready(
    make_rig: RigFactory, generic: ModemProfile,
) -> None:
    quick = dataclasses.replace(generic, hang_timeout=0.2, reset_wait=10.0)
    async with make_rig(0, profile=quick, command_timeout=0.5) as rig:
        rig.sim.hang(clear_on="reset")  # silent to everything but AT+CFUN=1,1
        await rig.modem.refresh_status()  # the health poll times out...
        assert rig.modem.hung  # ...and the supervisor sees a hung modem
        resets_before = rig.sim.resets
        assert await rig.modem.reset() == ModemState.READY, rig.modem.state_reason
        assert rig.sim.resets == resets_before + 1
        assert not rig.modem.hung
        # Power-on defaults were restored by the reboot; initialisation set them again.
        assert rig.sim.echo is False and rig.sim.cnmi == (2, 1, 0, 2, 0)


async def test_reset_of_a_modem_that_never_answers_reports_gone(
    make_rig: RigFactory, generic: ModemProfile,
) -> None:
    quick = dataclasses.replace(generic, reset_wait=1.0)
    async with make_rig(0, profile=quick, command_timeout=0.5) as rig:
        rig.sim.hang(clear_on="never")
        assert await rig.modem.reset() == ModemState.GONE
        assert "after reset" in rig.modem.state_reason


async def test_rest_and_wake(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        rig.modem.rest("3 failures in a row")
        assert rig.modem.state == ModemState.RESTING
        rig.modem.wake()
        assert rig.modem.state == ModemState.READY
