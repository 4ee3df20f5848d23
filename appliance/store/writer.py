"""One writer thread with group commit, and a few reader threads, so the event loop never blocks
on the database.

Knows: threads, queues, transactions, savepoints; how to hand a result back to an asyncio caller
only after COMMIT (acceptance means on disk).
Must not know: what the jobs do (they are plain callables from `messages`, `apikeys`, ...).

Why one writer: SQLite allows one writer at a time anyway, and with a single thread every
read-modify-write job (claiming, crash recovery) is atomic without FOR UPDATE. Why group commit:
with synchronous=FULL each COMMIT is an fsync (~1.5k transactions/s measured here), so the
writer drains up to `batch_max` queued jobs into ONE transaction; each job runs in its own
SAVEPOINT, so a job that raises is rolled back alone, its caller gets the exception, and the
others still commit.

Why two lanes: a send waits on the writer between a modem's +CMGS answer and the next PDU on
that modem (the answer's `sent` and the next part's `sending` must be on disk first), so those
small jobs (`urgent`) go ahead of bulk work (acceptance of a large batch, claims, reports), in
transactions of their own. The bulk lane is not starved: a bulk job waits at most `bulk_wait`
(50 ms) for the urgent lane to empty, then joins the next transaction anyway.

A third kind of job, `ride_along`, starts no transaction of its own while others are coming: it
joins the next one that commits anything else, or after `ride_wait` (50 ms) goes alone. For
work nobody waits on (the audit entries of accepted sends): written alone, they were 3 in 10
of the transactions, each with its own fsync, while 32 clients posted single messages.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import peewee

T = TypeVar("T")
log = logging.getLogger(__name__)

_STOP = object()

_WRITER_TEMP_STORE = "PRAGMA temp_store = MEMORY"
"""The writer's connection keeps its statement and savepoint journals in memory. Every job of a
batch runs in a SAVEPOINT, and every multi-row INSERT into a table with a UNIQUE index in a
statement journal: SQLite copies each page such a job first changes there (the page before the
change, for a rollback of that job alone). On file (the default), past 64 KiB a transaction,
that was a pwrite of 4 bytes and one of 4 KiB per page copied, to a temporary file made and
deleted per transaction: measured, ~20 system calls and ~35 µs of the writer's CPU per
single-recipient request, a fifth of it. Nothing there is needed after a crash (the WAL alone
recovers), so durability is unchanged; the memory is that of the pages one transaction changes
(pages it adds at the file's end are not copied). Readers keep the default: a large sort (an
export) must not grow in RAM."""


@dataclass
class StoreStats:
    """Counters for tests, the benchmark and /metrics."""

    jobs: int = 0
    failed_jobs: int = 0
    transactions: int = 0
    largest_batch: int = 0


@dataclass
class _Job:
    """One callable and where its outcome goes: an asyncio future of `loop` (Store.write,
    the writer hands the outcomes of a whole batch to the loop in one call), or a
    concurrent.futures future (reads, run_sync_write)."""

    fn: Callable[[], Any]
    future: concurrent.futures.Future | asyncio.Future
    loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> bool:
        """False if the caller gave up before the job started: it is then never run. Once
        started, the job always runs to its outcome (a caller cancelled meanwhile just does
        not see it)."""
        if self.loop is None:
            return self.future.set_running_or_notify_cancel()  # type: ignore[union-attr]
        # Read from the writer thread without the loop: a benign race, as with
        # set_running_or_notify_cancel - a cancel that comes just after still reaches the
        # caller (CancelledError), and _deliver then leaves that future alone.
        return not self.future.cancelled()


class _Lanes:
    """The writer's queue: urgent jobs ahead of bulk ones. A bulk job waits while urgent ones
    keep coming, but at most `bulk_wait` seconds; then it shares the next transaction with
    them. A riding job joins the next batch that takes bulk work, or after `ride_wait` seconds
    any batch, or makes one alone. `_STOP` goes in the bulk lane and ends a batch."""

    def __init__(self, bulk_wait: float = 0.05, ride_wait: float = 0.05) -> None:
        self.bulk_wait = bulk_wait
        self.ride_wait = ride_wait
        self._ready = threading.Condition(threading.Lock())
        self._urgent: deque[_Job] = deque()
        self._bulk: deque[tuple[float, _Job | object]] = deque()
        self._riding: deque[tuple[float, _Job]] = deque()

    def put(self, item: _Job | object, urgent: bool = False, ride_along: bool = False) -> None:
        with self._ready:
            if urgent:
                self._urgent.append(item)  # type: ignore[arg-type]
            elif ride_along:
                self._riding.append((time.monotonic(), item))  # type: ignore[arg-type]
            else:
                self._bulk.append((time.monotonic(), item))
            self._ready.notify()

    def _wait_for_work(self) -> None:
        """Block until urgent or bulk work is queued, or the oldest riding job has waited
        `ride_wait`."""
        while not self._urgent and not self._bulk:
            if not self._riding:
                self._ready.wait()
                continue
            left = self._riding[0][0] + self.ride_wait - time.monotonic()
            if left <= 0:
                return
            self._ready.wait(left)

    def take(self, limit: int) -> list[_Job | object]:
        """Block until there is work; return the next batch (at most `limit` jobs, plus a
        `_STOP` at its end if the bulk lane reached it)."""
        with self._ready:
            self._wait_for_work()
            batch: list[_Job | object] = []
            urgent, bulk, riding = self._urgent, self._bulk, self._riding
            while urgent and len(batch) < limit:
                batch.append(urgent.popleft())
            # Urgent work commits alone (a modem waits on it) unless the others have waited
            # their limit; riding jobs never lengthen it otherwise (a send's audit entries in
            # the commit that stands between a modem's prompt and its PDU).
            now = time.monotonic()
            bulk_joins = bool(bulk) and (not batch or now - bulk[0][0] >= self.bulk_wait)
            riding_joins = bool(riding) and (
                not batch or bulk_joins or now - riding[0][0] >= self.ride_wait)
            while riding_joins and riding and len(batch) < limit:  # before a `_STOP`
                batch.append(riding.popleft()[1])
            if not bulk_joins:
                return batch
            while bulk and len(batch) < limit:
                item = bulk.popleft()[1]
                batch.append(item)
                if item is _STOP:
                    break
            return batch


def _deliver(outcomes: list[tuple[asyncio.Future, bool, Any]]) -> None:
    """In the event loop: settle the futures of one batch's async callers."""
    for future, ok, value in outcomes:
        if future.done():  # cancelled while its job ran
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _begin_args(db: peewee.Database) -> dict[str, str]:
    # SQLite: BEGIN IMMEDIATE takes the write lock up front. A deferred BEGIN that reads first
    # and writes later can fail with SQLITE_BUSY at the upgrade (busy_timeout does not help
    # there) when another process - a CLI tool - writes at the same time.
    real = getattr(db, "obj", None) or db
    return {"lock_type": "IMMEDIATE"} if isinstance(real, peewee.SqliteDatabase) else {}


