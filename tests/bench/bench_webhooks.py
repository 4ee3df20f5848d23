"""Benchmark: webhook events delivered per second to a local HTTP receiver.

Run by hand (`python -m tests.bench webhooks [--events N] [--endpoints 1,4]`). Prints figures
and asserts nothing. For each endpoint count: a fresh SQLite file (WAL, synchronous=FULL) and
Store, a Deliverer, and a real HTTP/1.1 receiver per endpoint on a loopback port, each in a
process of its own (as a LAN device is apart from the box); N SmsReceived events are
published on the hub at once, and the clock stops when every delivery (N x endpoints) is
answered 200 and recorded as delivered on disk. Each row is signed (HMAC-SHA256) and POSTed
with keep-alive. Figures: deliveries per second end to end, and the fan-out alone (hub batch
to rows on disk). Run with the shipped [webhooks] settings (concurrency 8, 2 per endpoint)
and with 8 per endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from appliance.config import WebhooksConfig
from appliance.hub import EventHub, SmsReceived
from appliance.store import webhooks as q
from appliance.store.db import open_database, utcnow
from appliance.store.migrations import migrate
from appliance.store.writer import Store
from appliance.webhooks import Deliverer
from tests.webhooks.receiver import free_port


class ProcessReceiver:
    """tests/webhooks/receiver.py in a process of its own (as a LAN device is apart from the
    box: it does not share our GIL)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.webhooks.receiver", str(self.port)],
            stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def close(self) -> int:
        """Stop it; the number of requests it answered 2xx."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return int(out.strip().splitlines()[-1])


async def one_run(events: int, endpoints: int, per_endpoint: int, folder: Path) -> dict:
    db = open_database(f"sqlite:///{folder / f'wh-{endpoints}-{per_endpoint}.db'}")
    migrate(db)
    store = Store(db)
    await store.start()
    hub = EventHub()
    receivers = [ProcessReceiver() for _ in range(endpoints)]
    now = utcnow()
    for r in receivers:
        url = r.url
        await store.write(lambda u=url: q.create_endpoint(u, ["sms.received"], now))
    deliverer = Deliverer(WebhooksConfig(concurrency=8, per_endpoint=per_endpoint), store, hub,
                          rng=random.Random(1))
    await deliverer.start()
    want = events * endpoints
    try:
        started = time.perf_counter()
        for i in range(1, events + 1):
            hub.publish(SmsReceived(inbox_id=i, sender="+8613900139000",
                                    text=f"inbound message {i}", sim="89860001"))
        fanned = None
        while deliverer.stats.delivered < want:
            if fanned is None and deliverer.stats.rows_written >= want:
                fanned = time.perf_counter() - started
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        fanned = fanned or elapsed
        counts = await store.read(q.counts)
    finally:
        await deliverer.stop()
        await store.stop()
        db.close()
        answered = sum(r.close() for r in receivers)
    assert counts["delivered"] == want and answered == want, (counts, answered)
    return {"elapsed": elapsed, "fanned": fanned, "deliveries": want,
            "transactions": store.stats.transactions, "attempts": deliverer.stats.attempts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_webhooks", description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--endpoints", default="1,4")
    parser.add_argument("--quick", action="store_true", help="200 events (smoke test)")
    args = parser.parse_args(argv)
    events = 200 if args.quick else args.events
    counts = [int(n) for n in args.endpoints.split(",")]
    print(f"webhook deliveries: {events} sms.received events published at once, "
          f"local HTTP receiver(s), SQLite WAL synchronous=FULL")
    print(f"{'endpoints':>9} {'per_endpoint':>12} {'deliveries':>10} {'seconds':>8} "
          f"{'deliveries/s':>12} {'events/s':>9} {'fan-out s':>9} {'txns':>6}")
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        for endpoints in counts:
            for per_endpoint in (2, 8):
                r = asyncio.run(one_run(events, endpoints, per_endpoint, Path(tmp)))
                print(f"{endpoints:>9} {per_endpoint:>12} {r['deliveries']:>10} "
                      f"{r['elapsed']:>8.2f} {r['deliveries'] / r['elapsed']:>12.0f} "
                      f"{events / r['elapsed']:>9.0f} {r['fanned']:>9.3f} "
                      f"{r['transactions']:>6}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
