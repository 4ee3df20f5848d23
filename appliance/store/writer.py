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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import peewee

T = TypeVar("T")
log = logging.getLogger(__name__)

_STOP = object()


@dataclass
class StoreStats:
    """Counters for tests, the benchmark and /metrics."""

    jobs: int = 0
    failed_jobs: int = 0
    transactions: int = 0
    largest_batch: int = 0


@dataclass
class _Job:
    fn: Callable[[], Any]
    future: concurrent.futures.Future


def _begin_args(db: peewee.Database) -> dict[str, str]:
    # SQLite: BEGIN IMMEDIATE takes the write lock up front. A deferred BEGIN that reads first
    # and writes later can fail with SQLITE_BUSY at the upgrade (busy_timeout does not help
    # there) when another process - a CLI tool - writes at the same time.
    real = getattr(db, "obj", None) or db
    return {"lock_type": "IMMEDIATE"} if isinstance(real, peewee.SqliteDatabase) else {}


def _sqlite(db: peewee.Database) -> bool:
    return isinstance(getattr(db, "obj", None) or db, peewee.SqliteDatabase)


class Store:
    """The only way the appliance writes to the database (and the usual way it reads)."""

    def __init__(self, db: peewee.Database, *, batch_max: int = 500, readers: int = 2):
        self.db = db
        self.batch_max = batch_max
        self.readers = readers
        self.stats = StoreStats()
        self._jobs: queue.Queue[_Job | object] = queue.Queue()
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

    async def write(self, fn: Callable[[], T]) -> T:
        """Run `fn` in the writer thread inside a transaction; return its result after COMMIT."""
        if self._writer is None:
            raise RuntimeError("Store.write() before Store.start()")
        job = _Job(fn, concurrent.futures.Future())
        self._jobs.put(job)
        return await asyncio.wrap_future(job.future)

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
                first = self._jobs.get()
                if first is _STOP:
                    return
                batch: list[_Job] = [first]  # type: ignore[list-item]
                stop_after = False
                while len(batch) < self.batch_max:
                    try:
                        nxt = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop_after = True
                        break
                    batch.append(nxt)  # type: ignore[arg-type]
                self._run_batch(batch)
                if stop_after:
                    return
        finally:
            self._close_connection()

    def _run_batch(self, batch: list[_Job]) -> None:
        # A caller that was cancelled before its job started never gets it run; once started
        # (set_running), a job can no longer be cancelled and always gets its outcome.
        batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not batch:
            return
        outcomes: list[tuple[bool, Any]] = []
        try:
            self.db.connect(reuse_if_open=True)
            with self.db.atomic(**_begin_args(self.db)):
                for job in batch:
                    try:
                        with self.db.atomic():  # a SAVEPOINT: this job alone rolls back
                            outcomes.append((True, job.fn()))
                    except Exception as exc:
                        outcomes.append((False, exc))
            # Leaving the block above has COMMITted (or raised): only now may callers learn
            # their result, so a 202 is never sent for a message that is not on disk.
        except Exception as exc:
            log.exception("store: a transaction of %d jobs failed to commit", len(batch))
            for job in batch:
                job.future.set_exception(exc)
            self.stats.failed_jobs += len(batch)
            return
        self.stats.transactions += 1
        self.stats.jobs += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                job.future.set_result(value)
            else:
                self.stats.failed_jobs += 1
                job.future.set_exception(value)

    def _read_loop(self) -> None:
        try:
            while True:
                job = self._reads.get()
                if job is _STOP:
                    return
                assert isinstance(job, _Job)
                if not job.future.set_running_or_notify_cancel():
                    continue
                try:
                    if self.db.connect(reuse_if_open=True) is not False and _sqlite(self.db):
                        # A new connection: a reader that tries to write must fail loudly
                        # instead of racing the writer thread.
                        self.db.execute_sql("PRAGMA query_only = 1")
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
