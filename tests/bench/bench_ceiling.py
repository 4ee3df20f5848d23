"""Benchmark: the ceiling — what the benchmark simulator allows a gateway at all.

bench_saturation's rows measure the appliance as a fraction of the physical limit (modems /
latency). This one drives the same simulator (tests/bench/sim_server.py, 8 generic modems at
0.1 s +CMGS latency, the same 80/10/10 message mix) with a bare client of a few lines: no
HTTP, no queue, no scheduler, a pseudo-terminal read in the event loop, each modem sending its
share back to back (whole messages, parts balanced across modems). Rows:
- "no database": AT+CMGS, the PDU as soon as the "> " prompt comes, the next part as soon
  as +CMGS is answered. No gateway can do better on this simulator and machine: what is left
  to the limit is the simulator's own time and the pseudo-terminals'.
- "durable before the PDU": the same, plus the one thing issue 7 item 3 asks of every part:
  a record that the part is being sent, on disk before its PDU is written. Here that is one
  UPDATE of one row and its COMMIT in a SQLite WAL file with synchronous=FULL, in one writer
  thread (as the appliance's store), awaited while the prompt is open.
- "durable, started with AT+CMGS": the commit started as AT+CMGS is written and awaited with
  the prompt, so the two overlap (the PDU still waits for both).
Figures: the fraction of the physical limit, measured as bench_saturation does (from the start
to the last record plus the latency), and the mean time per part beyond the latency. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import tty
from pathlib import Path
from typing import Any

from appliance.pdu import encode_submit
from tests.bench.harness import Rig, saturation_batches

MODES = {
    "none": "no database",
    "prompt": "durable before the PDU",
    "overlap": "durable, started with AT+CMGS",
}


class DurableMark:
    """One row per modem in a SQLite WAL file (synchronous=FULL), updated and committed by
    one writer thread: the least a gateway must put on disk before a part's PDU."""

    def __init__(self, path: Path, modems: int):
        self.path = path
        self.modems = modems
        self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ceiling-db")
        self.db: sqlite3.Connection | None = None

    def _mark(self, modem: int) -> None:
        if self.db is None:  # opened in the writer thread, which alone uses it
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=wal")
            self.db.execute("PRAGMA synchronous=full")
            self.db.execute("CREATE TABLE part (modem INTEGER PRIMARY KEY, sending INTEGER)")
            self.db.executemany("INSERT INTO part VALUES (?, 0)",
                                [(m,) for m in range(self.modems)])
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("UPDATE part SET sending = sending + 1 WHERE modem = ?", (modem,))
        self.db.execute("COMMIT")

    def mark(self, modem: int) -> asyncio.Future:
        return asyncio.get_running_loop().run_in_executor(self.pool, self._mark, modem)

    def close(self) -> None:
        def close() -> None:
            if self.db is not None:
                self.db.close()
        self.pool.submit(close).result()
        self.pool.shutdown()


class BarePort:
    """A simulated modem's pseudo-terminal, read in the event loop; nothing else."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        self.buffer = b""
        self.arrived = asyncio.Event()
        asyncio.get_running_loop().add_reader(self.fd, self._read)

    def _read(self) -> None:
        try:
            self.buffer += os.read(self.fd, 4096)
        except BlockingIOError:
            return
        self.arrived.set()

    async def until(self, token: bytes) -> bytes:
        while token not in self.buffer:
            self.arrived.clear()
            await self.arrived.wait()
        end = self.buffer.index(token) + len(token)
        seen, self.buffer = self.buffer[:end], self.buffer[end:]
        return seen

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.fd)
        os.close(self.fd)


def shares(modems: int, messages: int) -> list[list[tuple[int, str]]]:
    """The saturation mix's (tpdu_length, pdu) parts, whole messages dealt out so each modem
    gets as many parts as the others (give or take one message)."""
    queues: list[list[tuple[int, str]]] = [[] for _ in range(modems)]
    reference = 0
    for to, text in saturation_batches(messages, 250):
        for number in to:
            reference = (reference + 1) % 256
            parts = [(p.tpdu_length, p.pdu) for p in encode_submit(number, text,
                                                                    reference=reference)]
            min(queues, key=len).extend(parts)
    return queues


async def drive(port: BarePort, modem: int, parts: list[tuple[int, str]], mode: str,
                mark: DurableMark | None) -> None:
    port.write(b"AT+CMGF=0\r")
    await port.until(b"OK\r\n")
    for length, pdu in parts:
        port.write(f"AT+CMGS={length}\r".encode())
        if mode == "overlap" and mark is not None:
            marked = mark.mark(modem)
            await port.until(b"> ")
            await marked
        else:
            await port.until(b"> ")
            if mode == "prompt" and mark is not None:
                await mark.mark(modem)
        port.write(pdu.encode() + b"\x1a")
        answer = await port.until(b"OK\r\n")
        if b"+CMGS:" not in answer:
            raise RuntimeError(f"modem {modem} refused a part: {answer!r}")


async def drain(rig: Rig, queues: list[list[tuple[int, str]]], mode: str,
                folder: Path) -> float:
    paths = sorted(rig.ports_dir.glob("modem*[0-9]"), key=lambda p: int(p.name[5:]))
    ports = [BarePort(p) for p in paths]
    mark = DurableMark(folder / "ceiling.db", len(ports)) if mode != "none" else None
    try:
        if mark is not None:  # the file and its table exist before the clock starts
            await mark.mark(0)
        start = time.time()
        await asyncio.gather(*(drive(port, i, queue, mode, mark)
                               for i, (port, queue) in enumerate(zip(ports, queues,
                                                                     strict=True))))
        return start
    finally:
        for port in ports:
            port.close()
        if mark is not None:
            mark.close()


def run(modems: int, messages: int, latency: float, mode: str) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="cardgate-bench-ceiling-"))
    rig = Rig(folder, modems=modems, latency=latency, identity="generic")
    try:
        rig.write_config()
        rig.start_sim()
        queues = shares(modems, messages)
        start = asyncio.run(drain(rig, queues, mode, folder))
        records = rig.records()
    finally:
        rig.teardown()
        shutil.rmtree(folder, ignore_errors=True)
    elapsed = max(r["at"] for r in records) + latency - start
    busiest = max(len(q) for q in queues)
    return {"mode": mode, "parts": len(records), "elapsed": elapsed,
            "fraction": len(records) / elapsed / (modems / latency),
            "overhead": elapsed / busiest - latency, "modems": modems, "latency": latency}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_ceiling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default=",".join(MODES),
                        help=f"comma-separated among {', '.join(MODES)}")
    parser.add_argument("--modems", type=int, default=8)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    args = parser.parse_args(argv or [])
    modes = args.modes.split(",")
    if set(modes) - set(MODES):
        parser.error(f"unknown mode(s); known: {', '.join(MODES)}")
    if args.quick:
        args.modems, args.messages, args.latency = 2, 20, 0.05
    print(f"Ceiling: a bare client on the benchmark simulator ({args.modems} generic modems, "
          f"+CMGS latency {args.latency} s, {args.messages} messages of the saturation mix)")
    print(f"  {'client':32} {'parts':>6} {'secs':>6} {'fraction':>8} "
          f"{'ms/part beyond latency':>23}")
    for mode in modes:
        r = run(args.modems, args.messages, args.latency, mode)
        print(f"  {MODES[mode]:32} {r['parts']:6} {r['elapsed']:6.1f} {r['fraction']:8.3f} "
              f"{r['overhead'] * 1e3:23.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
