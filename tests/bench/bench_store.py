"""Benchmark: accepted messages per second on a WAL file with synchronous=FULL.

Run by hand (`python -m tests.bench.bench_store [--rows N] [--repeat R]`). Prints figures and
asserts nothing (they depend on the disk and the CPU). Each figure is the best of `--repeat`
runs, each on a fresh database file:

- one transaction per message (one fsync each: the floor the group commit exists to avoid);
- `accept_messages` with 200 and with 1,000 messages per transaction, without and with a
  client_ref (the idempotency lookup is then on the path);
- `Store.write` with 2,000 concurrent single-message jobs (the writer's group commit, one
  SAVEPOINT per job);
- `Store.write` with 10 concurrent jobs of 1,000 messages each.

Before/after: `--save before.json` on the old code, then `--before before.json` on the new one
prints both columns and the ratio. Each run also checks that every message and event is on
disk and that the file really is WAL + synchronous=FULL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import peewee

from appliance.store.db import open_database
from appliance.store.messages import NewMessage, accept_messages
from appliance.store.migrations import migrate
from appliance.store.writer import Store


def _requests(n: int, *, client_ref: bool = False) -> list[NewMessage]:
    if client_ref:
        return [NewMessage(f"+86138{i:08d}", f"bench message {i}", submitter_kind="api_key",
                           submitter_id="1", client_ref=f"req-{i // 10}") for i in range(n)]
    return [NewMessage(f"+86138{i:08d}", f"bench message {i}") for i in range(n)]


class _Fresh:
    """A new migrated database file per run."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.n = 0

    def __call__(self) -> peewee.Database:
        self.n += 1
        db = open_database(f"sqlite:///{self.folder / f'bench-{self.n}.db'}")
        migrate(db)
        return db


Run = Callable[[peewee.Database], tuple[int, int, str]]
"""Does the work on a fresh database; returns (messages handled, messages stored, note)."""


def _check(db: peewee.Database, stored: int) -> None:
    """Guard the figures: every message and its event on disk, and the durable settings."""
    sync = db.execute_sql("PRAGMA synchronous").fetchone()[0]
    journal = db.execute_sql("PRAGMA journal_mode").fetchone()[0]
    assert (sync, journal) == (2, "wal"), f"not WAL + synchronous=FULL: {sync}, {journal}"
    for table in ("message", "message_event"):
        got = db.execute_sql(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        assert got == stored, f"{table}: {got} rows, expected {stored}"


def _best(repeat: int, fresh: _Fresh, run: Run) -> tuple[float, str]:
    best, note = 0.0, ""
    for _ in range(repeat):
        db = fresh()
        try:
            t0 = time.perf_counter()
            rows, stored, extra = run(db)
            rate = rows / (time.perf_counter() - t0)
            _check(db, stored)
        finally:
            db.close()
        if rate > best:
            best, note = rate, extra
    return best, note


def _per_row(rows: int) -> Run:
    reqs = _requests(rows)

    def run(db: peewee.Database) -> tuple[int, int, str]:
        for req in reqs:
            with db.atomic():
                accept_messages([req])
        return rows, rows, ""
    return run


def _batched(rows: int, batch: int, client_ref: bool = False) -> Run:
    reqs = _requests(rows, client_ref=client_ref)

    def run(db: peewee.Database) -> tuple[int, int, str]:
        for i in range(0, rows, batch):
            with db.atomic():
                accept_messages(reqs[i:i + batch])
        return rows, rows, ""
    return run


def _retry(rows: int, batch: int) -> Run:
    """Every batch sent twice: the second time all ids come from the idempotency lookup."""
    reqs = _requests(rows, client_ref=True)

    def run(db: peewee.Database) -> tuple[int, int, str]:
        for i in range(0, rows, batch):
            first = None
            for _ in range(2):
                with db.atomic():
                    ids = accept_messages(reqs[i:i + batch])
                assert first is None or ids == first, "a retry got other ids"
                first = ids
        return 2 * rows, rows, ""
    return run


def _via_store(jobs: int, per_job: int) -> Run:
    reqs = _requests(jobs * per_job)
    chunks = [reqs[i:i + per_job] for i in range(0, len(reqs), per_job)]

    def run(db: peewee.Database) -> tuple[int, int, str]:
        async def go() -> Store:
            store = Store(db)
            await store.start()
            await asyncio.gather(*(store.write(lambda c=c: accept_messages(c)) for c in chunks))
            await store.stop()
            return store

        store = asyncio.run(go())
        return len(reqs), len(reqs), f"({store.stats.transactions} transactions)"
    return run


def bench(folder: Path, rows: int = 10_000, repeat: int = 3) -> dict[str, tuple[float, str]]:
    fresh = _Fresh(folder)
    figures: list[tuple[str, float, str]] = []

    def add(label: str, run: Run) -> None:
        rate, note = _best(repeat, fresh, run)
        figures.append((label, rate, note))

    add("one transaction per message", _per_row(max(rows // 20, 100)))
    add("200 messages per transaction", _batched(rows, 200))
    add("1,000 messages per transaction", _batched(rows, 1000))
    add("1,000 per transaction, client_ref", _batched(rows, 1000, client_ref=True))
    add("1,000 per transaction, retried", _retry(rows, 1000))
    add("Store.write x2,000 single messages", _via_store(2000, 1))
    add("Store.write x10 batches of 1,000", _via_store(10, 1000))

    return {label: (rate, note) for label, rate, note in figures}


def report(figures: dict[str, tuple[float, str]], repeat: int,
           before: dict[str, float] | None = None) -> None:
    print(f"SQLite WAL, synchronous=FULL, messages/s (best of {repeat})")
    if before is None:
        for label, (rate, note) in figures.items():
            print(f"  {label:<36}: {rate:10,.0f} {note}")
        return
    print(f"  {'':<36}  {'before':>10}  {'after':>10}")
    for label, (rate, note) in figures.items():
        old = before.get(label)
        if old:
            print(f"  {label:<36}: {old:10,.0f}  {rate:10,.0f}  x{rate / old:5.1f} {note}")
        else:
            print(f"  {label:<36}: {'-':>10}  {rate:10,.0f} {note}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--save", type=Path, help="write the figures to this JSON file")
    parser.add_argument("--before", type=Path, help="JSON from --save: print it alongside")
    parser.add_argument("--quick", action="store_true", help="a small run (the smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.repeat = 500, 1
    with tempfile.TemporaryDirectory(prefix="cardgate-bench-") as folder:
        figures = bench(Path(folder), rows=args.rows, repeat=args.repeat)
    before = json.loads(args.before.read_text()) if args.before else None
    report(figures, args.repeat, before)
    if args.save:
        args.save.write_text(json.dumps({k: rate for k, (rate, _) in figures.items()}, indent=1))


if __name__ == "__main__":
    main()
