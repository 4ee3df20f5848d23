"""Benchmark: how fast a plugged modem becomes ready, and how late the event loop runs while a
pool of simulated modems is polled.

Run by hand (`python -m tests.bench.bench_pool`; `--quick` for a few-second smoke run).
Prints figures; asserts nothing. The simulated modems run on the same event loop as the pool,
so the lag figure includes their work too (on the appliance the modems are hardware and cost
the loop nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

from appliance.config import ModemsConfig
from appliance.modem.profile import load_profiles
from appliance.pool.pool import ModemPool
from appliance.pool.supervisor import PoolState, SupervisorSettings
from appliance.sim import SimulatedModem, SimulatedPort, make_profile

PLUGS = 20
FLEET = 16
LAG_SECONDS = 10.0
POLL_INTERVAL = 0.5


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _wait(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.002)


async def plug_to_ready(folder: Path, plugs: int = PLUGS) -> tuple[list[float], list[float]]:
    """Seconds from a symlink appearing (a new pty each time) to the modem being ready, and
    from the watcher announcing the port to ready (bring-up alone)."""
    config = ModemsConfig(autodetect=False, ports=[str(folder / "plug*")])
    pool = ModemPool(config, load_profiles())  # the shipped rescan interval and timeouts
    sim = SimulatedModem(make_profile(0, "bench"), reboot_time=0.05)
    port = SimulatedPort(sim)
    await pool.start()
    times: list[float] = []
    bring_ups: list[float] = []
    try:
        for n in range(plugs):
            path = str(folder / f"plug{n}")
            started = time.perf_counter()
            port.replug(symlink=path)  # new tty, new name: another USB port

            def ready(path: str = path) -> bool:
                sup = pool.supervisors.get(path)
                return sup is not None and sup.status.state is PoolState.ready

            await _wait(lambda path=path: path in pool.supervisors)
            found = time.perf_counter()
            await _wait(ready)
            times.append(time.perf_counter() - started)
            bring_ups.append(time.perf_counter() - found)
            port.unplug()
            await _wait(lambda path=path: path not in pool.supervisors)
    finally:
        await pool.stop()
        port.unplug()
        sim.close()
    return times, bring_ups


async def loop_lag(folder: Path, fleet: int = FLEET,
                   seconds: float = LAG_SECONDS) -> tuple[list[float], int]:
    """Lateness of a 10 ms ticker while `fleet` modems are polled every POLL_INTERVAL."""
    sims = [SimulatedModem(make_profile(i, "bench")) for i in range(fleet)]
    ports = [SimulatedPort(sim, folder / f"fleet{i}").start() for i, sim in enumerate(sims)]
    config = ModemsConfig(autodetect=False, ports=[str(folder / "fleet*")])
    settings = SupervisorSettings(poll_interval=POLL_INTERVAL, command_timeout=5.0)
    pool = ModemPool(config, load_profiles(), settings=settings)
    await pool.start()
    lags: list[float] = []
    try:
        await _wait(lambda: len(pool.ready()) == fleet)
        polls_before = sum(_polls(s) for s in pool.all())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            expected = loop.time() + 0.01
            await asyncio.sleep(0.01)
            lags.append(max(0.0, loop.time() - expected))
        polls = sum(_polls(s) for s in pool.all()) - polls_before
    finally:
        await pool.stop()
        for port in ports:
            port.unplug()
        for sim in sims:
            sim.close()
    return lags, polls


def _polls(sup) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for line in sup.traffic.lines() if line.text == "AT+CSQ")


async def run(plugs: int, fleet: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        times, bring_ups = await plug_to_ready(folder, plugs)
        print(f"plug-to-ready over {plugs} plugs (static watcher, shipped 0.5 s rescan): "
              f"median {statistics.median(times) * 1000:.0f} ms, "
              f"p90 {_quantile(times, 0.9) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms")
        print(f"  of which bring-up (port announced to ready, incl. profile re-match reopen): "
              f"median {statistics.median(bring_ups) * 1000:.0f} ms, "
              f"p90 {_quantile(bring_ups, 0.9) * 1000:.0f} ms, "
              f"max {max(bring_ups) * 1000:.0f} ms")
        lags, polls = await loop_lag(folder, fleet, seconds)
        print(f"event-loop lag, {fleet} modems polled every {POLL_INTERVAL} s for "
              f"{seconds:.0f} s ({polls} polls seen in the traffic rings): "
              f"max {max(lags) * 1000:.1f} ms, p99 {_quantile(lags, 0.99) * 1000:.1f} ms, "
              f"median {statistics.median(lags) * 1000:.2f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_pool")
    parser.add_argument("--quick", action="store_true", help="3 plugs, 4 modems, 1 s")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if args.quick:
        asyncio.run(run(plugs=3, fleet=4, seconds=1.0))
    else:
        asyncio.run(run(plugs=PLUGS, fleet=FLEET, seconds=LAG_SECONDS))


if __name__ == "__main__":
    main()
