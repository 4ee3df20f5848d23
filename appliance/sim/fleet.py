"""A fleet of simulated modems in one directory, and the `cardgate sim` runner.

Knows: how to start N modems on ptys with stable names (DIR/modem0..N-1 symlinks, DIR/modemN.jsonl
records), and how a standalone simulator lives until SIGTERM/SIGINT.
Must not know: the appliance; the CLI parser (appliance/cli.py calls run_sim).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from types import TracebackType

from .identity import make_profile
from .modem import SimulatedModem
from .pty import SimulatedPort


class SimFleet:
    """`async with SimFleet(3, tmp) as fleet:` → fleet.modems[i], fleet.ports[i].path."""

    def __init__(self, count: int, directory: str | os.PathLike[str], latency: float = 0.0,
                 record: bool = True, seed: str = ""):
        self.count = count
        self.directory = Path(directory)
        self.latency = latency
        self.record = record
        self.seed = seed
        self.modems: list[SimulatedModem] = []
        self.ports: list[SimulatedPort] = []

    def symlink(self, index: int) -> Path:
        return self.directory / f"modem{index}"

    def record_path(self, index: int) -> Path:
        return self.directory / f"modem{index}.jsonl"

    async def start(self) -> SimFleet:
        self.directory.mkdir(parents=True, exist_ok=True)
        for index in range(self.count):
            modem = SimulatedModem(
                make_profile(index, self.seed), latency=self.latency,
                record_path=self.record_path(index) if self.record else None)
            self.modems.append(modem)
            self.ports.append(SimulatedPort(modem, self.symlink(index)).start())
        return self

    async def stop(self) -> None:
        for port in self.ports:
            port.unplug()  # also removes the symlink
        for modem in self.modems:
            modem.close()

    async def __aenter__(self) -> SimFleet:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    def describe(self) -> list[str]:
        """One line per modem: symlink → tty, IMEI, ICCID, operator."""
        lines = []
        for index, (modem, port) in enumerate(zip(self.modems, self.ports, strict=True)):
            p = modem.profile
            lines.append(f"{self.symlink(index)} -> {port.path}  {p.manufacturer} {p.model}  "
                         f"IMEI {p.imei}  ICCID {p.iccid}  {p.operator_name} ({p.mcc_mnc})  "
                         f"{p.own_number}")
        return lines


async def _serve(count: int, directory: str, latency: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with SimFleet(count, directory, latency=latency) as fleet:
        for line in fleet.describe():
            print(line, flush=True)
        print(f"{count} simulated modem(s) ready; SIGTERM or Ctrl-C stops", flush=True)
        await stop.wait()


def run_sim(count: int, directory: str, latency: float = 0.0) -> int:
    """`cardgate sim`: run `count` modems until SIGTERM/SIGINT; returns the exit status."""
    if count < 1:
        print("cardgate sim: --count must be at least 1", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(count, directory, latency))
    return 0
