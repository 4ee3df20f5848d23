"""Which tty of a stick carries AT (profile data, else probing), and which profile a modem gets
(USB id, then what the modem says about itself once it answers)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.pool.ports import FoundPort
from appliance.pool.probe import find_at_port
from appliance.pool.supervisor import PoolState
from appliance.sim import SimProfile, SimulatedModem, SimulatedStick, make_profile
from tests.pool.conftest import SEED, PoolRig, PoolRigFactory, wait_until


def _stick(folder: Path, index: int, *, tweak: Callable[[SimProfile], None] | None = None,
           **kwargs: object) -> SimulatedStick:
    profile = make_profile(index, SEED)
    if tweak is not None:
        tweak(profile)
    modem = SimulatedModem(profile, reboot_time=0.05)
    return SimulatedStick(modem, symlink_prefix=folder / "usb", **kwargs).start()  # type: ignore[arg-type]


def _announce(rig: PoolRig, stick: SimulatedStick, usb_id: str) -> None:
    """What UdevDiscovery reports for each tty of a stick: USB id, interface, shared parent."""
    for number, path in enumerate(stick.paths):
        rig.pool.udev.on_added(FoundPort(path=path, device=path, source="udev", usb_id=usb_id,
                                         interface=number, group="/sys/devices/usb1/1-1"))


@pytest.mark.parametrize(("at_port", "other"), [(2, "mixed"), (0, "garbage"), (1, "silent")])
async def test_probe_finds_the_one_tty_that_answers_at(tmp_path: Path, at_port: int,
                                                       other: str) -> None:
    stick = _stick(tmp_path, 0, port_count=3, at_port=at_port, other=other)
    try:
        found = await find_at_port(stick.paths, tries=2, timeout=0.3)
        assert found == stick.paths[at_port]
    finally:
        stick.unplug()
        stick.modem.close()


async def test_probe_of_a_stick_that_never_answers_finds_nothing(tmp_path: Path) -> None:
    stick = _stick(tmp_path, 0, port_count=3, at_port=1, other="garbage")
    stick.modem.hang(clear_on="never")
    try:
        assert await find_at_port(stick.paths, tries=2, timeout=0.2) is None
    finally:
        stick.unplug()
        stick.modem.close()


@pytest.mark.parametrize(("model", "profile"), [("E3372", "huawei-e3372"),
                                                ("E3131", "huawei-e3131")])
async def test_stick_without_known_at_interface_is_probed_and_matched_by_identity(
        make_pool: PoolRigFactory, model: str, profile: str) -> None:
    # 12d1:1506 is shared by the E3372 and the E3131 and no profile knows the AT interface
    # (it depends on AT^SETPORT): the pool probes the ttys, then asks the modem what it is.
    async with make_pool(pattern="none") as rig:
        await rig.pool.start()
        stick = _stick(rig.folder, 0, tweak=lambda p: setattr(p, "model", model),
                       port_count=3, at_port=2, other="mixed")
        try:
            _announce(rig, stick, "12d1:1506")
            await wait_until(lambda: rig.pool.supervisors, "probing to pick a port")
            assert list(rig.pool.supervisors) == [stick.paths[2]]
            assert rig.pool.ignored == {stick.paths[0]: "did not answer AT",
                                        stick.paths[1]: "did not answer AT"}
            sup = rig.pool.supervisors[stick.paths[2]]
            await wait_until(lambda: sup.status.state is PoolState.ready, "bring-up")
            assert sup.status.profile == profile
            assert sup.status.usb_id == "12d1:1506"
        finally:
            stick.unplug()
            stick.modem.close()


@pytest.mark.parametrize(("model", "profile"), [("EC25", "quectel-ec25"),
                                                ("EC20F", "quectel-ec20")])
async def test_profile_naming_the_at_interface_skips_probing(
        make_pool: PoolRigFactory, model: str, profile: str) -> None:
    async with make_pool(pattern="none") as rig:
        await rig.pool.start()
        stick = _stick(rig.folder, 1, tweak=lambda p: setattr(p, "model", model),
                       port_count=4, at_port=2, other="garbage")
        try:
            _announce(rig, stick, "2c7c:0125")
            # Decided from data alone, at once: no settle time, no AT sent to the others.
            assert list(rig.pool.supervisors) == [stick.paths[2]]
            assert rig.pool.ignored == {stick.paths[n]: f"interface {n} is not AT"
                                        for n in (0, 1, 3)}
            sup = rig.pool.supervisors[stick.paths[2]]
            await wait_until(lambda: sup.status.state is PoolState.ready, "bring-up")
            assert sup.status.profile == profile
            assert stick.devices[0].received == b""
        finally:
            stick.unplug()
            stick.modem.close()


@pytest.mark.parametrize(("index", "tweak", "profile"), [
    (0, None, "huawei-e3372"),
    (1, None, "quectel-ec25"),
    (2, None, "simcom-sim7600"),
    (0, {"manufacturer": "Acme", "model": "X1"}, "generic"),
])
async def test_static_port_gets_its_profile_from_the_modems_identity(
        make_pool: PoolRigFactory, index: int, tweak: dict[str, str] | None,
        profile: str) -> None:
    async with make_pool() as rig:
        await rig.pool.start()
        rig.plug(index, tweak=(lambda p: p.__dict__.update(tweak)) if tweak else None)
        sup = await rig.wait_state(f"modem{index}", PoolState.ready)
        assert sup.status.profile == profile
        assert sup.profile.name == profile
        assert sup.modem is not None and sup.modem.profile.name == profile


async def test_rematched_profile_is_what_drives_the_modem(make_pool: PoolRigFactory) -> None:
    async with make_pool() as rig:
        await rig.pool.start()
        rig.plug(0)
        sup = await rig.wait_state("modem0", PoolState.ready)
        assert sup.status.profile == "huawei-e3372"
        sent = [line.text for line in sup.traffic.lines() if line.direction == ">"]
        # The E3372 profile's init and ICCID command, which the generic profile lacks.
        assert "AT^CURC=0" in sent
        assert "AT^ICCID?" in sent
        assert sup.status.identity.sim.iccid


async def test_modem_behind_a_usb_serial_adapter_is_matched_by_identity(
        make_pool: PoolRigFactory) -> None:
    async with make_pool(pattern="none") as rig:
        await rig.pool.start()
        stick = _stick(rig.folder, 2, port_count=1, at_port=0,
                       tweak=lambda p: p.__dict__.update(manufacturer="SIMCOM_Ltd",
                                                         model="SIMCOM_SIM800"))
        try:
            _announce(rig, stick, "1a86:7523")  # a CH340: says only "serial port"
            sup = rig.pool.supervisors[stick.paths[0]]
            assert sup.status.profile == "usb-serial-ch340"
            await wait_until(lambda: sup.status.state is PoolState.ready, "bring-up")
            assert sup.status.profile == "simcom-sim800"
        finally:
            stick.unplug()
            stick.modem.close()
