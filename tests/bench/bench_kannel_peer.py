"""Benchmark: the real Kannel beside the appliance, in the same minutes.

Issue 9 compares single-message ingestion with Kannel's (4,360 requests/s measured once on this
machine). The machine's speed swings by up to 2x within minutes, so a figure from another
time says little: this benchmark runs Kannel 1.4.5 (Debian's `kannel`: bearerbox, smsbox, and
`fakesmsc` from `kannel-extras` as the SMSC taking the messages) and the appliance (8
simulated modems draining, as bench_ingest) side by side, and alternates rounds:
- Kannel's `GET /cgi-bin/sendsms`, one recipient per request, from the same raw keep-alive
  clients as bench_ingest (`raw_kannel`), with 16 and with 32 clients;
- the appliance's Kannel sendsms and its `POST /api/v1/messages`, 32 clients.
Kannel runs as Debian ships it, with no message store (a restart loses what it queued), and a
second Kannel with its spool store (`store-type = spool`: it writes a file per message and
never calls fsync, so it survives a crash of the process but not a power cut; strace shows
openat and write, no fsync); the appliance answers only after its fsync'd SQLite commit.
Prints requests/s per round, CPU per 1,000 requests of each side, and the ratio of the
appliance's rate to each Kannel's in that round.
Without Kannel installed (`apt install kannel kannel-extras`) it says so and measures nothing.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psutil

from tests.bench.bench_ingest import measure_kannel, measure_raw, raw_kannel
from tests.bench.harness import SHORT_TEXT, Rig, Sampler, free_port, post_batches, recipient

BEARERBOX = Path("/usr/sbin/bearerbox")
SMSBOX = Path("/usr/sbin/smsbox")
FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")


class KannelPeer:
    """bearerbox + smsbox + fakesmsc on free loopback ports, in `folder`."""

    def __init__(self, folder: Path, *, log_level: int = 4, store: bool = False):
        self.folder = folder
        self.log_level = log_level
        self.store = store
        self.sendsms_port = free_port()
        self.procs: list[subprocess.Popen] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}"

    def start(self) -> None:
        admin, box, smsc = free_port(), free_port(), free_port()
        conf = self.folder / "kannel.conf"
        if self.store:
            (self.folder / "spool").mkdir(exist_ok=True)
        store = (f'store-type = spool\nstore-location = "{self.folder / "spool"}"\n'
                 if self.store else "")
        conf.write_text(f"""group = core
admin-port = {admin}
admin-password = bench
smsbox-port = {box}
log-level = {self.log_level}
log-file = "{self.folder / 'bearerbox.log'}"
box-allow-ip = "127.0.0.1"
{store}
group = smsc
smsc = fake
smsc-id = fake
host = 127.0.0.1
port = {smsc}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = {self.sendsms_port}
log-level = {self.log_level}
log-file = "{self.folder / 'smsbox.log'}"

