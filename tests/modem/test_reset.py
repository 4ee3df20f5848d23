"""Hang detection and reset through the profile's reset command."""

from __future__ import annotations

import asyncio
import dataclasses

from appliance.modem.driver import Modem
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


async def test_reopen_then_reset_of_a_hung_modem_skips_the_long_resync(
    make_rig: RigFactory, generic: ModemProfile,
) -> None:
    # The supervisor's path: the hung modem's port is reopened (no help: the firmware is
    # stuck), probing fails, then reset. With the profile's full resync (3 x 20 s here)
    # before the reset command this would take a minute; a known-hung modem gets one short
    # probe at most.
    slow_resync = dataclasses.replace(
        generic, reset_wait=10.0,
        serial=dataclasses.replace(generic.serial, resync_timeout=20.0, probe_tries=2),
    )
    async with make_rig(0, profile=slow_resync, command_timeout=0.5) as rig:
        rig.sim.hang(clear_on="reset")
        await rig.modem.close()
        rig.modem = await Modem.open(rig.port.path, slow_resync, command_timeout=0.5)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await rig.modem.initialize() == ModemState.GONE  # no answer to AT
        heard_before_reset = len(rig.sim.heard)
        assert await rig.modem.reset() == ModemState.READY, rig.modem.state_reason
        assert loop.time() - started < 15.0
        after = list(rig.sim.heard)[heard_before_reset:]
        # At most one bare AT resync probe before the reset command.
        assert after.index("AT+CFUN=1,1") <= 1, after
        assert rig.sim.resets == 1


async def test_resync_knobs_come_from_the_profile(
    make_rig: RigFactory, generic: ModemProfile,
) -> None:
    custom = dataclasses.replace(
        generic, serial=dataclasses.replace(generic.serial, resync_tries=5, resync_timeout=0.25))
    async with make_rig(0, profile=custom) as rig:
        assert (rig.modem.channel.resync_tries, rig.modem.channel.resync_timeout) == (5, 0.25)
