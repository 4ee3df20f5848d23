"""Run under `umockdev-run` by test_udev.py, with Debian's python3 (it has `gi`): a fake USB
modem in a UMockdev testbed, seen through the real UdevDiscovery (pyudev enumeration, then its
monitor's fd on the asyncio loop). Prints one JSON object with what was announced.

Knows: UMockdev's testbed API. Must not know: anything the test asserts (it only reports).
"""

from __future__ import annotations

import asyncio
import json
import sys

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

from appliance.pool.ports import FoundPort  # noqa: E402
from appliance.pool.udev import UdevDiscovery  # noqa: E402


def _port(port: FoundPort) -> dict[str, object]:
    return {"path": port.path, "usb_id": port.usb_id, "interface": port.interface,
            "group": port.group, "vendor": port.vendor, "product": port.product}


def _add_tty(testbed: UMockdev.Testbed, usb: str, number: int, tty: str) -> str:
    interface = testbed.add_device(
        "usb", f"1-1:1.{number}", usb, ["bInterfaceNumber", f"{number:02x}"],
        ["DEVTYPE", "usb_interface"])
    return testbed.add_device("tty", tty, interface, [],
                               ["DEVNAME", f"/dev/{tty}", "SUBSYSTEM", "tty"])


async def main() -> dict[str, object]:
    testbed = UMockdev.Testbed.new()
    # A Quectel EC25 (2c7c:0125): four ttys on interfaces 0-3, AT on interface 2.
    usb = testbed.add_device(
        "usb", "usb1/1-1", None,
        ["idVendor", "2c7c", "idProduct", "0125", "manufacturer", "Quectel", "product", "EC25"],
        ["DEVTYPE", "usb_device", "ID_SERIAL_SHORT", "0123456789"])
    for number in range(3):
        _add_tty(testbed, usb, number, f"ttyUSB{number}")
    # A tty with no USB parent (a UART): never announced.
    testbed.add_device("tty", "ttyS0", None, [], ["DEVNAME", "/dev/ttyS0"])

    added: list[FoundPort] = []
    removed: list[FoundPort] = []
    event = asyncio.Event()

    def on_added(port: FoundPort) -> None:
        added.append(port)
        event.set()

    def on_removed(port: FoundPort) -> None:
        removed.append(port)
        event.set()

    discovery = UdevDiscovery(on_added=on_added, on_removed=on_removed)
    started = discovery.start()
    enumerated = [_port(p) for p in added]

    async def wait(what: list[FoundPort], count: int) -> None:
        async with asyncio.timeout(10):
            while len(what) < count:
                event.clear()
                await event.wait()

    # Plugged while running: the last tty appears with an "add" uevent.
    late = _add_tty(testbed, usb, 3, "ttyUSB3")
    testbed.uevent(late, "add")
    await wait(added, len(enumerated) + 1)
    # Unplugged: a "remove" uevent (umockdev does not send one by itself).
    testbed.uevent(late, "remove")
    await wait(removed, 1)
    await discovery.stop()
    return {"started": started, "reason": discovery.reason, "enumerated": enumerated,
            "hotplugged": _port(added[-1]), "removed": _port(removed[0])}


if __name__ == "__main__":
    json.dump(asyncio.run(main()), sys.stdout)
