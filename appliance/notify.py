"""What the appliance tells systemd, and when (sd_notify over sdnotify).

Knows: the sd_notify protocol as systemd(1) speaks it — READY=1 once the HTTP server listens
and the parts are started, WATCHDOG=1 at half of WATCHDOG_USEC, STATUS= a one-line summary,
STOPPING=1 when shutdown begins — and the environment that switches it on (NOTIFY_SOCKET,
WATCHDOG_USEC, WATCHDOG_PID). Without NOTIFY_SOCKET (a terminal, the demo, the tests) every call
is a no-op. Must not know: sanic beyond its listeners, SQL, how any part works inside.

The watchdog pings come from a task on the appliance's own event loop, never from a thread: a
thread would keep pinging while the loop is stuck (a blocking call, a runaway coroutine), which is
exactly the hang systemd must restart. So a ping proves that the loop still turns; the interval is
half the timeout, as sd_watchdog_enabled(3) recommends, so one late turn does not kill it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import sdnotify

if TYPE_CHECKING:
    from sanic import Sanic

    from appliance.app import Appliance

log = logging.getLogger(__name__)

STATUS_INTERVAL = 30.0
"""Seconds between STATUS= refreshes (a store read, on a reader thread; `systemctl status`
shows the line, nobody polls it)."""

NOTIFY_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between pings, or None when systemd expects none (sd_watchdog_enabled(3): the
    timeout in WATCHDOG_USEC, meant for this process unless WATCHDOG_PID names another)."""
    owner = environ.get("WATCHDOG_PID", "")
    if owner and owner != str(pid):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2 / 1_000_000 if usec > 0 else None


class ServiceNotifier:
    """One process's notifications to systemd. Sends never block the event loop: the socket is
    non-blocking, and a datagram systemd cannot take now is dropped (the next ping follows)."""

    def __init__(self, notifier: sdnotify.SystemdNotifier | None, interval: float | None) -> None:
        self._notifier = notifier if notifier is not None and notifier.socket is not None else None
        self.enabled = self._notifier is not None
        self.interval = interval if self.enabled else None
        self._tasks: list[asyncio.Task] = []
        if self._notifier is not None:
            self._notifier.socket.setblocking(False)

    @classmethod
    def from_environment(cls) -> ServiceNotifier:
        """Connect to NOTIFY_SOCKET if set, read the watchdog settings, and take all three out
        of the environment (sd_notify's unset_environment): a process this one starts must not
        speak for it."""
        notifier = None
        if os.environ.get("NOTIFY_SOCKET"):
            notifier = sdnotify.SystemdNotifier()  # connects to $NOTIFY_SOCKET, once
            if notifier.socket is None:
                log.warning("NOTIFY_SOCKET=%s cannot be reached: systemd is told nothing",
                            os.environ["NOTIFY_SOCKET"])
        interval = watchdog_interval(os.environ, os.getpid())
        for name in NOTIFY_VARIABLES:
            os.environ.pop(name, None)
        return cls(notifier, interval)

    def send(self, *assignments: str) -> None:
        """One datagram of newline-separated VARIABLE=value assignments."""
        if not self.enabled or self._notifier is None:
            return
        # Latin-1 in sdnotify: a STATUS line is ASCII by construction (see status_line).
        self._notifier.notify("\n".join(assignments))

    def ready(self, status: str = "") -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")

    def start_watchdog(self) -> None:
        """Ping from a task on the running loop until `close()`."""
        if self.interval is None:
            return
        self._tasks.append(asyncio.get_running_loop().create_task(
            self._ping(self.interval), name="systemd-watchdog"))

    def start_status(self, summary: Callable[[], Awaitable[str]],
                     every: float = STATUS_INTERVAL) -> None:
        """Set STATUS= from `summary` now and every `every` seconds until `close()`."""
        if not self.enabled:
            return
        self._tasks.append(asyncio.get_running_loop().create_task(
            self._refresh(summary, every), name="systemd-status"))

    async def close(self) -> None:
        """Stop the tasks, so none is left pending on a closed loop. (Pings stop before the
        parts do; systemd disarmed the watchdog at STOPPING=1, and TimeoutStopSec= bounds a stop
        that hangs.)"""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _ping(self, interval: float) -> None:
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def _refresh(self, summary: Callable[[], Awaitable[str]], every: float) -> None:
        while True:
            try:
                self.status(await summary())
            except Exception:  # a status line is worth no crash; the next one may work
                log.exception("status line for systemd")
            await asyncio.sleep(every)


def status_line(*, modems_ready: int, modems_present: int, queued: int | None,
                held: int | None) -> str:
    """`systemctl status` shows this: `2/3 modems ready, 14 queued, 2 held`. ASCII only."""
    parts = [f"{modems_ready}/{modems_present} modems ready"]
    if queued is not None:
        parts.append(f"{queued} queued")
    if held is not None:
        parts.append(f"{held} held")
    return ", ".join(parts)


async def appliance_status(appliance: Appliance) -> str:
    """The summary line of a running appliance: its modems (live, from the pool) and its queue
    (counted on a store reader, off the event loop)."""
    from appliance.store.metrics import queue_depth_query
    from appliance.store.states import MessageState

    pool = appliance.pool
    present = list(pool.supervisors.values()) if pool is not None else []
    queued = held = None
    if appliance.store is not None:
        depth = await appliance.store.read(
            lambda: list(queue_depth_query().tuples()))
        queued = sum(n for state, _, n in depth if state == MessageState.QUEUED.value)
        held = sum(n for state, _, n in depth if state == MessageState.HELD.value)
    return status_line(modems_ready=sum(1 for s in present if s.ready),
                       modems_present=len(present), queued=queued, held=held)


def notify_systemd(app: Sanic, appliance: Appliance) -> ServiceNotifier:
    """Tell systemd about this process's appliance, if systemd asked (NOTIFY_SOCKET): READY=1
    once the server listens (after_server_start: the parts started in before_server_start),
    then the watchdog and the status line; STOPPING=1 when shutdown begins. The tasks end as
    the server stops (sanic runs its stop listeners in reverse: before the parts stop, which
    is fine, as systemd disarms the watchdog once a service stops)."""
    notifier = ServiceNotifier.from_environment()

    @app.after_server_start
    async def _notify_ready(app: Sanic) -> None:
        notifier.ready("started")
        notifier.start_watchdog()
        notifier.start_status(lambda: appliance_status(appliance))

    @app.before_server_stop
    async def _notify_stopping(app: Sanic) -> None:
        notifier.stopping()

    @app.after_server_stop
    async def _notify_done(app: Sanic) -> None:
        await notifier.close()

    return notifier