def _sqlite(db: peewee.Database) -> bool:
    return isinstance(getattr(db, "obj", None) or db, peewee.SqliteDatabase)


class _Savepoint:
    """Runs one job in a SAVEPOINT, so that job alone rolls back if it raises.

    Cheaper than a nested `db.atomic()` per job, which names each savepoint after a fresh
    uuid4: a new SQL text every time, parsed anew by the driver. Here the one fixed name gives
    three constant statements the driver prepares once. Reusing a name is safe: the jobs run
    one after another, each savepoint is released (or rolled back and released) before the
    next is taken, and a job's own `db.atomic()` nests under it with a name of its own.
    """

    NAME = "store_job"

    def __init__(self, db: peewee.Database):
        self.db = db
        name = self.NAME.join(db.quote)
        self.begin = f"SAVEPOINT {name}"
        self.release = f"RELEASE SAVEPOINT {name}"
        self.rollback = f"ROLLBACK TO SAVEPOINT {name}"

    def run(self, fn: Callable[[], Any]) -> tuple[bool, Any]:
        """(True, result) or (False, exception), with the job's writes kept or undone."""
        execute = self.db.execute_sql
        execute(self.begin)
        try:
            result = fn()
            execute(self.release)
        except Exception as exc:
            execute(self.rollback)
            execute(self.release)
            return False, exc
        return True, result


