"""USB modem discovery through udev (pyudev), its monitor on the asyncio loop.

Knows: udev devices, their USB parents, vendor/product ids and interface numbers.
Must not know: AT commands, modems' behaviour, profiles (it reports what it sees; the pool
decides which ports to probe).

At start every tty with a USB parent is announced; then add/remove uevents are followed through
`pyudev.Monitor`, whose netlink socket is read from the event loop (`loop.add_reader`) — no
polling thread. Where udev is not running (containers, CI: no /run/udev) the monitor would
receive nothing, so discovery says so once and stays off; static ports still work.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from appliance.pool.ports import FoundPort, PortCallback

log = logging.getLogger(__name__)


def udev_available() -> tuple[bool, str]:
    """Whether udev discovery can work here, and why not when it cannot."""
    try:
        import pyudev  # noqa: F401
    except ImportError as exc:  # pragma: no cover - pyudev is a dependency
        return False, f"pyudev cannot be imported: {exc}"
    # umockdev's preload library fakes sysfs and uevents; it sets this variable.
    if os.environ.get("UMOCKDEV_DIR"):
        return True, ""
    if not os.path.isdir("/run/udev"):
        return False, "no /run/udev (no udev daemon: a container or CI?)"
    return True, ""


def _attr(device, name: str) -> str:
    try:
        value = device.attributes.asstring(name)
    except (KeyError, UnicodeDecodeError, AttributeError):
        return ""
    return value.strip()


def describe_tty(device) -> FoundPort | None:
    """A FoundPort for a tty udev device with a USB parent; None for any other tty."""
    devnode = device.device_node
    if not devnode:
        return None
    usb_device = device.find_parent("usb", "usb_device")
    if usb_device is None:
        return None
    interface = device.find_parent("usb", "usb_interface")
    number: int | None = None
    if interface is not None:
        raw = _attr(interface, "bInterfaceNumber")
        try:
            number = int(raw, 16)
        except ValueError:
            number = None
    vendor_id = _attr(usb_device, "idVendor").lower()
    product_id = _attr(usb_device, "idProduct").lower()
    return FoundPort(
        path=devnode,
        device=devnode,
        source="udev",
        usb_id=f"{vendor_id}:{product_id}" if vendor_id and product_id else None,
        interface=number,
        group=usb_device.sys_path,
        vendor=_attr(usb_device, "manufacturer"),
        product=_attr(usb_device, "product"),
    )


class UdevDiscovery:
    """Announces USB ttys found at start and as they are plugged in or out."""

    def __init__(self, *, on_added: PortCallback, on_removed: PortCallback,
                 context_factory: Callable[[], object] | None = None):
        self.on_added = on_added
        self.on_removed = on_removed
        self.present: dict[str, FoundPort] = {}
        self._context_factory = context_factory
        self._monitor = None
        self._fd: int | None = None
        self.active = False
        self.reason = ""

    def start(self) -> bool:
        """Enumerate and start following events; False (logged once) where udev is absent."""
        ok, why = udev_available()
        if not ok:
            self.reason = why
            log.warning("USB autodetection is off: %s; static ports still work", why)
            return False
        import pyudev

        context = self._context_factory() if self._context_factory else pyudev.Context()
        try:
            monitor = pyudev.Monitor.from_netlink(context)
            monitor.filter_by("tty")
            monitor.start()
        except (OSError, ValueError) as exc:
            self.reason = f"udev monitor failed: {exc}"
            log.warning("USB autodetection is off: %s; static ports still work", self.reason)
            return False
        self._monitor = monitor
        self._fd = monitor.fileno()
        asyncio.get_running_loop().add_reader(self._fd, self._on_readable)
        # Enumerate after the monitor is listening, so a plug in between is not missed.
        for device in context.list_devices(subsystem="tty"):
            self._add(device)
        self.active = True
        return True

    def _add(self, device) -> None:
        port = describe_tty(device)
        if port is None or port.path in self.present:
            return
        self.present[port.path] = port
        self.on_added(port)

    def _on_readable(self) -> None:
        assert self._monitor is not None
        while True:
            device = self._monitor.poll(timeout=0)
            if device is None:
                return
            try:
                if device.action == "add":
                    self._add(device)
                elif device.action == "remove":
                    port = self.present.pop(device.device_node or "", None)
                    if port is not None:
                        self.on_removed(port)
            except Exception:  # one odd device must not stop discovery
                log.exception("udev event for %s not handled", device)

    async def stop(self) -> None:
        if self._fd is not None:
            asyncio.get_running_loop().remove_reader(self._fd)
            self._fd = None
        self._monitor = None
        self.active = False
