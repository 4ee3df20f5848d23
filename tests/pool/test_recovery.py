"""Supervision: a modem that stops answering is reopened, then reset, with bounded backoff; a
flood of URCs does not starve commands; a SIM pulled or locked at run time shows, and comes
back when it is inserted or unlocked."""

from __future__ import annotations

import asyncio
import logging

import pytest

from appliance.modem.driver import Modem
from appliance.pool.supervisor import PoolState
from tests.pool.conftest import PoolRigFactory, fast_settings, wait_until

pytestmark = pytest.mark.slow  # end to end: run with -m 'not slow' for the fast layer


def _warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and text in r.getMessage()]


async def test_hang_cleared_by_reopening_needs_no_reset(
        make_pool: PoolRigFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="appliance.pool")
    async with make_pool() as rig:
        await rig.pool.start()
        sim, _ = rig.plug(0)
        sup = await rig.wait_state("modem0", PoolState.ready)
        sim.hang(clear_on="reopen")
        await wait_until(lambda: sup.status.recoveries == 1, "a recovery")
        await rig.wait_state("modem0", PoolState.ready)
        await wait_until(lambda: not sup.notice.failing, "a health poll answered again")
        assert sim.resets == 0
        assert len(_warnings(caplog, "not answering")) == 1
        assert len(_warnings(caplog, "recovered")) == 1
        assert [e[0] for e in rig.listener.events] == ["ready", "lost", "ready"]


async def test_hang_cleared_only_by_reset_is_reset(make_pool: PoolRigFactory) -> None:
    async with make_pool() as rig:
        await rig.pool.start()
        sim, _ = rig.plug(1)
        sup = await rig.wait_state("modem1", PoolState.ready)
        sim.hang(clear_on="reset")
        await wait_until(lambda: sup.status.recoveries == 1, "a recovery")
        assert sim.resets == 1  # AT+CFUN=1,1 was heard through the hang
        await rig.wait_state("modem1", PoolState.ready)
        assert any(line.text == "AT+CFUN=1,1" for line in sup.traffic.lines())


async def test_partial_hang_that_a_reopen_hides_escalates_to_a_reset(
        make_pool: PoolRigFactory) -> None:
    # Huawei sticks stop answering one command (+CMGL) and go on answering the rest: a reopen
    # looks like it helped, the next poll hangs again, and only a reset cures it.
    async with make_pool() as rig:
        await rig.pool.start()
        sim, _ = rig.plug(0)
        sup = await rig.wait_state("modem0", PoolState.ready)
        sim.hang(clear_on="reset", commands={"+CSQ"})
        await wait_until(lambda: sim.resets == 1, "the modem to be reset")
        await wait_until(lambda: not sup.notice.failing, "a health poll answered again")
        assert sup.status.state is PoolState.ready
        assert not sim.hung


async def test_modem_that_stays_hung_rests_with_one_log_line_then_comes_back(
        make_pool: PoolRigFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="appliance.pool")
    settings = fast_settings(reset_wait=0.5, backoff_first=0.05, backoff_cap=0.2)
    async with make_pool(settings=settings) as rig:
        await rig.pool.start()
        sim, _ = rig.plug(2)
        sup = await rig.wait_state("modem2", PoolState.ready)
        sim.hang(clear_on="never")
        await wait_until(lambda: sup.notice.failures >= 3, "three failed recovery rounds",
                         timeout=60)
        assert sup.status.state is not PoolState.ready
        assert not sup.ready
        # Every round was tried (reopen, reset) but the failure was logged once.
        assert sim.resets == 0  # a "never" hang does not even hear the reset
        assert len(_warnings(caplog, "not answering")) == 1
        sim.clear_hang()
        await rig.wait_state("modem2", PoolState.ready)
        await wait_until(lambda: not sup.notice.failing, "the recovery to be logged")
        assert len(_warnings(caplog, "recovered")) == 1


async def test_hung_at_plug_in_is_reset_not_just_reopened(make_pool: PoolRigFactory) -> None:
    async with make_pool() as rig:
        sim, _ = rig.plug(0)
        sim.hang(clear_on="reset")
        await rig.pool.start()
        await rig.wait_state("modem0", PoolState.ready)
        assert sim.resets == 1


async def test_urc_flood_does_not_starve_health_polls(make_pool: PoolRigFactory) -> None:
    async with make_pool(settings=fast_settings(command_timeout=1.0)) as rig:
        await rig.pool.start()
        sim, _ = rig.plug(0)
        sup = await rig.wait_state("modem0", PoolState.ready)
        modem = sup.modem
        assert modem is not None
        answers: list[float] = []
        for _ in range(30):  # ~0.6 s of chatter, 300 lines every 20 ms
            sim.flood_urcs(300, line="^RSSI:17")
            sim.flood_urcs(50, line="+CREG: 1")
            if modem.last_answer is not None and modem.last_answer not in answers:
                answers.append(modem.last_answer)
            await asyncio.sleep(0.02)
        await wait_until(lambda: modem.last_answer != answers[-1], "a poll answered after it")
        assert len(answers) >= 2  # polls kept being answered during the flood
        assert sup.status.recoveries == 0
        assert sup.status.state is PoolState.ready
        assert [e[0] for e in rig.listener.events] == ["ready"]


