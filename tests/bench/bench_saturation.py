"""Benchmark: saturation — can the dispatcher keep every simulated modem busy?

16 simulated modems with 0.2 s +CMGS latency and the per-SIM caps lifted; 5,000 messages (80%
short, 10% Chinese, 10% three-part) submitted over HTTP in batches (one request = one text to
many recipients). The appliance (`cardgate run`) and the simulator (`cardgate sim`) are
SEPARATE processes, so the appliance's CPU and RSS are measured alone (psutil).

Figures (from the first accepted request to the last part the simulator recorded):
- throughput as a fraction of the physical limit: (parts / elapsed) / (modems / latency) —
  a three-part message occupies a modem 3 × latency; aim ≥ 0.95;
- spread: max/min messages per SIM; aim ≤ 1.10;
- CPU seconds of the appliance per 1,000 messages; its peak RSS.
Prints figures; asserts nothing.

This module also holds the harness the crash and ingestion benchmarks share (`Rig`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

SHORT_TEXT = "Alarm {n}: pump pressure low at station 12, please check"
CHINESE_TEXT = "【告警{n}】三号泵站压力过低，请尽快处理。"
LONG_TEXT = ("Notice {n}: " + "the north substation will be offline for scheduled work " * 6)
OPERATOR_PREFIXES = ("138", "186", "189", "139", "130", "133")


def cardgate_command() -> list[str]:
    """The `cardgate` console script beside this interpreter, or `python -m appliance`."""
    script = Path(sys.executable).with_name("cardgate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "appliance"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def recipient(n: int) -> str:
    """A distinct valid Chinese mobile number per n, spread over the three operators."""
    return f"+86{OPERATOR_PREFIXES[n % len(OPERATOR_PREFIXES)]}{n:08d}"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Sampler:
    """Samples a process's RSS (with its children) and CPU times in a thread."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def cpu(self) -> float:
        """User + system CPU seconds of the process and its (waited-for and live) children."""
        try:
            t = self.proc.cpu_times()
        except psutil.Error:
            return 0.0
        return t.user + t.system + t.children_user + t.children_system

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_rss = max(self.peak_rss, self.rss())
            except psutil.Error:
                return
            self._stop.wait(self.interval)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


