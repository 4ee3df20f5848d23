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
    is parts answered per second, from the first accepted request to the last part's answer;
    also shown: the parts/s the modems took during the burst window alone (injection until
    the last inbound SMS was stored), against the same baseline.
    On one appliance: a campaign alone, then (with a burst, alone) `--pairs` times; the ratios
    are of the means (the database grows and the machine's load drifts meanwhile).

With `--answer` (the default; `--no-answer` turns it off), before (b) the appliance gets what
issue 8 asks a burst to go through: one auto-answer rule that replies to every SMS (through the
SIM it came on) and one webhook endpoint for `sms.received`, a local HTTP receiver in this
process. The replies are outbound parts too: (b)'s throughput then counts every part the modems
took (campaign and replies) until both are done, and the replies sent and the webhook POSTs
received are shown.

Prints figures; asserts nothing. `--quick` shrinks every size.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.bench.harness import (
    SHORT_TEXT,
    Rig,
    Sampler,
    cardgate_command,
    post_batches,
    recipient,
)

INBOUND_TEXT = "Re: notice {n} - received, thank you. 收到，谢谢"
INBOUND_PREFIX = "+86137"  # + 8 digits: distinct senders, none of them campaign recipients
# Each burst of (b) comes from senders of its own: the rule's per-sender cooldown would
# (rightly) not answer the same senders twice within a minute.
BURST_PREFIXES = ("+86145", "+86147", "+86166", "+86167", "+86191", "+86192")


def inbox_count(db: Path) -> int:
    con = sqlite3.connect(str(db), timeout=30)
    try:
        return int(con.execute("SELECT COUNT(*) FROM inbox_message").fetchone()[0])
    finally:
        con.close()


def arrivals_after(db: Path, last_id: int) -> list[float]:
    """time.time() of each inbox message's arrival (stored as naive UTC text) after `last_id`."""
    con = sqlite3.connect(str(db), timeout=30)
    try:
        rows = con.execute("SELECT received_at FROM inbox_message WHERE id > ?", (last_id,))
        return [datetime.fromisoformat(r[0]).replace(tzinfo=UTC).timestamp() for r in rows]
    finally:
        con.close()


def last_inbox_id(db: Path) -> int:
    con = sqlite3.connect(str(db), timeout=30)
    try:
        return int(con.execute("SELECT COALESCE(MAX(id), 0) FROM inbox_message").fetchone()[0])
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


class Receiver:
    """A local HTTP server that answers every POST 200 and counts them (the webhook's LAN
    device)."""

    def __init__(self) -> None:
        self.posts = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def answer_everything(rig: Rig, receiver: Receiver) -> None:
    """An admin key, a rule that replies to any SMS, a webhook endpoint for sms.received."""
    out = subprocess.run(
        [*cardgate_command(), "apikey", "create", "--config", str(rig.config_path),
         "--scopes", "admin,read", "--name", "bench-inbound-admin"],
        check=True, capture_output=True, text=True).stdout
    headers = {"Authorization": f"Bearer {out.strip().splitlines()[-1].strip()}"}
    rule = {"name": "thanks", "match": "any",
            "actions": [{"type": "reply", "template": "已收到您的回复，谢谢。"}]}
    for path, body in (("/api/v1/rules", rule),
                       ("/api/v1/webhooks", {"url": receiver.url, "events": ["sms.received"]})):
        response = httpx.post(f"{rig.base_url}{path}", json=body, headers=headers, timeout=10)
        if response.status_code != 201:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")


def campaign(rig: Rig, sampler: Sampler, messages: int, first: int, burst: int,
             latency: float, *, replies: bool = False, receiver: Receiver | None = None,
             prefix: str = INBOUND_PREFIX) -> dict[str, Any]:
    """One campaign of `messages` short texts (distinct recipients from `first`), with
    `burst` inbound SMS injected as it starts; returns its outbound figures."""
    batches = [([recipient(first + i) for i in range(start, min(start + 100, messages))],
                SHORT_TEXT.format(n=first + start)) for start in range(0, messages, 100)]
    records_before = rig.record_count()
    inbox_before = inbox_count(rig.db_path)
    last_id = last_inbox_id(rig.db_path)
    cpu0 = sampler.cpu()
    posts_before = receiver.posts if receiver is not None else 0
    injected_at = time.time()
    if burst:
        rig.sim_command("inject", count=burst, prefix=prefix, text=INBOUND_TEXT)
    accepted, _latencies, first_accept = asyncio.run(post_batches(rig, batches))
    expected_replies = burst if replies else 0
    rig.wait_for_records(records_before + len(accepted) + expected_replies)
    taken = sorted(rig.records(), key=lambda r: r["at"])[records_before:]  # files: per modem
    records = [r["at"] for r in taken]
    replies_sent = sum(1 for r in taken if str(r.get("to", "")).lstrip("+").startswith(
        prefix.lstrip("+")))
    last = (records[-1] if records else first_accept) + latency
    elapsed = last - first_accept
    inbound_done, window = 0, None
    if burst:
        inbound_done, _ = wait_inbox(rig, inbox_before + burst)
        inbound_done -= inbox_before
        # The burst itself: from the injection until its last SMS was stored; the outbound
        # parts the modems took in that window, per second.
        end = max(arrivals_after(rig.db_path, last_id), default=injected_at)
        during = sum(1 for at in records if injected_at <= at <= end)
        window = {"seconds": end - injected_at,
                  "throughput": during / (end - injected_at) if end > injected_at else 0.0}
    posts = 0
    if receiver is not None and burst:
        deadline = time.monotonic() + 30
        while receiver.posts - posts_before < inbound_done and time.monotonic() < deadline:
            time.sleep(0.05)
        posts = receiver.posts - posts_before
    return {"window": window, "messages": len(accepted), "parts": len(records), "elapsed": elapsed,
            "cpu": sampler.cpu() - cpu0,
            "throughput": len(records) / elapsed if elapsed > 0 else 0.0,
            "inbound": inbound_done, "replies": replies_sent, "posts": posts}


def run(modems: int, inbound: int, messages: int, burst: int, latency: float,
        keep: bool = False, pairs: int = 2, answer: bool = True) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="cardgate-bench-inbound-"))
    rig = Rig(folder, modems=modems, latency=latency, identity="generic")
    out: dict[str, Any] = {"modems": modems, "latency": latency, "inbound": inbound,
                           "messages": messages, "burst": burst, "campaigns": [],
                           "answer": answer}
    receiver = Receiver() if answer else None
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
        # (b) alone, then (with a burst, alone) `pairs` times: the database grows and the
        # machine's load drifts meanwhile, so the kinds alternate and are averaged.
        if receiver is not None:
            answer_everything(rig, receiver)
        kinds = [0] + [burst, 0] * pairs
        for n, kind in enumerate(kinds):
            out["campaigns"].append(campaign(
                rig, sampler, messages, n * messages, kind, latency, replies=answer,
                receiver=receiver, prefix=BURST_PREFIXES[n % len(BURST_PREFIXES)]))
        time.sleep(latency + 0.5)
        sampler.stop()
        out["peak_rss"] = sampler.peak_rss
    finally:
        rig.teardown()
        if receiver is not None:
            receiver.stop()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            out["folder"] = folder
    alone = [c["throughput"] for c in out["campaigns"] if not c["inbound"]]
    bursts = [c for c in out["campaigns"] if c["inbound"]]
    baseline = sum(alone) / len(alone) if alone else 0.0
    with_burst = sum(c["throughput"] for c in bursts) / len(bursts) if bursts else 0.0
    during = sum(c["window"]["throughput"] for c in bursts) / len(bursts) if bursts else 0.0
    out["ratio"] = with_burst / baseline if baseline else 0.0
    out["window_ratio"] = during / baseline if baseline else 0.0
    return out


