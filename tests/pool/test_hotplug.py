"""Hot-plug through the static-port watcher: a pty symlink appearing, vanishing, coming back on
another path; what the pool shows of each modem (the /modems view) and its traffic log."""

from __future__ import annotations

import asyncio
import logging
import os
import time

import pytest

from appliance.api.modems import modem_view
from appliance.modem.contract import PartAmbiguous, PartNotSent
from appliance.modem.signal import csq_to_dbm, dbm_to_bars
from appliance.pdu import encode_submit
from appliance.pool.supervisor import PoolState
from appliance.pool.udev import udev_available
from tests.pool.conftest import PoolRigFactory, fast_settings, wait_until


async def test_symlink_appearing_brings_a_modem_up(make_pool: PoolRigFactory) -> None:
    async with make_pool() as rig:
        await rig.pool.start()
        assert rig.pool.all() == []
        sim, _ = rig.plug(0)
        sup = await rig.wait_state("modem0", PoolState.ready)
        assert sup.status.identity.imei == sim.profile.imei
        assert sup.status.identity.sim.iccid == sim.profile.iccid
        assert rig.pool.ready() == [sup]
        assert rig.listener.events == [("ready", str(rig.folder / "modem0"), "")]


async def test_ports_present_at_start_are_announced_before_start_returns(
        make_pool: PoolRigFactory) -> None:
    async with make_pool() as rig:
        rig.plug(0)
        rig.plug(1)
        await rig.pool.start()
        assert sorted(rig.pool.supervisors) == [str(rig.folder / "modem0"),
                                                str(rig.folder / "modem1")]
        await rig.wait_state("modem0", PoolState.ready)
        await rig.wait_state("modem1", PoolState.ready)


async def test_only_character_devices_matching_the_glob_are_ports(
        make_pool: PoolRigFactory) -> None:
    async with make_pool() as rig:
        (rig.folder / "modem0.jsonl").write_text("{}\n")  # the simulator's record file
        os.symlink(rig.folder / "nowhere", rig.folder / "modem-dangling")
        rig.plug(1)
        await rig.pool.start()
        await rig.wait_state("modem1", PoolState.ready)
        assert list(rig.pool.supervisors) == [str(rig.folder / "modem1")]


async def test_symlink_vanishing_shows_the_modem_gone(make_pool: PoolRigFactory) -> None:
    async with make_pool() as rig:
        await rig.pool.start()
        sim, port = rig.plug(0)
        sup = await rig.wait_state("modem0", PoolState.ready)
        port.unplug()
        await wait_until(lambda: rig.supervisor("modem0") is None, "the port to be dropped")
        assert sup.status.state is PoolState.gone
        assert rig.pool.ready() == []
        # Still listed, as gone, so the technician sees which stick fell out and since when.
        assert rig.pool.all() == [sup]
        assert modem_view(sup)["state"] == "gone"
        assert modem_view(sup)["imei"] == sim.profile.imei
        assert [e[0] for e in rig.listener.events] == ["ready", "lost"]


async def test_replug_on_another_path_keeps_identity_and_history(
        make_pool: PoolRigFactory) -> None:
    async with make_pool() as rig:
        await rig.pool.start()
        sim, port = rig.plug(0)
        first = await rig.wait_state("modem0", PoolState.ready)
        old_tty = port.path
        port.unplug()
        await wait_until(lambda: rig.supervisor("modem0") is None, "the unplug to be seen")
        port.replug(symlink=rig.folder / "modem7")  # another USB port: another name
        assert port.path != old_tty
        second = await rig.wait_state("modem7", PoolState.ready)
        assert second is not first
        assert second.status.identity.imei == first.status.identity.imei == sim.profile.imei
        assert second.status.identity.sim.iccid == sim.profile.iccid
        entry = rig.pool.history[sim.profile.imei]
        assert entry.plugs == 2
        assert entry.ports == [str(rig.folder / "modem0"), str(rig.folder / "modem7")]
        assert entry.iccids == [sim.profile.iccid]
        # Back: no longer listed as gone beside its live self.
        assert rig.pool.all() == [second]
        assert rig.pool.find_by_iccid(sim.profile.iccid) is second


async def test_same_symlink_pointing_at_a_new_tty_is_a_replug(
        make_pool: PoolRigFactory) -> None:
    async with make_pool() as rig:
        await rig.pool.start()
        _, port = rig.plug(0)
        first = await rig.wait_state("modem0", PoolState.ready)
        port.replug()  # same symlink name, new pts behind it, faster than one rescan
        await wait_until(lambda: (s := rig.supervisor("modem0")) is not None and s is not first
                         and s.status.state is PoolState.ready, "the new tty to be brought up")
        assert first.status.state is PoolState.gone
        assert rig.supervisor("modem0").modem.channel.name == str(rig.folder / "modem0")


