"""The writer thread: group commit, durability before the answer, per-job failure isolation."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import peewee
import pytest

from appliance.store.messages import NewMessage, accept_messages
from appliance.store.models import Message, Setting
from appliance.store.writer import Store


@pytest.fixture
async def store(db: peewee.Database):
    s = Store(db)
    await s.start()
    yield s
    await s.stop()


def count_on_disk(path: Path, table: str = "message") -> int:
    """Count rows through a connection of our own: only committed rows are visible to it."""
    raw = sqlite3.connect(path)
    try:
        return raw.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        raw.close()


def accept_one(n: int):
    return lambda: accept_messages([NewMessage(f"+86138{n:08d}", f"message {n}")])[0]


async def test_a_thousand_concurrent_writes_share_few_transactions(store: Store, db_path: Path):
    ids = await asyncio.gather(*(store.write(accept_one(n)) for n in range(1000)))
    assert len(set(ids)) == 1000
    assert count_on_disk(db_path) == 1000  # all committed when the last write() returned
    assert store.stats.jobs == 1000
    assert store.stats.transactions < 1000 / 5, store.stats  # group commit happened
    assert store.stats.largest_batch > 1


async def test_write_returns_only_after_commit(store: Store, db_path: Path):
    msg_id = await store.write(accept_one(1))
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("SELECT text FROM message WHERE id = ?", (msg_id,)).fetchone() == (
            "message 1",
        )
    finally:
        raw.close()


async def test_one_failing_job_does_not_lose_the_others(store: Store, db_path: Path):
    def bad():
        Setting.create(key="half", value="written before the error")
        raise RuntimeError("job failed")

    jobs = [store.write(accept_one(n)) for n in range(20)]
    jobs.insert(10, store.write(bad))
    results = await asyncio.gather(*jobs, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert [str(e) for e in errors] == ["job failed"]
    assert count_on_disk(db_path) == 20
    assert count_on_disk(db_path, "setting") == 0  # the failing job's own write rolled back


async def test_a_failing_job_alone_in_its_transaction_is_undone_and_the_writer_goes_on(
        store: Store, db_path: Path):
    def bad():
        Setting.create(key="half", value="written before the error")
        raise RuntimeError("job failed")

    with pytest.raises(RuntimeError, match="job failed"):
        await store.write(bad)  # alone: run without a savepoint, its transaction rolled back
    assert count_on_disk(db_path, "setting") == 0
    assert store.stats.failed_jobs == 1
    await store.write(lambda: Setting.create(key="after", value="1"))
    assert count_on_disk(db_path, "setting") == 1


async def test_a_database_error_reaches_its_caller(store: Store):
    await store.write(lambda: Setting.create(key="k", value="1"))
    with pytest.raises(peewee.IntegrityError):
        await store.write(lambda: Setting.create(key="k", value="2"))
    assert await store.read(lambda: Setting.get_by_id("k").value) == "1"


async def test_reads_see_committed_writes_and_cannot_write(store: Store):
    await store.write(accept_one(7))
    assert await store.read(lambda: Message.select().count()) == 1
    with pytest.raises(peewee.OperationalError, match="readonly|read-only|query_only"):
        await store.read(lambda: Setting.create(key="from a reader", value=""))


async def test_the_writer_keeps_its_journals_in_memory_and_readers_do_not(store: Store):
    # temp_store = MEMORY (2): the savepoint and statement journals of the writer's jobs no
    # longer spill to a temporary file; the readers' large sorts keep the default (0, a file).
    def temp_store() -> int:
        return store.db.execute_sql("PRAGMA temp_store").fetchone()[0]

    assert await store.write(temp_store) == 2
    assert await store.read(temp_store) == 0


async def test_stop_finishes_queued_jobs(db: peewee.Database, db_path: Path):
    s = Store(db)
    await s.start()
    pending = [asyncio.ensure_future(s.write(accept_one(n))) for n in range(50)]
    await asyncio.sleep(0)  # let every write() enqueue its job
    await s.stop()
    assert sorted(await asyncio.gather(*pending)) == list(range(1, 51))
    assert count_on_disk(db_path) == 50


def test_run_sync_write_without_a_loop(db: peewee.Database, db_path: Path):
    s = Store(db)
    msg_id = s.run_sync_write(accept_one(3))
    assert count_on_disk(db_path) == 1
    assert s.stats.transactions == 1 and msg_id == 1
    with pytest.raises(ZeroDivisionError):
        s.run_sync_write(lambda: 1 / 0)


async def test_run_sync_write_from_another_thread_goes_through_the_writer(
    store: Store, db_path: Path
):
    msg_id = await asyncio.to_thread(store.run_sync_write, accept_one(4))
    assert count_on_disk(db_path) == 1 and store.stats.jobs == 1 and msg_id == 1


async def test_write_before_start_is_an_error(db: peewee.Database):
    with pytest.raises(RuntimeError, match="start"):
        await Store(db).write(lambda: None)


async def test_a_write_cancelled_before_it_starts_never_runs(store: Store):
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def blocker():
        started.set()
        release.wait(5)
        ran.append("blocker")

    first = asyncio.ensure_future(store.write(blocker))
    await asyncio.to_thread(started.wait, 5)  # the writer thread is busy with `blocker`
    second = asyncio.ensure_future(store.write(lambda: ran.append("cancelled one")))
    third = asyncio.ensure_future(store.write(lambda: ran.append("third") or 3))
    await asyncio.sleep(0)
    second.cancel()
    release.set()
    assert await third == 3 and await first is None
    with pytest.raises(asyncio.CancelledError):
        await second
    assert ran == ["blocker", "third"]


async def test_jobs_with_their_own_savepoints_are_isolated(store: Store, db_path: Path):
    def nested(n: int, fail: bool):
        def job():
            with store.db.atomic():  # a job may open its own (nested) savepoint
                Setting.create(key=f"k{n}", value="")
            if fail:
                raise RuntimeError(f"job {n} failed")
            return n
        return job

    results = await asyncio.gather(
        *(store.write(nested(n, fail=n % 3 == 1)) for n in range(30)), return_exceptions=True
    )
    assert [isinstance(r, RuntimeError) for r in results] == [n % 3 == 1 for n in range(30)]
    assert [r for r in results if not isinstance(r, BaseException)] == [
        n for n in range(30) if n % 3 != 1]
    assert count_on_disk(db_path, "setting") == 20
    assert store.stats.failed_jobs == 10


async def test_urgent_jobs_go_ahead_of_queued_bulk_work(db: peewee.Database):
    """A send's next step must not wait behind a pile of bulk jobs; the bulk still runs (in
    order) in the very next transaction."""
    store = Store(db)
    await store.start()
    order: list[str] = []
    gate = threading.Event()
    try:
        blocker = asyncio.ensure_future(store.write(lambda: gate.wait(5)))
        await asyncio.sleep(0.05)  # the writer is now inside the blocker's transaction
        bulk = [asyncio.ensure_future(store.write(lambda n=n: order.append(f"bulk{n}")))
                for n in range(5)]
        await asyncio.sleep(0)
        urgent = asyncio.ensure_future(store.write(lambda: order.append("urgent"), urgent=True))
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(blocker, urgent, *bulk)
    finally:
        await store.stop()
    assert order == ["urgent", "bulk0", "bulk1", "bulk2", "bulk3", "bulk4"]


async def test_a_stream_of_urgent_jobs_does_not_starve_bulk_work(db: peewee.Database):
    store = Store(db)
    await store.start()
    try:
        stop = False

        async def urgent_stream() -> int:
            n = 0
            while not stop:
                await store.write(lambda: None, urgent=True)
                n += 1
            return n

        streams = [asyncio.ensure_future(urgent_stream()) for _ in range(4)]
        await asyncio.sleep(0.05)
        for n in range(20):  # each bulk job waits at most about two transactions
            await asyncio.wait_for(store.write(accept_one(n)), 5)
        stop = True
        assert all(n > 0 for n in await asyncio.gather(*streams))
    finally:
        await store.stop()


async def test_a_riding_job_joins_the_next_transaction_of_other_work(db: peewee.Database):
    """The audit entries of accepted sends start no transaction (no fsync) of their own while
    other work comes: they commit with it."""
    store = Store(db, ride_wait=30)
    await store.start()
    try:
        await store.write(lambda: None)
        before = store.stats.transactions
        riding = asyncio.ensure_future(store.write(lambda: "audit", ride_along=True))
        await asyncio.sleep(0.05)  # the writer is awake, waiting for other work
        assert not riding.done()
        other = asyncio.ensure_future(store.write(lambda: "accept"))  # acceptance: bulk
        assert await asyncio.gather(riding, other) == ["audit", "accept"]
        assert store.stats.transactions == before + 1
    finally:
        await store.stop()


async def test_a_riding_job_does_not_lengthen_urgent_work(db: peewee.Database):
    """Urgent work is what a modem waits on (a part's `sending` before its PDU): riding jobs
    wait for bulk work, or their `ride_wait`, rather than join it."""
    store = Store(db, ride_wait=30)
    await store.start()
    try:
        riding = asyncio.ensure_future(store.write(lambda: "audit", ride_along=True))
        await asyncio.sleep(0.05)
        assert await store.write(lambda: "sending", urgent=True) == "sending"
        await asyncio.sleep(0.05)
        assert not riding.done()
        assert await store.write(lambda: "accept") == "accept"
        assert await asyncio.wait_for(riding, 5) == "audit"
    finally:
        await store.stop()


async def test_a_riding_job_alone_is_written_all_the_same(store: Store, db_path: Path):
    await store.write(accept_one(1), ride_along=True)
    assert count_on_disk(db_path) == 1


async def test_stop_writes_the_riding_jobs_still_queued(db: peewee.Database, db_path: Path):
    store = Store(db)
    await store.start()
    riding = [asyncio.ensure_future(store.write(accept_one(n), ride_along=True))
              for n in range(3)]
    await asyncio.sleep(0)
    await store.stop()
    await asyncio.gather(*riding)
    assert count_on_disk(db_path) == 3