def report(r: dict[str, Any]) -> None:
    print(f"Inbound: {r['modems']} simulated modems, +CMGS latency {r['latency']} s, caps "
          f"lifted")
    print(f"  (a) {r['stored']}/{r['inbound']} inbound SMS stored in {r['inbound_elapsed']:.1f} s"
          f": {r['inbound_rate']:.0f} SMS/s end to end "
          f"(appliance CPU {r['inbound_cpu_per_1000']:.2f} s per 1,000)")
    print(f"  (b) campaign of {r['messages']} messages, alone and with {r['burst']} inbound SMS "
          f"injected meanwhile" + (" (each answered by a rule's reply and forwarded to a "
                                   "webhook; parts/s count campaign + replies):"
                                   if r["answer"] else ":"))
    for c in r["campaigns"]:
        label = f"with {c['inbound']} inbound" if c["inbound"] else "alone"
        extra = ""
        if c["inbound"]:
            w = c["window"]
            extra = (f"; during the burst ({w['seconds']:.1f} s, injection → last inbound "
                     f"stored) {w['throughput']:.1f} parts/s")
            if r["answer"]:
                extra += f"; {c['replies']} replies sent, {c['posts']} webhook POSTs received"
        print(f"      {label:18} {c['parts']:5} parts in {c['elapsed']:6.2f} s = "
              f"{c['throughput']:6.1f} parts/s, appliance CPU {c['cpu']:5.1f} s{extra}")
    limit = r["modems"] / r["latency"]
    print(f"      physical limit {limit:.0f} parts/s; with burst / alone (means): whole "
          f"campaign {r['ratio']:.3f}, burst window only {r['window_ratio']:.3f} (aim >= 0.90)")
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
    parser.add_argument("--pairs", type=int, default=2, help="(b): burst/alone pairs")
    parser.add_argument("--keep", action="store_true", help="keep the folder (logs, db)")
    parser.add_argument("--answer", action=argparse.BooleanOptionalAction, default=True,
                        help="(b): a rule answers every inbound SMS, a webhook forwards it")
    args = parser.parse_args(argv)
    if args.quick:
        args.modems, args.inbound, args.messages, args.burst, args.pairs = 2, 40, 40, 20, 1
    report(run(args.modems, args.inbound, args.messages, args.burst, args.latency, args.keep,
               args.pairs, args.answer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