class Store:
    """The only way the appliance writes to the database (and the usual way it reads)."""

    def __init__(self, db: peewee.Database, *, batch_max: int = 500, readers: int = 2,
                 ride_wait: float = 0.05):
        self.db = db
        self.batch_max = batch_max
        self.readers = readers
        self.stats = StoreStats()
        self._jobs = _Lanes(ride_wait=ride_wait)
        self._reads: queue.Queue[_Job | object] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._writer: threading.Thread | None = None

    # -- life -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._writer is not None:
            return
        self._writer = threading.Thread(target=self._write_loop, name="store-writer", daemon=True)
        self._writer.start()
        self._threads = [self._writer]
        for n in range(self.readers):
            t = threading.Thread(target=self._read_loop, name=f"store-reader-{n}", daemon=True)
            t.start()
            self._threads.append(t)

    async def stop(self) -> None:
        """Finish every job already queued, then stop the threads and close their connections."""
        if self._writer is None:
            return
        self._jobs.put(_STOP)
        for _ in range(self.readers):
            self._reads.put(_STOP)
        threads, self._threads, self._writer = self._threads, [], None
        await asyncio.to_thread(lambda: [t.join() for t in threads])

    @property
    def running(self) -> bool:
        return self._writer is not None

    # -- the three doors --------------------------------------------------------------------

    async def write(self, fn: Callable[[], T], *, urgent: bool = False,
                    ride_along: bool = False) -> T:
        """Run `fn` in the writer thread inside a transaction; return its result after COMMIT.

        `urgent`: a small job something physical waits on (a modem idle until it commits); it
        goes ahead of the queued bulk work. `ride_along`: a job nobody is in a hurry for; it
        joins the next transaction made for other work, or waits `ride_wait` (50 ms) to go
        alone. Jobs of one lane keep their order; jobs of different lanes may commit in
        either order, so a caller that needs one write before another awaits the first."""
        if self._writer is None:
            raise RuntimeError("Store.write() before Store.start()")
        loop = asyncio.get_running_loop()
        job = _Job(fn, loop.create_future(), loop)
        self._jobs.put(job, urgent, ride_along)
        return await job.future

    async def read(self, fn: Callable[[], T]) -> T:
        """Run `fn` on a reader thread, in a read transaction (one consistent snapshot)."""
        if self._writer is None:
            raise RuntimeError("Store.read() before Store.start()")
        job = _Job(fn, concurrent.futures.Future())
        self._reads.put(job)
        return await asyncio.wrap_future(job.future)

    def run_sync_write(self, fn: Callable[[], T]) -> T:
        """For code with no event loop (CLI tools): through the writer thread when it runs,
        otherwise in the calling thread; either way it returns after COMMIT."""
        job = _Job(fn, concurrent.futures.Future())
        if self._writer is not None and threading.current_thread() is not self._writer:
            self._jobs.put(job)
        else:
            self._run_batch([job])
        return job.future.result()

    # -- threads ----------------------------------------------------------------------------

    def _write_loop(self) -> None:
        try:
            while True:
                batch = self._jobs.take(self.batch_max)
                stop_after = batch[-1] is _STOP
                if stop_after:
                    batch.pop()
                if batch:
                    self._run_batch(batch)  # type: ignore[arg-type]
                if stop_after:
                    return
        finally:
            self._close_connection()

    def _run_batch(self, batch: list[_Job]) -> None:
        # A caller that was cancelled before its job started never gets it run; once started
        # (_Job.start), a job always runs to its outcome. A job whose rollback itself fails
        # fails the whole batch: the others must not commit next to its half-undone writes.
        batch = [job for job in batch if job.start()]
        if not batch:
            return
        outcomes: list[tuple[bool, Any]] = []
        try:
            if self.db.connect(reuse_if_open=True) is not False and _sqlite(self.db):
                self.db.execute_sql(_WRITER_TEMP_STORE)
            if len(batch) == 1:
                outcomes.append(self._run_alone(batch[0]))
            else:
                with self.db.atomic(**_begin_args(self.db)):
                    savepoint = _Savepoint(self.db)
                    for job in batch:
                        outcomes.append(savepoint.run(job.fn))
            # Leaving the block above has COMMITted (or raised): only now may callers learn
            # their result, so a 202 is never sent for a message that is not on disk.
        except Exception as exc:
            log.exception("store: a transaction of %d jobs failed to commit", len(batch))
            self.stats.failed_jobs += len(batch)
            self._settle(batch, [(False, exc)] * len(batch))
            return
        self.stats.transactions += 1
        self.stats.jobs += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        self.stats.failed_jobs += sum(1 for ok, _ in outcomes if not ok)
        self._settle(batch, outcomes)

    def _run_alone(self, job: _Job) -> tuple[bool, Any]:
        """A job alone in its transaction needs no SAVEPOINT: if it raises, rolling the
        transaction back undoes its writes and nothing else. Two statements fewer on the
        send path's commits (most come alone), each a release and a retake of the GIL that
        the event loop's thread may hold meanwhile. Raises only if the COMMIT failed."""
        failed: list[Exception] = []
        try:
            with self.db.atomic(**_begin_args(self.db)):
                try:
                    return True, job.fn()
                except Exception as exc:
                    failed.append(exc)
                    raise
        except Exception as exc:
            if not failed or exc is not failed[0]:  # BEGIN, COMMIT or the ROLLBACK failed
                raise
            return False, exc

    @staticmethod
    def _settle(batch: list[_Job], outcomes: list[tuple[bool, Any]]) -> None:
        # One call_soon_threadsafe per event loop and batch, not one wake-up per job: with
        # hundreds of small jobs per commit, per-job hand-offs cost more than the jobs.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, bool, Any]]] = {}
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            if job.loop is None:
                future: concurrent.futures.Future = job.future  # type: ignore[assignment]
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            else:
                settled = by_loop.setdefault(job.loop, [])
                settled.append((job.future, ok, value))  # type: ignore[arg-type]
        for loop, results in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, results)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                log.warning("store: %d results for a closed event loop dropped", len(results))

    def _read_loop(self) -> None:
        try:
            while True:
                job = self._reads.get()
                if job is _STOP:
                    return
                assert isinstance(job, _Job)
                if not job.start():
                    continue
                try:
                    if self.db.connect(reuse_if_open=True) is not False:
                        # A new connection: a reader that tries to write must fail loudly
                        # instead of racing the writer thread; on PostgreSQL a read also
                        # sees one snapshot, as a SQLite read transaction does.
                        self.db.execute_sql(
                            "PRAGMA query_only = 1" if _sqlite(self.db) else
                            "SET SESSION CHARACTERISTICS AS TRANSACTION "
                            "ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    with self.db.atomic():
                        result = job.fn()
                except Exception as exc:
                    job.future.set_exception(exc)
                else:
                    job.future.set_result(result)
        finally:
            self._close_connection()

    def _close_connection(self) -> None:
        try:
            if not self.db.is_closed():
                self.db.close()
        except Exception:  # closing is best effort at shutdown
            log.exception("store: closing a connection failed")


__all__ = ["Store", "StoreStats"]
