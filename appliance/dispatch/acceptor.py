"""Small acceptances that arrive together are written together.

Knows: asyncio, the store's writer, and `accept_many`.
Must not know: validation (intake), queues and SIMs (the engine indexes what was accepted), HTTP.

Thirty-two clients each posting one message make thirty-two writer jobs, each with its own
savepoint and its own INSERTs: measured, ~150 µs of CPU per job, more than the rest of the
request on the event loop. The requests that reach the dispatcher in the same turn of the event
loop are handed to the writer as ONE job (`accept_many`: one INSERT for all when none is
refused), in the writer's urgent lane: an HTTP client waits on it as a modem waits on a send's
record, and behind a draining pool's sends the bulk lane would add up to its bulk_wait (50 ms)
to every request. Each caller still gets its own ids, or its own IdempotencyConflict, and only
after COMMIT.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from appliance.store import messages as outbox
from appliance.store.writer import Store

SMALL_REQUEST = 20
"""Messages: a request up to this size is batched with others in the urgent lane; a larger one
is a job of its own in the bulk lane (its INSERTs are batched already)."""

OnAccepted = Callable[[list[tuple[list[outbox.NewMessage], outbox.Acceptance]]], None]
_Waiting = list[tuple[list[outbox.NewMessage], asyncio.Future]]


class Acceptor:
    """Accepts requests' messages through one store, batching the small ones.

    `on_accepted([(requests, acceptance), ...])` runs in the event loop for the requests one
    job accepted, once for all of them (the dispatcher indexes them, tells the hub and wakes
    its scheduler once per job, not once per request), before their callers hear of it, and
    also when a caller has gone away meanwhile (a client that disconnected): rows on disk
    must reach the dispatcher's queue whoever waits for them. Should it raise, each request
    is indexed alone, and only the one that fails hears of it.
    """

    def __init__(self, store: Store, on_accepted: OnAccepted):
        self.store = store
        self.on_accepted = on_accepted
        self._waiting: _Waiting = []
        self._writes: set[asyncio.Task] = set()

    async def accept(self, requests: list[outbox.NewMessage]) -> outbox.Acceptance:
        """Store `requests` durably; their Acceptance once committed and queued."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        if len(requests) > SMALL_REQUEST:
            self._start([(requests, future)], urgent=False)
        else:
            if not self._waiting:
                loop.call_soon(self._flush)  # after the other handlers ready in this turn
            self._waiting.append((requests, future))
        # Not shielded: a caller cancelled now cancels only its future; `_write` still indexes
        # its rows (they must not stay written but unqueued), and settles only live futures.
        return await future

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        self._start(waiting, urgent=True)

    def _start(self, waiting: _Waiting, urgent: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._write(waiting, urgent),
                                                      name="accept")
        self._writes.add(task)  # a reference, so the task is not collected while it runs
        task.add_done_callback(self._writes.discard)

    async def _write(self, waiting: _Waiting, urgent: bool) -> None:
        batches = [requests for requests, _ in waiting]
        try:
            results: list[Any] = await self.store.write(
                lambda: outbox.accept_many(batches), urgent=urgent)
        except BaseException as exc:  # the whole transaction failed: everyone hears it
            for _, future in waiting:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        outcomes: list[Any] = list(results)  # each request's Acceptance, or its error
        indexed = [i for i, result in enumerate(outcomes) if not isinstance(result, Exception)]
        if indexed:
            try:
                self.on_accepted([(waiting[i][0], outcomes[i]) for i in indexed])
            except Exception:  # noqa: BLE001 - find out whose rows: each alone
                for i in indexed:
                    try:
                        self.on_accepted([(waiting[i][0], outcomes[i])])
                    except Exception as exc:  # noqa: BLE001 - on disk, not queued: it hears
                        outcomes[i] = exc
        for (_, future), outcome in zip(waiting, outcomes, strict=True):
            if future.done():  # its caller went away (cancelled)
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