group = sendsms-user
username = bench
password = secret
default-sender = 10086
max-messages = 10
""", encoding="utf-8")
        out = open(self.folder / "kannel.out", "w")  # noqa: SIM115 - lives with the processes
        self.procs.append(subprocess.Popen([str(BEARERBOX), str(conf)], stdout=out,
                                           stderr=subprocess.STDOUT))
        time.sleep(0.5)
        # -m 0: it sends nothing, and takes every message bearerbox hands it.
        self.procs.append(subprocess.Popen(
            [str(FAKESMSC), "-H", "127.0.0.1", "-r", str(smsc), "-m", "0", "1 2 text x"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.procs.append(subprocess.Popen([str(SMSBOX), str(conf)], stdout=out,
                                           stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"{self.base_url}/cgi-bin/sendsms", params={
                    "username": "bench", "password": "secret", "to": "13800138000",
                    "text": "ready?"}, timeout=2)
                if answer.status_code == 202 and answer.text.startswith("0: "):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"Kannel did not accept a message: see {self.folder}")

    def cpu(self) -> float:
        total = 0.0
        for proc in self.procs[::2]:  # bearerbox and smsbox, not the fake SMSC
            try:
                t = psutil.Process(proc.pid).cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def measure_peer(peer: KannelPeer, first: int, count: int, clients: int) -> dict[str, Any]:
    targets = [f"/cgi-bin/sendsms?username=bench&password=secret"
               f"&to={quote(recipient(n), safe='')}&text={quote(SHORT_TEXT.format(n=n))}"
               for n in range(first, first + count)]
    cpu0, t0 = peer.cpu(), time.perf_counter()
    accepted, _ = asyncio.run(raw_kannel(peer, targets, clients))  # type: ignore[arg-type]
    elapsed = time.perf_counter() - t0
    return {"rate": accepted / elapsed, "cpu_per_1000": (peer.cpu() - cpu0) / accepted * 1000}


def run(rounds: int, count: int, modems: int) -> list[dict[str, Any]]:
    folder = Path(tempfile.mkdtemp(prefix="cardgate-bench-kannel-"))
    for part in ("appliance", "kannel", "kannel-spool"):
        (folder / part).mkdir()
    rig = Rig(folder / "appliance", modems=modems, latency=0.2)
    peer = KannelPeer(folder / "kannel")
    spooling = KannelPeer(folder / "kannel-spool", store=True)
    rows = []
    try:
        rig.setup()
        peer.start()
        spooling.start()
        sampler = Sampler(rig.app.pid).start()  # type: ignore[union-attr]
        asyncio.run(post_batches(rig, [([recipient(10**7 + i)], "warm up") for i in range(20)]))
        measure_peer(peer, 10**7, 200, 16)  # their warm-up
        measure_peer(spooling, 10**7, 200, 16)
        for n in range(rounds):
            base = 10**6 * (n + 1)
            rows.append({
                "kannel16": measure_peer(peer, base, count, 16),
                "kannel32": measure_peer(peer, base + 10**5, count, 32),
                "spool16": measure_peer(spooling, base + 4 * 10**5, count, 16),
                "spool32": measure_peer(spooling, base + 5 * 10**5, count, 32),
                "ours_kannel": measure_kannel(rig, sampler, base + 2 * 10**5, count, 32),
                "ours_json": measure_raw(rig, sampler, base + 3 * 10**5, count, 32),
            })
        sampler.stop()
    finally:
        spooling.stop()
        peer.stop()
        rig.teardown()
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_kannel_peer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000, help="per side and round")
    parser.add_argument("--modems", type=int, default=8,
                        help="simulated modems draining (issue 9 measures with 8)")
    parser.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    args = parser.parse_args(argv or [])
    if not all(p.exists() for p in (BEARERBOX, SMSBOX, FAKESMSC)):
        print("Kannel beside the appliance: Kannel is not installed here (apt install kannel "
              "kannel-extras); nothing measured")
        return 0
    if args.quick:
        args.rounds, args.requests, args.modems = 1, 100, 2
    rows = run(args.rounds, args.requests, args.modems)
    print(f"Kannel 1.4.5 (bearerbox + smsbox, fakesmsc) beside the appliance "
          f"({args.modems} simulated modems draining), {args.requests} one-recipient "
          f"requests per side and round, raw keep-alive clients; requests/s (CPU s/1,000). "
          f"Kannel as Debian ships it keeps no store; `spool` is Kannel with "
          f"`store-type = spool` (a file per message, never fsync'd); ours answers after "
          f"an fsync'd commit")
    columns = (("Kannel 16", "kannel16"), ("Kannel 32", "kannel32"),
               ("spool 16", "spool16"), ("spool 32", "spool32"),
               ("ours sendsms 32", "ours_kannel"), ("ours JSON 32", "ours_json"))
    print(f"  {'round':5} " + " ".join(f"{label:>15}" for label, _ in columns)
          + f" {'sendsms/K':>9} {'JSON/K':>6} {'JSON/spool':>10}")
    for n, r in enumerate(rows, start=1):
        best = max(r["kannel16"]["rate"], r["kannel32"]["rate"])
        best_spool = max(r["spool16"]["rate"], r["spool32"]["rate"])
        cells = [f"{r[k]['rate']:6,.0f} ({r[k]['cpu_per_1000']:.2f})" for _, k in columns]
        print(f"  {n:5} " + " ".join(f"{c:>15}" for c in cells)
              + f" {r['ours_kannel']['rate'] / best:9.2f} {r['ours_json']['rate'] / best:6.2f}"
              f" {r['ours_json']['rate'] / best_spool:10.2f}")
    print("  (ratios against Kannel's better row of the same round, without and with its store)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
