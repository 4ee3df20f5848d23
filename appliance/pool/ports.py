"""Where modems may appear: the static-port watcher and the description of a found port.

Knows: paths, globs, symlinks and how to notice one appearing or vanishing.
Must not know: AT commands, modems, SIMs.

Static ports (`modems.ports`) are watched like hot-plug: a serial-attached modem or a simulator's
pty symlink that appears is announced as added, one that vanishes as removed, and one that comes
back pointing at another tty is removed and added again. A few paths checked every half second
cost nothing measurable; inotify would not see a tty node that udev creates behind a symlink.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoundPort:
    """A serial port that may carry a modem's AT interface."""

    path: str  # what we open: the configured path or symlink, or the udev devnode
    device: str  # the real tty it resolves to (for telling a replug from the same port)
    source: str  # "static" or "udev"
    usb_id: str | None = None  # "12d1:1506"
    interface: int | None = None  # USB interface number (bInterfaceNumber)
    group: str | None = None  # the USB device this tty belongs to (siblings share it)
    vendor: str = ""
    product: str = ""


PortCallback = Callable[[FoundPort], None]


def is_char_device(path: str) -> bool:
    """A serial port is a character device; a dangling symlink or a regular file is not."""
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)  # follows symlinks
    except OSError:
        return False


def expand_patterns(patterns: Iterable[str]) -> list[str]:
    """Every serial device the configured patterns name, globs expanded, in a stable order."""
    seen: dict[str, None] = {}
    for pattern in patterns:
        paths = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        for path in paths:
            if is_char_device(path):
                seen.setdefault(path, None)
    return list(seen)


class StaticPortWatcher:
    """Announces configured ports appearing, vanishing and changing target."""

    def __init__(self, patterns: Iterable[str], *, on_added: PortCallback,
                 on_removed: PortCallback, interval: float = 0.5):
        self.patterns = list(patterns)
        self.on_added = on_added
        self.on_removed = on_removed
        self.interval = interval
        self.present: dict[str, FoundPort] = {}
        self._task: asyncio.Task | None = None

    def scan(self) -> None:
        """One look at the file system; announce the differences."""
        now: dict[str, FoundPort] = {}
        for path in expand_patterns(self.patterns):
            try:
                device = os.path.realpath(path)
            except OSError:
                continue
            now[path] = FoundPort(path=path, device=device, source="static")
        for path, port in list(self.present.items()):
            current = now.get(path)
            if current is None or current.device != port.device:
                del self.present[path]
                self.on_removed(port)
        for path, port in now.items():
            if path not in self.present:
                self.present[path] = port
                self.on_added(port)

    async def _run(self) -> None:
        while True:
            try:
                self.scan()
            except Exception:  # a watcher that dies silently would freeze the pool
                log.exception("static port scan failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        if self.patterns and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="static-ports")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