async def test_status_shows_signal_operator_registration(make_pool: PoolRigFactory) -> None:
    async with make_pool() as rig:
        await rig.pool.start()
        sim, _ = rig.plug(1)
        before = time.time()
        sup = await rig.wait_state("modem1", PoolState.ready)
        view = modem_view(sup)
        assert view["signal"]["rssi"] == sim.profile.signal
        assert view["signal"]["dbm"] == csq_to_dbm(sim.profile.signal)
        assert view["signal"]["bars"] == dbm_to_bars(csq_to_dbm(sim.profile.signal))
        assert view["sim"]["operator"] == sim.profile.operator_name
        assert view["sim"]["operator_code"] == sim.profile.mcc_mnc
        assert view["registration"] == "home"
        assert view["model"] == sim.profile.model
        assert sup.status.since >= before - 1

        sim.set_signal(25)  # the health poll follows the radio
        await wait_until(lambda: sup.status.dbm == -63, "the new signal to be polled")
        assert sup.status.bars == 5
        sim.deregister()
        await wait_until(lambda: sup.status.registration == "not_registered",
                         "the lost registration to be polled")


async def test_state_and_signal_changes_are_told_for_live_views(
        make_pool: PoolRigFactory) -> None:
    """The console's dashboard redraws on these (via the hub) instead of polling the pool."""
    from appliance.pool.events import ModemStatusChanged

    async with make_pool() as rig:
        told: list[ModemStatusChanged] = []

        class StatusListener:
            def pool_event(self, event: object) -> None:
                if isinstance(event, ModemStatusChanged):
                    told.append(event)

        rig.pool.listeners.append(StatusListener())
        await rig.pool.start()
        sim, _ = rig.plug(1)
        await rig.wait_state("modem1", PoolState.ready)
        port = str(rig.folder / "modem1")
        assert told[-1].state == "ready" and told[-1].port == port
        assert told[-1].iccid == sim.profile.iccid
        assert "probing" in [e.state for e in told]
        sim.set_signal(25)
        await wait_until(lambda: told[-1].dbm == -63, "the new signal to be told")
        assert told[-1].bars == 5
        count = len(told)
        await asyncio.sleep(0.3)  # polls that read the same signal tell nothing
        assert len(told) == count


async def test_traffic_log_is_a_bounded_ring_of_both_directions(
        make_pool: PoolRigFactory) -> None:
    async with make_pool(settings=fast_settings(traffic_lines=25)) as rig:
        await rig.pool.start()
        rig.plug(0)
        sup = await rig.wait_state("modem0", PoolState.ready)
        # Bring-up alone writes more than 25 lines; polls keep adding.
        await wait_until(lambda: sum(1 for line in sup.traffic.lines()
                                     if line.text == "AT+CSQ") >= 2, "two health polls")
        lines = sup.traffic.lines()
        assert len(lines) == 25
        assert {line.direction for line in lines} == {">", "<"}
        assert [line.at for line in lines] == sorted(line.at for line in lines)
        assert not any(line.text == "ATE0" for line in lines)  # the oldest fell off


async def test_unplug_mid_send_is_ambiguous_and_tells_the_listener(
        make_pool: PoolRigFactory) -> None:
    async with make_pool() as rig:
        await rig.pool.start()
        sim, port = rig.plug(0, latency=5.0)  # the network takes its time to answer +CMGS
        sup = await rig.wait_state("modem0", PoolState.ready)
        part = encode_submit("+8613800138000", "vanishing")[0]
        send = asyncio.ensure_future(sup.modem.send_part(part.pdu, part.tpdu_length))
        await wait_until(lambda: sim.accepted, "the PDU to reach the modem")
        port.unplug()
        with pytest.raises(PartAmbiguous):  # written, then gone: maybe sent, never resent
            await asyncio.wait_for(send, 10)
        await wait_until(lambda: ("lost", str(rig.folder / "modem0")) in
                         [e[:2] for e in rig.listener.events], "the dispatcher to be told")
        assert not sup.ready
        with pytest.raises(PartNotSent):
            await asyncio.wait_for(_send_on_closed(sup, part), 10)


async def _send_on_closed(sup, part) -> int:  # type: ignore[no-untyped-def]
    """What a dispatcher still holding the old modem gets: not sent, so it may retry."""
    from appliance.pool.sender import SupervisedSender

    return await SupervisedSender(sup).send_part(part.pdu, part.tpdu_length)


@pytest.mark.skipif(udev_available()[0], reason="udev is running here: nothing to fall back from")
async def test_without_udev_autodetect_says_so_once_and_static_ports_work(
        make_pool: PoolRigFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="appliance.pool")
    async with make_pool(autodetect=True) as rig:
        rig.plug(0)
        await rig.pool.start()
        await rig.wait_state("modem0", PoolState.ready)
        assert not rig.pool.udev.active
        assert rig.pool.udev.reason
        notes = [r for r in caplog.records if "autodetection is off" in r.getMessage()]
        assert len(notes) == 1


async def test_registration_changes_reach_the_listener_at_once(make_pool: PoolRigFactory) -> None:
    # Long polls: the +CREG URC itself must carry the change to the dispatcher.
    async with make_pool(settings=fast_settings(poll_interval=60.0)) as rig:
        await rig.pool.start()
        sim, _ = rig.plug(0)
        sup = await rig.wait_state("modem0", PoolState.ready)
        port = str(rig.folder / "modem0")
        sim.deny_registration()
        await wait_until(lambda: (port, "denied") in rig.listener.registrations, "denied")
        assert sup.status.registered is False
        sim.register()
        await wait_until(lambda: rig.listener.registrations[-1] == (port, "home"), "home again")
        assert sup.status.registered is True
