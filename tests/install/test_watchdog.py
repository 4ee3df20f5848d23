"""The appliance and systemd's notify socket: READY=1 once it serves, then WATCHDOG=1 at half
of WATCHDOG_USEC from its event loop, STATUS= lines, STOPPING=1 on SIGTERM; a stalled loop
stops the pings. systemd is played by a real AF_UNIX datagram socket bound in a temp folder."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.notify import ServiceNotifier, appliance_status, status_line, watchdog_interval
from tests.api.conftest import running, wait_for
from tests.install.fake_systemd import WATCHDOG_USEC, FakeSystemd, start_run, stop


def test_run_notifies_ready_then_pings_then_stopping(tmp_path: Path,
                                                     systemd: FakeSystemd) -> None:
    proc = start_run(tmp_path, systemd)
    try:
        (ready,) = systemd.wait_for("READY", "1")
        pings = systemd.wait_for("WATCHDOG", "1", count=5)
        status = systemd.wait_for("STATUS", "0/0 modems ready, 0 queued, 0 held")
    finally:
        code, stderr = stop(proc, tmp_path)
    assert code == 0, stderr
    stopping = systemd.wait_for("STOPPING", "1")
    assert all(at >= ready for at in pings), "a ping before READY"
    assert status[0] >= ready
    assert stopping[0] > pings[4]
    # Half the timeout apart, give or take a busy test machine; never near the timeout.
    gaps = [b - a for a, b in zip(pings, pings[1:4], strict=False)]
    assert all(0.05 < gap < 0.2 for gap in gaps), gaps


def test_no_notify_socket_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    notifier = ServiceNotifier.from_environment()
    assert (notifier.enabled, notifier.interval) == (False, None)
    notifier.ready("x")  # nothing to send to, nothing raised
    notifier.stopping()


def test_environment_is_taken_away_from_children(monkeypatch: pytest.MonkeyPatch,
                                                 systemd: FakeSystemd) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(systemd.path))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    notifier = ServiceNotifier.from_environment()
    assert (notifier.enabled, notifier.interval) == (True, 0.5)
    assert "NOTIFY_SOCKET" not in os.environ and "WATCHDOG_USEC" not in os.environ
    notifier.ready("up")
    assert systemd.wait_for("STATUS", "up")


@pytest.mark.parametrize(("environ", "interval"), [
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "{pid}"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ({}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "thirty"}, None),
])
def test_watchdog_interval(environ: dict[str, str], interval: float | None) -> None:
    environ = {k: v.format(pid=os.getpid()) for k, v in environ.items()}
    assert watchdog_interval(environ, os.getpid()) == interval


@pytest.mark.parametrize(("figures", "line"), [
    ((2, 3, 14, 2), "2/3 modems ready, 14 queued, 2 held"),
    ((0, 0, None, None), "0/0 modems ready"),
])
def test_status_line(figures: tuple, line: str) -> None:
    ready, present, queued, held = figures
    assert status_line(modems_ready=ready, modems_present=present, queued=queued,
                       held=held) == line


def test_a_stalled_loop_stops_the_pings(monkeypatch: pytest.MonkeyPatch,
                                        systemd: FakeSystemd) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(systemd.path))
    monkeypatch.setenv("WATCHDOG_USEC", str(WATCHDOG_USEC))
    notifier = ServiceNotifier.from_environment()
    stall = 1.0  # five timeouts' worth

    async def main() -> tuple[float, float]:
        notifier.start_watchdog()
        await asyncio.sleep(0.5)
        began = time.monotonic()
        time.sleep(stall)  # the hang: a blocking call on the event loop
        ended = time.monotonic()
        await asyncio.sleep(0.5)
        await notifier.close()
        return began, ended

    began, ended = asyncio.run(main())
    time.sleep(0.1)  # the last datagrams reach the reader thread
    pings = systemd.times("WATCHDOG", "1")
    before = [at for at in pings if at < began]
    during = [at for at in pings if began + 0.02 < at < ended]
    after = [at for at in pings if at >= ended]
    assert len(before) >= 3
    assert during == []
    assert len(after) >= 3  # the loop turns again: so do the pings
    # systemd would have seen no ping for longer than WATCHDOG_USEC: it restarts the service.
    assert max(b - a for a, b in zip(pings, pings[1:], strict=False)) > WATCHDOG_USEC / 1e6
    count = len(systemd.times("WATCHDOG", "1"))
    time.sleep(0.3)
    assert len(systemd.times("WATCHDOG", "1")) == count  # close() stopped them


PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


def _refuse_write_execute() -> None:
    """The kernel's own MemoryDenyWriteExecute (Linux 6.3+), inherited across exec."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")


def _kernel_knows_mdwe() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    PR_GET_MDWE = 66  # noqa: N806
    return libc.prctl(PR_GET_MDWE, 0, 0, 0, 0) >= 0 or ctypes.get_errno() != errno.EINVAL


def test_appliance_runs_with_memory_deny_write_execute(tmp_path: Path,
                                                       systemd: FakeSystemd) -> None:
    # cardgate.service sets MemoryDenyWriteExecute=yes: no writable and executable memory.
    # The same rule from the kernel: CPython, sanic (uvloop, httptools) and pyudev (ctypes,
    # autodetect on) must start and serve under it.
    if not _kernel_knows_mdwe():
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    probe = subprocess.run(  # the rule is on: a writable+executable mapping is refused
        [sys.executable, "-c", "import mmap; mmap.mmap(-1, 4096, "
         "prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)"],
        preexec_fn=_refuse_write_execute, capture_output=True, text=True, timeout=30)
    assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe.stderr
    proc = start_run(tmp_path, systemd, autodetect=True, preexec=_refuse_write_execute)
    try:
        systemd.wait_for("READY", "1")
        systemd.wait_for("WATCHDOG", "1", count=3)
    finally:
        code, stderr = stop(proc, tmp_path)
    assert code == 0, stderr


async def test_status_counts_modems_and_the_queue(tmp_path: Path) -> None:
    async with running(tmp_path, modems=2) as gw:
        await gw.wait_ready(2)
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        sent = await gw.post("/api/v1/messages", json={
            "to": ["+8613800138001", "+8613800138002", "+8613800138003"], "text": "later",
            "send_at": later})
        assert sent.status_code == 202, sent.text
        assert await appliance_status(gw.appliance) == "2/2 modems ready, 3 queued, 0 held"
        gw.fleet.ports[0].unplug()
        await wait_for(lambda: len(gw.appliance.pool.supervisors) == 1, "the pool sees it go")
        assert await appliance_status(gw.appliance) == "1/1 modems ready, 3 queued, 0 held"