@dataclass
class Rig:
    """A simulator and an appliance as two processes sharing one folder."""

    folder: Path
    modems: int = 16
    latency: float = 0.2
    status_report: bool = False
    log_level: str = "WARNING"
    port: int = field(default_factory=free_port)
    sim: subprocess.Popen | None = None
    app: subprocess.Popen | None = None
    key: str = ""
    starts: int = 0
    ready: int = 0

    @property
    def ports_dir(self) -> Path:
        return self.folder / "ports"

    @property
    def config_path(self) -> Path:
        return self.folder / "cardgate.toml"

    @property
    def db_path(self) -> Path:
        return self.folder / "cardgate.db"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        self.config_path.write_text(f"""
[http]
listen = "127.0.0.1:{self.port}"

[database]
url = "sqlite:///{self.db_path}"

[modems]
autodetect = false
ports = ["{self.ports_dir}/modem*"]
poll_interval = 30.0

[dispatch]
per_sim_per_minute = 0
per_sim_per_hour = 0
per_sim_per_day = 0
per_sim_per_month = 0
status_report = {"true" if self.status_report else "false"}

[log]
level = "{self.log_level}"
""", encoding="utf-8")

    def start_sim(self) -> None:
        self.ports_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / "sim.log", "w")  # noqa: SIM115 - lives with the process
        self.sim = subprocess.Popen(
            [*cardgate_command(), "sim", "--count", str(self.modems), "--dir",
             str(self.ports_dir), "--latency", str(self.latency)],
            stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.sim.stdout is not None
        for line in self.sim.stdout:
            if "ready" in line:
                break
        else:
            raise RuntimeError(f"simulator exited: see {self.folder / 'sim.log'}")
        # Drain its stdout from now on, so it never blocks on a full pipe.
        threading.Thread(target=self.sim.stdout.read, daemon=True).start()

    def create_key(self) -> str:
        out = subprocess.run(
            [*cardgate_command(), "apikey", "create", "--config", str(self.config_path),
             "--scopes", "send,read", "--name", f"bench-{os.getpid()}"],
            check=True, capture_output=True, text=True).stdout
        self.key = out.strip().splitlines()[-1].strip()
        return self.key

    def start_app(self, timeout: float = 60.0, *, partial_ok: bool = False) -> float:
        """Start `cardgate run` and wait until every modem is ready; returns seconds taken.

        With `partial_ok`, a start where some modems never come up within `timeout` is
        accepted once the HTTP API answers (`self.ready` tells how many did)."""
        t0 = time.perf_counter()
        self.starts += 1
        log = open(self.folder / f"app-{self.starts}.log", "w")  # noqa: SIM115
        self.app = subprocess.Popen(
            [*cardgate_command(), "run", "--config", str(self.config_path)],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        self.ready = -1
        while time.monotonic() < deadline:
            if self.app.poll() is not None:
                raise RuntimeError(f"appliance exited {self.app.returncode}: see {log.name}")
            try:
                health = httpx.get(f"{self.base_url}/api/v1/health", timeout=2).json()
                self.ready = health["modems"]["ready"]
                if self.ready >= self.modems:
                    return time.perf_counter() - t0
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        if partial_ok and self.ready >= 0:
            return time.perf_counter() - t0
        raise RuntimeError(f"appliance not ready in {timeout}s: see {log.name}")

    def setup(self) -> Rig:
        self.write_config()
        self.start_sim()
        self.create_key()
        self.start_app()
        return self

    def kill_app(self) -> None:
        if self.app is not None and self.app.poll() is None:
            self.app.send_signal(signal.SIGKILL)
            self.app.wait()

    def stop_app(self) -> None:
        if self.app is not None and self.app.poll() is None:
            self.app.terminate()
            try:
                self.app.wait(20)
            except subprocess.TimeoutExpired:
                self.kill_app()

    def teardown(self) -> None:
        self.stop_app()
        if self.sim is not None and self.sim.poll() is None:
            self.sim.terminate()
            try:
                self.sim.wait(10)
            except subprocess.TimeoutExpired:
                self.sim.kill()
                self.sim.wait()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def records(self) -> list[dict[str, Any]]:
        """Every PDU the simulated modems took (one JSON line each), in file order."""
        out = []
        for path in sorted(self.ports_dir.glob("modem*.jsonl")):
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        try:
                            out.append(json.loads(line))
                        except ValueError:  # a line being written right now
                            pass
        return out

    def record_count(self) -> int:
        total = 0
        for path in self.ports_dir.glob("modem*.jsonl"):
            with open(path, "rb") as handle:
                total += sum(1 for _ in handle)
        return total

    def wait_for_records(self, expected: int, *, stall: float = 30.0,
                         poll: float = 0.25) -> int:
        """Wait until `expected` parts are recorded or nothing new comes for `stall` s."""
        last, last_change = -1, time.monotonic()
        while True:
            count = self.record_count()
            if count >= expected:
                return count
            if count != last:
                last, last_change = count, time.monotonic()
            elif time.monotonic() - last_change > stall:
                return count
            if self.app is not None and self.app.poll() is not None:
                return count
            time.sleep(poll)


async def post_batches(rig: Rig, batches: list[tuple[list[str], str]], *,
                       concurrency: int = 4) -> tuple[list[dict], list[float], float]:
    """POST each (recipients, text); returns (accepted messages, latencies, first accept time).

    Accepted messages are {"id", "to", "text"}; the first accept time is time.time() of the
    first 202 answer.
    """
    accepted: list[dict] = []
    latencies: list[float] = []
    first = [0.0]
    queue: asyncio.Queue = asyncio.Queue()
    for item in batches:
        queue.put_nowait(item)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            to, text = queue.get_nowait()
            t0 = time.perf_counter()
            resp = await client.post("/api/v1/messages", json={"to": to, "text": text})
            latencies.append(time.perf_counter() - t0)
            if resp.status_code != 202:
                raise RuntimeError(f"POST answered {resp.status_code}: {resp.text[:300]}")
            if not first[0]:
                first[0] = time.time()
            for m in resp.json()["messages"]:
                accepted.append({"id": m["id"], "to": m["to"], "text": text})

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=rig.base_url, headers=rig.headers(), timeout=120,
                                 limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return accepted, latencies, first[0]


def saturation_batches(messages: int, batch: int) -> list[tuple[list[str], str]]:
    """80% short, 10% Chinese, 10% three-part; one text per batch (a request's text is shared
    by its recipients), every recipient distinct."""
    n_chinese = messages // 10
    n_long = messages // 10
    n_short = messages - n_chinese - n_long
    batches: list[tuple[list[str], str]] = []
    n = 0
    for kind, count in (("short", n_short), ("chinese", n_chinese), ("long", n_long)):
        template = {"short": SHORT_TEXT, "chinese": CHINESE_TEXT, "long": LONG_TEXT}[kind]
        done = 0
        while done < count:
            size = min(batch, count - done)
            batches.append(([recipient(n + i) for i in range(size)],
                            template.format(n=len(batches))))
            n += size
            done += size
    # Interleave kinds so the mix reaches the dispatcher mixed, not short-first.
    random.Random(1).shuffle(batches)
    return batches


def expected_parts(batches: list[tuple[list[str], str]]) -> int:
    from appliance.pdu import count_parts

    return sum(len(to) * count_parts(text).parts for to, text in batches)


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


def run(modems: int, messages: int, latency: float, batch: int,
        keep: bool = False) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="cardgate-bench-sat-"))
    rig = Rig(folder, modems=modems, latency=latency)
    try:
        rig.setup()
        sampler = Sampler(rig.app.pid).start()  # type: ignore[union-attr]
        batches = saturation_batches(messages, batch)
        parts_expected = expected_parts(batches)
        cpu0 = sampler.cpu()
        accepted, latencies, first = asyncio.run(post_batches(rig, batches))
        accepted_at = time.time()
        parts_recorded = rig.wait_for_records(parts_expected)
        # Let the last +CMGS answers arrive: a stop while one is in flight marks it ambiguous.
        time.sleep(latency + 1.0)
        cpu = sampler.cpu() - cpu0
        sampler.stop()
        records = rig.records()
        peak = sampler.peak_rss
    finally:
        rig.teardown()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    turnaround = turnaround_gaps(records, latency)
    last = max((r["at"] for r in records), default=first)
    elapsed = last - first
    per_sim: Counter[str] = Counter()
    for r in records:
        if r["concat"] is None or r["concat"][2] == 1:
            per_sim[r["iccid"]] += 1
    counts = [per_sim.get(i, 0) for i in sorted(per_sim)] or [0]
    limit = modems / latency
    return {
        "modems": modems, "latency": latency, "messages": len(accepted),
        "parts_expected": parts_expected, "parts": parts_recorded,
        "elapsed": elapsed, "ingest": accepted_at - first, "fraction":
        (len(records) / elapsed) / limit if elapsed > 0 else 0.0,
        "limit": limit, "per_sim": counts, "sims_used": len(per_sim),
        "spread": max(counts) / min(counts) if min(counts) else float("inf"),
        "cpu": cpu, "peak_rss": peak, "folder": folder if keep else None,
        "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
        "turnaround": turnaround,
    }


