"""Benchmark: inbound SMS — how fast the inbox stores them, and whether a burst slows sending.

The appliance (`cardgate run`) and the steerable simulator (tests/bench/sim_server.py) are
separate processes (tests/bench/harness.py's Rig); SMS are injected into the simulated modems
as fast as each modem's SIM memory has room, as a network retrying delivery would.

Figures:
(a) inbound SMS stored per second end to end: from the first injection until the last is an
    inbox message on disk (read from the appliance's SQLite file), 8 modems, no outbound;
(b) outbound throughput of a campaign draining on 8 modems, alone and with a burst of inbound
    SMS injected meanwhile (started with the campaign), and their ratio. The aim is a ratio
    >= 0.90 (issue 8: a burst of 1,000 inbound SMS slows sending by at most 10%). Throughput
    is parts answered per second, from the first accepted request to the last part's answer.
    The baseline runs first on the same appliance, then the burst run, then the baseline
    again; the ratio is against the mean of the two baselines (the database grows meanwhile).

Prints figures; asserts nothing. `--quick` shrinks every size.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.harness import (
    SHORT_TEXT,
    Rig,
    Sampler,
    post_batches,
    recipient,
)

INBOUND_TEXT = "Re: notice {n} - received, thank you. 收到，谢谢"
INBOUND_PREFIX = "+86137"  # + 8 digits: distinct senders, none of them campaign recipients


def inbox_count(db: Path) -> int:
    con = sqlite3.connect(str(db), timeout=30)
    try:
        return int(con.execute("SELECT COUNT(*) FROM inbox_message").fetchone()[0])
    finally:
        con.close()


def wait_inbox(rig: Rig, expected: int, *, stall: float = 30.0) -> tuple[int, float]:
    """Until `expected` inbox messages are stored (or nothing new for `stall` s); returns the
    count and time.time() when it was first seen."""
    last, last_change = -1, time.monotonic()
    while True:
        count = inbox_count(rig.db_path)
        if count >= expected:
            return count, time.time()
        if count != last:
            last, last_change = count, time.monotonic()
        elif time.monotonic() - last_change > stall:
            return count, time.time()
        time.sleep(0.02)


def campaign(rig: Rig, messages: int, first: int, burst: int, inbound_base: int,
             latency: float) -> dict[str, Any]:
    """One campaign of `messages` short texts (distinct recipients from `first`), with
    `burst` inbound SMS injected as it starts; returns its outbound figures."""
    batches = [([recipient(first + i) for i in range(start, min(start + 100, messages))],
                SHORT_TEXT.format(n=first + start)) for start in range(0, messages, 100)]
    records_before = rig.record_count()
    inbox_before = inbox_count(rig.db_path)
    if burst:
        rig.sim_command("inject", count=burst, prefix=INBOUND_PREFIX, text=INBOUND_TEXT)
    accepted, _latencies, first_accept = asyncio.run(post_batches(rig, batches))
    rig.wait_for_records(records_before + len(accepted))
    records = sorted(r["at"] for r in rig.records())[records_before:]
    last = (records[-1] if records else first_accept) + latency
    elapsed = last - first_accept
    inbound_done = 0
    if burst:
        inbound_done, _ = wait_inbox(rig, inbox_before + burst)
        inbound_done -= inbox_before
    return {"messages": len(accepted), "parts": len(records), "elapsed": elapsed,
            "throughput": len(records) / elapsed if elapsed > 0 else 0.0,
            "inbound": inbound_done}


def run(modems: int, inbound: int, messages: int, burst: int, latency: float,
        keep: bool = False) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="cardgate-bench-inbound-"))
    rig = Rig(folder, modems=modems, latency=latency, identity="generic")
    out: dict[str, Any] = {"modems": modems, "latency": latency, "inbound": inbound,
                           "messages": messages, "burst": burst}
    try:
        rig.setup()
        sampler = Sampler(rig.app.pid).start()  # type: ignore[union-attr]
        # (a) inbound alone
        cpu0 = sampler.cpu()
        t0 = time.time()
        rig.sim_command("inject", count=inbound, prefix=INBOUND_PREFIX, text=INBOUND_TEXT)
        stored, done_at = wait_inbox(rig, inbound)
        out["stored"] = stored
        out["inbound_elapsed"] = done_at - t0
        out["inbound_rate"] = stored / (done_at - t0) if done_at > t0 else 0.0
        out["inbound_cpu_per_1000"] = (sampler.cpu() - cpu0) / max(stored, 1) * 1000
        # (b) a campaign alone, with a burst, alone again
        base = inbound
        out["alone"] = campaign(rig, messages, 0, 0, base, latency)
        out["with_burst"] = campaign(rig, messages, messages, burst, base, latency)
        out["alone_again"] = campaign(rig, messages, 2 * messages, 0, base + burst, latency)
        time.sleep(latency + 0.5)
        sampler.stop()
        out["peak_rss"] = sampler.peak_rss
    finally:
        rig.teardown()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            out["folder"] = folder
    baseline = (out["alone"]["throughput"] + out["alone_again"]["throughput"]) / 2
    out["ratio"] = out["with_burst"]["throughput"] / baseline if baseline else 0.0
    return out


def report(r: dict[str, Any]) -> None:
    print(f"Inbound: {r['modems']} simulated modems, +CMGS latency {r['latency']} s, caps "
          f"lifted")
    print(f"  (a) {r['stored']}/{r['inbound']} inbound SMS stored in {r['inbound_elapsed']:.1f} s"
          f": {r['inbound_rate']:.0f} SMS/s end to end "
          f"(appliance CPU {r['inbound_cpu_per_1000']:.2f} s per 1,000)")
    print(f"  (b) campaign of {r['messages']} messages, alone and with {r['burst']} inbound SMS "
          f"injected meanwhile:")
    for label, key in (("alone", "alone"), (f"with {r['burst']} inbound", "with_burst"),
                       ("alone again", "alone_again")):
        c = r[key]
        extra = f", {c['inbound']} inbound stored" if c["inbound"] else ""
        print(f"      {label:22} {c['parts']:5} parts in {c['elapsed']:6.2f} s = "
              f"{c['throughput']:6.1f} parts/s{extra}")
    limit = r["modems"] / r["latency"]
    print(f"      physical limit {limit:.0f} parts/s; ratio with burst / alone (mean of both): "
          f"{r['ratio']:.3f} (aim >= 0.90)")
    print(f"  appliance peak RSS {r['peak_rss'] / 2**20:.0f} MiB")
    if r.get("folder"):
        print(f"  kept: {r['folder']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench inbound")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--modems", type=int, default=8)
    parser.add_argument("--inbound", type=int, default=2000, help="(a): SMS injected")
    parser.add_argument("--messages", type=int, default=2000, help="(b): campaign size")
    parser.add_argument("--burst", type=int, default=1000, help="(b): inbound SMS meanwhile")
    parser.add_argument("--latency", type=float, default=0.1, help="+CMGS latency, s")
    parser.add_argument("--keep", action="store_true", help="keep the folder (logs, db)")
    args = parser.parse_args(argv)
    if args.quick:
        args.modems, args.inbound, args.messages, args.burst = 2, 40, 40, 20
    report(run(args.modems, args.inbound, args.messages, args.burst, args.latency, args.keep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
