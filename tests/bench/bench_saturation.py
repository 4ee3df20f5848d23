"""Benchmark: saturation — can the dispatcher keep every simulated modem busy?

Simulated modems with the per-SIM caps lifted; messages (80% short, 10% Chinese, 10%
three-part) submitted over HTTP in batches (one request = one text to many recipients). The
appliance (`cardgate run`) and the simulator are SEPARATE processes, so the appliance's CPU
and RSS are measured alone (psutil). Three rows, each its own appliance and simulator:
- 8 modems, 0.1 s +CMGS latency, presenting the SIM800 identity (its profile paces commands
  with a 50 ms `command_interval`);
- 8 modems, 0.1 s, a generic identity (matches no shipped profile: the generic one);
- 8 modems, 3 s latency, generic (fewer messages: the physical limit is 2.7 parts/s).

Figures (from the first accepted request until the last part was answered, i.e. the last
record's time plus the latency):
- throughput as a fraction of the physical limit: (parts / elapsed) / (modems / latency) — a
  three-part message occupies a modem 3 × latency; "best" is the fraction a perfect scheduler
  could reach with these whole messages (ceil(parts / modems) sends on the busiest modem);
- spread: max/min messages per SIM;
- CPU seconds of the appliance per 1,000 messages; its peak RSS, as sampled every 0.2 s (the
  working set while it drains) and as the kernel's high-water mark (VmHWM: every moment since
  start, including the 16 MiB scrypt takes for a moment to check the bench's API key once).
Prints figures; asserts nothing. `--rows` picks rows; `--modems/--messages/--latency/
--identity` run one custom row instead.

The shared harness (Rig, Sampler, post_batches, ...) lives in tests/bench/harness.py; it is
re-exported here for the benchmarks that import it from this module.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.bench.harness import (
    CHINESE_TEXT,
    LONG_TEXT,
    SHORT_TEXT,
    Rig,
    Sampler,
    add_row_options,
    cardgate_command,
    chosen_rows,
    expected_parts,
    free_port,
    percentile,
    post_batches,
    recipient,
    saturation_batches,
)

__all__ = [  # re-exported: bench_ingest and older callers import the harness from here
    "CHINESE_TEXT", "LONG_TEXT", "SHORT_TEXT", "Rig", "Sampler", "cardgate_command",
    "expected_parts", "free_port", "percentile", "post_batches", "recipient",
    "saturation_batches", "main", "run", "report",
]

# (modems, latency s, identity, messages); quick mode shrinks them.
ROWS = {
    "sim800": (8, 0.1, "sim800", 2000),
    "generic": (8, 0.1, "generic", 2000),
    "slow": (8, 3.0, "generic", 160),
}


def turnaround_gaps(records: list[dict[str, Any]], latency: float) -> dict[str, list[float]]:
    """Per SIM, the time between one PDU reaching the modem and the next, minus the +CMGS
    latency: what the appliance spends between a modem's answer and its next PDU (plus the
    prompt round trip and the simulator's fsync). Split by "next part of the same message"
    and "first part of the next message"."""
    by_sim: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_sim.setdefault(r["iccid"], []).append(r)
    gaps: dict[str, list[float]] = {"same message": [], "next message": []}
    for recs in by_sim.values():
        recs.sort(key=lambda r: r["at"])
        for a, b in zip(recs, recs[1:], strict=False):
            same = b["concat"] is not None and b["concat"][2] > 1
            gaps["same message" if same else "next message"].append(b["at"] - a["at"] - latency)
    return gaps


def run(modems: int, messages: int, latency: float, batch: int, keep: bool = False,
        identity: str = "fleet") -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="cardgate-bench-sat-"))
    rig = Rig(folder, modems=modems, latency=latency, identity=identity)
    try:
        rig.setup()
        profiles = rig.profiles()
        sampler = Sampler(rig.app.pid).start()  # type: ignore[union-attr]
        batches = saturation_batches(messages, batch)
        parts_expected = expected_parts(batches)
        cpu0 = sampler.cpu()
        accepted, latencies, first = asyncio.run(post_batches(rig, batches))
        accepted_at = time.time()
        parts_recorded = rig.wait_for_records(parts_expected, stall=max(30.0, 10 * latency))
        # Let the last +CMGS answers arrive: a stop while one is in flight marks it ambiguous.
        time.sleep(latency + 1.0)
        cpu = sampler.cpu() - cpu0
        high_water = sampler.high_water()
        sampler.stop()
        records = rig.records()
        peak = sampler.peak_rss
    finally:
        rig.teardown()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    turnaround = turnaround_gaps(records, latency)
    # The last part is done when its +CMGS is answered, `latency` after the modem took it.
    last = max((r["at"] for r in records), default=first) + latency
    elapsed = last - first
    per_sim: Counter[str] = Counter()
    for r in records:
        if r["concat"] is None or r["concat"][2] == 1:
            per_sim[r["iccid"]] += 1
    counts = [per_sim.get(i, 0) for i in sorted(per_sim)] or [0]
    limit = modems / latency
    busiest = math.ceil(len(records) / modems) * latency  # the least time these parts need
    return {
        "modems": modems, "latency": latency, "identity": identity, "profiles": profiles,
        "messages": len(accepted), "parts_expected": parts_expected, "parts": parts_recorded,
        "elapsed": elapsed, "ingest": accepted_at - first, "fraction":
        (len(records) / elapsed) / limit if elapsed > 0 else 0.0,
        "best": (len(records) / busiest) / limit if busiest > 0 else 0.0,
        "limit": limit, "per_sim": counts, "sims_used": len(per_sim),
        "spread": max(counts) / min(counts) if min(counts) else float("inf"),
        "cpu": cpu, "peak_rss": peak, "high_water": high_water, "folder": folder if keep else None,
        "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
        "turnaround": turnaround,
    }


def report(r: dict[str, Any]) -> None:
    profiles = ", ".join(f"{name} ×{n}" for name, n in sorted(r["profiles"].items()))
    print(f"Saturation: {r['modems']} simulated modems ({r['identity']} identity → profile "
          f"{profiles}), +CMGS latency {r['latency']} s, caps lifted; {r['messages']} messages "
          f"(80% short, 10% Chinese, 10% 3-part)")
    print(f"  parts recorded / expected  : {r['parts']} / {r['parts_expected']}")
    print(f"  elapsed (first accept → last part answered): {r['elapsed']:.1f} s "
          f"(submission took {r['ingest']:.1f} s)")
    print(f"  throughput                 : {r['parts'] / r['elapsed']:.1f} parts/s of "
          f"{r['limit']:.1f} physical → fraction {r['fraction']:.3f} (best possible with these "
          f"whole messages {r['best']:.3f})")
    print(f"  messages per SIM           : min {min(r['per_sim'])} max {max(r['per_sim'])} on "
          f"{r['sims_used']} SIMs → spread {r['spread']:.2f}")
    for label, gaps in r["turnaround"].items():
        if gaps:
            print(f"  turnaround, {label:14}: p50 {percentile(gaps, 0.5) * 1e3:5.1f} ms, "
                  f"p90 {percentile(gaps, 0.9) * 1e3:5.1f} ms, mean "
                  f"{sum(gaps) / len(gaps) * 1e3:5.1f} ms  (answer → next PDU, per SIM)")
    print(f"  appliance CPU              : {r['cpu']:.1f} s → "
          f"{r['cpu'] / max(r['messages'], 1) * 1000:.2f} CPU s per 1,000 messages")
    print(f"  appliance peak RSS         : {r['peak_rss'] / 2**20:.1f} MB sampled every 0.2 s; the "
          f"kernel's high-water mark {r['high_water'] / 2**20:.1f} MB (it includes the 16 MiB "
          f"scrypt buffer of the bench key's one check, freed at once)")
    print(f"  POST latency (batches)     : p50 {r['p50'] * 1e3:.0f} ms, "
          f"p99 {r['p99'] * 1e3:.0f} ms")
    if r.get("folder"):
        print(f"  kept: {r['folder']}")


def summary(rows: list[tuple[str, dict[str, Any]]]) -> None:
    print("Saturation summary (aims: ≥ 0.9 SIM800 at 0.1 s, ≥ 0.97 generic at 0.1 s, ≥ 0.99 at "
          "3 s; ≤ 4 CPU s per 1,000 messages; peak RSS ≤ 80 MB)")
    print(f"  {'row':26} {'msgs':>5} {'parts':>6} {'secs':>6} {'parts/s':>8} {'limit':>6} "
          f"{'fraction':>8} {'best':>5} {'spread':>6} {'CPU s/1k':>8} {'RSS MB':>6} "
          f"{'HWM MB':>6}")
    for label, r in rows:
        print(f"  {label:26} {r['messages']:5} {r['parts']:6} {r['elapsed']:6.1f} "
              f"{r['parts'] / r['elapsed']:8.1f} {r['limit']:6.1f} {r['fraction']:8.3f} "
              f"{r['best']:5.3f} {r['spread']:6.2f} "
              f"{r['cpu'] / max(r['messages'], 1) * 1000:8.2f} {r['peak_rss'] / 2**20:6.1f} "
              f"{r['high_water'] / 2**20:6.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_saturation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_row_options(parser, ROWS, identity="generic")
    parser.add_argument("--batch", type=int, default=250, help="recipients per request")
    parser.add_argument("--keep", action="store_true", help="keep the data folders")
    parser.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    args = parser.parse_args(argv or [])
    rows = chosen_rows(parser, args, ROWS, modems=8, latency=0.1, messages=2000)
    if args.quick:  # one tiny row: the smoke test runs the code path, not the figures
        rows = rows[:1]
    results = []
    for _name, (modems, latency, identity, messages) in rows:
        if args.quick:
            modems, messages, args.batch = 2, max(6, messages // 100), 5
            latency = min(latency, 0.3) if latency > 1 else 0.05
        r = run(modems, messages, latency, args.batch, keep=args.keep, identity=identity)
        report(r)
        results.append((f"{latency:g} s, {modems} modems, {identity}", r))
    summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