def report(r: dict[str, Any]) -> None:
    print(f"Saturation: {r['modems']} simulated modems, +CMGS latency {r['latency']} s, caps "
          f"lifted; {r['messages']} messages (80% short, 10% Chinese, 10% 3-part)")
    print(f"  parts recorded / expected  : {r['parts']} / {r['parts_expected']}")
    print(f"  elapsed (first accept → last part): {r['elapsed']:.1f} s "
          f"(submission took {r['ingest']:.1f} s)")
    print(f"  throughput                 : {r['parts'] / r['elapsed']:.1f} parts/s of "
          f"{r['limit']:.1f} physical → fraction {r['fraction']:.3f}  (aim ≥ 0.95)")
    print(f"  messages per SIM           : min {min(r['per_sim'])} max {max(r['per_sim'])} on "
          f"{r['sims_used']} SIMs → spread {r['spread']:.2f}  (aim ≤ 1.10)")
    for label, gaps in r["turnaround"].items():
        if gaps:
            print(f"  turnaround, {label:14}: p50 {percentile(gaps, 0.5) * 1e3:5.1f} ms, "
                  f"p90 {percentile(gaps, 0.9) * 1e3:5.1f} ms, mean "
                  f"{sum(gaps) / len(gaps) * 1e3:5.1f} ms  (answer → next PDU, per SIM)")
    print(f"  appliance CPU              : {r['cpu']:.1f} s → "
          f"{r['cpu'] / max(r['messages'], 1) * 1000:.2f} CPU s per 1,000 messages")
    print(f"  appliance peak RSS         : {r['peak_rss'] / 2**20:.1f} MB")
    print(f"  POST latency (batches)     : p50 {r['p50'] * 1e3:.0f} ms, "
          f"p99 {r['p99'] * 1e3:.0f} ms")
    if r.get("folder"):
        print(f"  kept: {r['folder']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_saturation", description=__doc__)
    parser.add_argument("--modems", type=int, default=16)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--batch", type=int, default=250, help="recipients per request")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    parser.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    args = parser.parse_args(argv or [])
    if args.quick:
        args.modems, args.messages, args.latency, args.batch = 2, 20, 0.05, 5
    report(run(args.modems, args.messages, args.latency, args.batch, keep=args.keep))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
