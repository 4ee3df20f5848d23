"""`python -m tests.bench.sim_server --count N --dir DIR [...]`: simulated modems a benchmark
can steer while the appliance under test runs in its own process.

Knows: how to start N SimulatedModems on ptys in DIR (DIR/modemI symlinks, DIR/modemI.jsonl
records, as `cardgate sim` lays them out), the modem identities the benchmarks compare
("fleet": the simulator's own mix of Huawei, Quectel and SIMCom sticks; "sim800"; "generic": a
modem no shipped profile knows), and a line protocol on stdin/stdout: one JSON command per
line, one JSON answer per line. Must not know: the appliance, or what a benchmark measures.

Commands: {"op": "faults", "fail_rate": .., "fail_code": .., "swallow_rate": .., "seed": ..}
(every modem; modem I gets seed + I), {"op": "counts"} (faults drawn so far, summed),
{"op": "unplug", "index": I}, {"op": "replug", "index": I}, {"op": "inject", "count": N,
"prefix": P, "text": T} (N SMS spread over the modems, as fast as each modem's SIM memory has
room: the sender of SMS n is P followed by n as 8 digits, its text T with {n} filled in;
answers at once), {"op": "injected"} (how many of them have arrived so far). Answers
{"ok": true, ...} or {"ok": false, "error": "..."}. SIGTERM or end of stdin stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path

from appliance.sim import SimulatedModem, SimulatedPort, make_profile
from appliance.sim.record import JsonlRecorder

# (manufacturer, model, revision) as +CGMI/+CGMM/+CGMR answer them; None keeps make_profile's.
IDENTITIES: dict[str, tuple[str, str, str] | None] = {
    "fleet": None,
    "sim800": ("SIMCOM_Ltd", "SIMCOM_SIM800L", "Revision:1418B04SIM800L24"),
    "generic": ("Acme Wireless", "AW-100", "AW100_V1.0.3"),  # matches no shipped profile
}


class Server:
    def __init__(self, count: int, directory: Path, latency: float, identity: str):
        self.directory = directory
        self.modems: list[SimulatedModem] = []
        self.ports: list[SimulatedPort] = []
        self.count, self.latency, self.identity = count, latency, identity
        self.injected = 0
        self._injectors: list[asyncio.Task] = []

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        strings = IDENTITIES[self.identity]
        for index in range(self.count):
            profile = make_profile(index, "bench")
            if strings is not None:
                profile.manufacturer, profile.model, profile.revision = strings
                profile.boot_urcs, profile.vendor_settings = ("RDY",), frozenset()
            modem = SimulatedModem(profile, latency=self.latency,
                                   record_path=self.directory / f"modem{index}.jsonl")
            # Written before each answer, not fsynced: only the appliance is killed here.
            modem.recorder = JsonlRecorder(self.directory / f"modem{index}.jsonl", durable=False)
            self.modems.append(modem)
            self.ports.append(SimulatedPort(modem, self.directory / f"modem{index}").start())

    def stop(self) -> None:
        for port in self.ports:
            port.unplug()
        for modem in self.modems:
            modem.close()

    def handle(self, command: dict) -> dict:
        op = command.get("op")
        if op == "faults":
            seed = command.get("seed")
            for index, modem in enumerate(self.modems):
                modem.set_fault_rates(
                    fail_rate=command.get("fail_rate", 0.0),
                    fail_code=command.get("fail_code", 500),
                    swallow_rate=command.get("swallow_rate", 0.0),
                    seed=None if seed is None else seed + index)
            return {"ok": True}
        if op == "counts":
            totals = {"failed": 0, "swallowed": 0}
            for modem in self.modems:
                for key, value in modem.fault_counts.items():
                    totals[key] += value
            return {"ok": True, **totals}
        if op in ("unplug", "replug"):
            port = self.ports[int(command["index"])]
            if op == "unplug":
                port.unplug()
            else:
                port.replug()
            return {"ok": True}
        if op == "inject":
            count, prefix, text = int(command["count"]), str(command["prefix"]), command["text"]
            loop = asyncio.get_running_loop()
            for index, modem in enumerate(self.modems):
                mine = list(range(index, count, len(self.modems)))
                self._injectors.append(loop.create_task(self._inject(modem, mine, prefix, text)))
            return {"ok": True}
        if op == "injected":
            return {"ok": True, "injected": self.injected}
        return {"ok": False, "error": f"unknown op {op!r}"}

    async def _inject(self, modem: SimulatedModem, numbers: list[int], prefix: str,
                      text: str) -> None:
        """Deliver each SMS once the SIM memory has room (a full one would refuse it), as a
        network does: it retries until the handset takes the message."""
        room = modem.store.capacity - 2
        for n in numbers:
            while modem.store.used >= room:
                await asyncio.sleep(0.01)
            modem.inject_sms(f"{prefix}{n:08d}", text.format(n=n))
            self.injected += 1


async def serve(server: Server) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server.start()
    print(f"{server.count} simulated modem(s) ({server.identity}) ready", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def commands() -> None:
        while line := await reader.readline():
            try:
                answer = server.handle(json.loads(line))
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(answer), flush=True)
        stop.set()  # stdin closed: the benchmark is gone

    task = loop.create_task(commands())
    try:
        await stop.wait()
    finally:
        task.cancel()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.sim_server")
    parser.add_argument("--count", type=int, default=2)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--identity", choices=sorted(IDENTITIES), default="fleet")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(Server(args.count, Path(args.dir), args.latency, args.identity)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
