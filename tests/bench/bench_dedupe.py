"""Benchmark: dedupe's look-up — 1,000 recipients against an outbox of 100,000 messages.

The outbox: 100,000 messages, 200 texts to 500 recipients each from a pool of 50,000 numbers,
accepted over the last two days (a real SQLite file in WAL mode, migrated). Then one request
of 1,000 recipients (half of them sent the same text today) is checked: the store's read alone
(`copies_since`, one indexed read per 500 recipients), and the whole check (`Dedupe.admit`:
stamping every row with the content hash, the read through the store's reader thread, the
leave-out). Prints milliseconds (median of the runs); asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import zoneinfo
from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance.dispatch.intake import SendRequest, check_request
from appliance.policy.dedupe import Dedupe, content_hash
from appliance.policy.layer import Draft
from appliance.store.db import open_database
from appliance.store.dedupe import copies_since
from appliance.store.messages import NewMessage, accept_messages
from appliance.store.migrations import migrate
from appliance.store.writer import Store

SH = zoneinfo.ZoneInfo("Asia/Shanghai")


def number(i: int) -> str:
    return f"+86138{i:08d}"


def fill(db, messages: int, now: datetime) -> str:  # noqa: ANN001
    rng = random.Random(7)
    texts = [f"【行政】通知第{t}号：请于周五前提交材料" for t in range(messages // 500)]
    with db.atomic():
        for t, text in enumerate(texts):
            h = content_hash(text)
            at = now - timedelta(hours=48 * (len(texts) - t) / len(texts))
            rows = [NewMessage(recipient=number(rng.randrange(50_000)), text=text,
                               content_hash=h, door="api") for _ in range(500)]
            accept_messages(rows, at)
    return texts[-1]  # the latest: sent within the window


async def run(messages: int, recipients: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"sqlite:///{Path(tmp) / 'cg.db'}")
        migrate(db)
        now = datetime.now(UTC)
        started = time.perf_counter()
        text = fill(db, messages, now)
        print(f"  outbox: {messages:,} messages written in {time.perf_counter() - started:.1f} s")
        sent = [r for (r,) in db.execute_sql(
            "SELECT recipient FROM message WHERE content_hash = ?", (content_hash(text),))]
        to = (sent[:recipients // 2]
              + [number(60_000 + i) for i in range(recipients - len(sent[:recipients // 2]))])
        since = now - timedelta(days=1)
        reads = []
        for _ in range(runs):
            t0 = time.perf_counter()
            found = copies_since(content_hash(text), to, since)
            reads.append((time.perf_counter() - t0) * 1000)
        print(f"  copies_since, {len(to):,} recipients: {statistics.median(reads):.1f} ms "
              f"(median of {runs}; {len(found)} found)")
        store = Store(db)
        await store.start()
        dedupe = Dedupe(store, enabled=True, tz=SH)
        request = SendRequest(to=to, text=text)
        rows = check_request(request, now, 86400.0).rows
        admits = []
        for _ in range(runs):
            draft = Draft(request=request, rows=list(rows), count=None, now=now)  # type: ignore[arg-type]
            t0 = time.perf_counter()
            await dedupe.admit(draft)
            admits.append((time.perf_counter() - t0) * 1000)
            dedupe.abandoned(draft)
        print(f"  Dedupe.admit, {len(to):,} recipients: {statistics.median(admits):.1f} ms "
              f"(median of {runs}; {len(draft.rejected)} left out as duplicates)")
        await store.stop()
        db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_dedupe", description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.recipients, args.runs = 5_000, 200, 2
    print(f"Dedupe look-up: {args.recipients:,} recipients against {args.messages:,} messages")
    asyncio.run(run(args.messages, args.recipients, args.runs))
    return 0