async def test_sim_removed_and_inserted_at_run_time(make_pool: PoolRigFactory) -> None:
    async with make_pool() as rig:
        await rig.pool.start()
        sim, _ = rig.plug(1)
        sup = await rig.wait_state("modem1", PoolState.ready)
        sim.remove_sim()
        await rig.wait_state("modem1", PoolState.no_sim)
        assert not sup.ready
        assert rig.listener.events[-1][0] == "lost"
        assert "SIM" in rig.listener.events[-1][2]
        sim.insert_sim()
        await rig.wait_state("modem1", PoolState.ready)
        assert [e[0] for e in rig.listener.events] == ["ready", "lost", "ready"]
        assert sup.status.recoveries == 0  # not a hang


async def test_sim_pin_without_configured_pin_waits(make_pool: PoolRigFactory) -> None:
    async with make_pool() as rig:
        await rig.pool.start()
        sim, _ = rig.plug(0, tweak=lambda p: setattr(p, "pin", "4321"))
        sup = await rig.wait_state("modem0", PoolState.pin_needed)
        assert "no PIN configured" in sup.status.reason
        await wait_until(lambda: sum(1 for line in sup.traffic.lines()
                                     if line.text == "AT+CPIN?") >= 3, "re-probes")
        assert sup.status.state is PoolState.pin_needed
        assert sim.pin_tries_left == 3  # nothing was guessed
        assert rig.listener.events == []


async def test_sim_pin_with_configured_pin_unlocks(make_pool: PoolRigFactory,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Modem] = []
    real_open = Modem.open

    async def recording_open(*args: object, **kwargs: object) -> Modem:
        modem = await real_open(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(modem)
        return modem

    monkeypatch.setattr(Modem, "open", recording_open)
    async with make_pool(settings=fast_settings(pin="4321")) as rig:
        await rig.pool.start()
        sim, _ = rig.plug(0, tweak=lambda p: setattr(p, "pin", "4321"))
        sup = await rig.wait_state("modem0", PoolState.ready)
        assert sim.sim_unlocked
        assert sup.status.identity.sim.iccid == sim.profile.iccid
        # The first opening (PIN withheld until the modem said who it is) was closed before
        # the second: two readers on one tty would take each other's answers.
        assert len(opened) >= 2
        assert [m for m in opened if not m.channel.closed] == [sup.modem]


async def test_wrong_configured_pin_is_sent_once_per_modem(make_pool: PoolRigFactory) -> None:
    # Re-probes, the profile re-match, a reopen and a re-plug each make a new driver object;
    # none of them may send the refused PIN again: three wrong PINs block the SIM.
    async with make_pool(settings=fast_settings(pin="0000")) as rig:
        await rig.pool.start()
        sim, port = rig.plug(0, tweak=lambda p: setattr(p, "pin", "4321"))
        sup = await rig.wait_state("modem0", PoolState.pin_needed)
        assert "refused" in sup.status.reason
        await wait_until(lambda: sum(1 for line in sup.traffic.lines()
                                     if line.text == "AT+CPIN?") >= 4, "re-probes")
        assert sim.pin_tries_left == 2
        port.unplug()
        await wait_until(lambda: rig.supervisor("modem0") is None, "the unplug to be seen")
        port.replug(symlink=rig.folder / "modem5")
        again = await rig.wait_state("modem5", PoolState.pin_needed)
        await wait_until(lambda: sum(1 for line in again.traffic.lines()
                                     if line.text == "AT+CPIN?") >= 3, "re-probes")
        assert "refused" in again.status.reason
        assert sim.pin_tries_left == 2
        assert not any(line.text.startswith("AT+CPIN=") for line in again.traffic.lines())


async def test_modem_silent_after_an_unanswered_cmgs_is_still_recovered(
        make_pool: PoolRigFactory) -> None:
    # The dispatcher's path after an ambiguous part: check_alive() finds the modem silent;
    # the supervisor's own recovery (reopen, then AT+CFUN=1,1) still brings it back.
    from appliance.modem.contract import PartAmbiguous
    from appliance.pdu import encode_submit

    async with make_pool() as rig:
        await rig.pool.start()
        sim, _ = rig.plug(0)
        sup = await rig.wait_state("modem0", PoolState.ready)
        assert sup.modem is not None
        (part,) = encode_submit("+8613912345678", "pump 3 pressure low")
        sim.swallow_next_sends(1)
        with pytest.raises(PartAmbiguous):
            await sup.modem.send_part(part.pdu, part.tpdu_length, timeout=0.2)
        sim.hang(clear_on="reset")  # the +CMGS was taken; now the firmware stops answering
        assert await sup.modem.check_alive(timeout=0.2) is False
        await wait_until(lambda: sup.status.recoveries == 1, "a recovery")
        assert sim.resets == 1
        sup = await rig.wait_state("modem0", PoolState.ready)
        assert sup.modem is not None and await sup.modem.check_alive() is True
