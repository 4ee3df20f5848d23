"""Benchmark: accepted messages per second on a WAL file with synchronous=FULL.

Run by hand (`python -m tests.bench.bench_store`): batched acceptance (many messages per
transaction, as the writer's group commit does) against one transaction per message. Prints
figures; asserts nothing (they depend on the disk).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from appliance.store.db import open_database
from appliance.store.messages import NewMessage, accept_messages
from appliance.store.migrations import migrate
from appliance.store.writer import Store


def _requests(n: int) -> list[NewMessage]:
    return [NewMessage(f"+86138{i:08d}", f"bench message {i}") for i in range(n)]


def bench(folder: Path, rows: int = 2000, batch: int = 200) -> None:
    db = open_database(f"sqlite:///{folder / 'per_row.db'}")
    migrate(db)
    t0 = time.perf_counter()
    for req in _requests(rows // 4):  # fewer rows: one fsync each
        with db.atomic():
            accept_messages([req])
    per_row = (rows // 4) / (time.perf_counter() - t0)
    db.close()

    db = open_database(f"sqlite:///{folder / 'batched.db'}")
    migrate(db)
    reqs = _requests(rows)
    t0 = time.perf_counter()
    for i in range(0, rows, batch):
        with db.atomic():
            accept_messages(reqs[i:i + batch])
    batched = rows / (time.perf_counter() - t0)
    db.close()

    db = open_database(f"sqlite:///{folder / 'store.db'}")
    migrate(db)

    async def concurrent() -> tuple[float, int]:
        store = Store(db)
        await store.start()
        t0 = time.perf_counter()
        await asyncio.gather(*(store.write(lambda r=r: accept_messages([r])) for r in reqs))
        elapsed = time.perf_counter() - t0
        await store.stop()
        return rows / elapsed, store.stats.transactions

    via_store, transactions = asyncio.run(concurrent())
    db.close()

    print("SQLite WAL, synchronous=FULL")
    print(f"  one transaction per message      : {per_row:10,.0f} messages/s")
    print(f"  {batch} messages per transaction    : {batched:10,.0f} messages/s")
    print(f"  Store.write x{rows}, group commit : {via_store:10,.0f} messages/s "
          f"({transactions} transactions)")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cardgate-bench-") as folder:
        bench(Path(folder))


if __name__ == "__main__":
    main()
