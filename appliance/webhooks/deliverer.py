"""The Deliverer: hub events in, delivery rows on disk, signed POSTs out.

Knows: the three tasks that do it (see below), the in-memory view of what is in flight and
which targets are backing off, and the httpx client.
Must not know: SQL (store.webhooks), what the events' publishers do.

Three tasks, so that no one waits on another's slow part:
- the fan-out reads the hub subscription a batch at a time and writes that batch's delivery
  rows in ONE writer job (never one per event), then wakes the worker; it never touches HTTP;
  while no endpoint is enabled it writes nothing at all (the usual box: events are free);
- the worker sleeps until the earliest due row (computed from the queue, not polled), or until
  woken (new rows, a slot freed), starts attempts up to `concurrency` in all and `per_endpoint`
  per target, and prunes old rows now and then;
- the recorder writes the attempts' outcomes in batches (one transaction for all the outcomes
  that came during the previous commit). A POST's slot frees when the POST ends, so the next
  POST never waits for an fsync; its row stays out of the due query until its outcome is on
  disk, so it cannot be picked up twice.

A target (an endpoint, or a bare URL) that fails is blocked as a whole for a backoff that grows
with its failures in a row, so its backlog is skipped by the due query instead of being tried
row by row; its first success ends the block and brings its backlog forward to now.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from appliance.config import WebhooksConfig
from appliance.hub import (
    ApprovalDecided,
    EventHub,
    MessageStateChanged,
    SmsReceived,
    Subscription,
)
from appliance.store import webhooks as q
from appliance.store.db import utcnow
from appliance.webhooks import android, signing
from appliance.webhooks.policy import backoff, classify, gives_up

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(hours=1)
RESPONSE_READ_LIMIT = 64 * 1024  # bytes of an answer read (and thrown away) at most
SUBSCRIPTION_SIZE = 50_000
FAN_OUT_BATCH = 1000
READY_BATCH = 64  # due rows fetched per query: one read feeds many POSTs


@dataclass
class DelivererStats:
    rows_written: int = 0
    attempts: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0


class Deliverer:
    """Durable, signed, retried webhook deliveries (held as `appliance.webhooks`)."""

    def __init__(self, config: WebhooksConfig, store, hub: EventHub, *,
                 clock: Callable[[], datetime] | None = None, rng: random.Random | None = None,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.config = config
        self.store = store
        self.hub = hub
        self.clock = clock or utcnow
        self.rng = rng or random.Random()
        self.stats = DelivererStats()
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._subscription: Subscription | None = None
        self._inbox_table = False
        self._caught_up_sms: set[int] = set()
        self._wake = asyncio.Event()
        self._ready: list[q.Due] = []  # fetched due rows, not started yet
        # What can change the answer of the due queries: new rows, rows put back to pending
        # at a later time, endpoints changed. While it stays the same (and the skipped
        # targets too), the last empty answer is reused instead of asking the store again:
        # with one busy endpoint that is two index scans of its backlog saved per POST.
        self._generation = 0
        self._quiet: tuple[frozenset[str], int, datetime | None] | None = None
        self._refill = False
        self._unrecorded: dict[int, q.Due] = {}  # posting, or its outcome not on disk yet
        self._posting = 0  # POSTs in flight
        self._per_target: Counter[str] = Counter()  # POSTs in flight per target
        self._blocked: dict[str, tuple[datetime, int]] = {}  # target -> (until, failures)
        self._recovered: set[str] = set()
        self._outcomes: list[tuple[q.Outcome, q.Due]] = []
        self._outcomes_ready = asyncio.Event()
        self._attempts: set[asyncio.Task] = set()
        self._tasks: list[asyncio.Task] = []
        self._next_prune: datetime | None = None

    # -- life -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe first (nothing published from now on is missed), then catch up from the
        store, then run."""
        limits = httpx.Limits(max_connections=self.config.concurrency,
                              max_keepalive_connections=self.config.concurrency)
        # TCP_NODELAY: httpcore writes the headers and the body in two sends; with Nagle's
        # algorithm the body then waits for the receiver's delayed ACK (40 ms on Linux) on
        # every request - measured: 25 POSTs/s per connection instead of hundreds.
        transport = self._transport or httpx.AsyncHTTPTransport(
            limits=limits, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.config.timeout), follow_redirects=False,
            # LAN devices: the box's proxy settings (if any) are not for them.
            trust_env=False, transport=transport, limits=limits)
        self._subscription = self.hub.subscribe(
            "webhooks", [SmsReceived, MessageStateChanged, ApprovalDecided],
            maxsize=SUBSCRIPTION_SIZE)
        self._inbox_table = await self.store.read(q.inbox_available)
        if await self._endpoints_enabled():
            await self._catch_up()
        self._tasks = [asyncio.create_task(self._fan_out(), name="webhooks-fan-out"),
                       asyncio.create_task(self._work(), name="webhooks-worker"),
                       asyncio.create_task(self._record(), name="webhooks-recorder")]

    async def stop(self) -> None:
        """Write the rows of every event already received, abandon POSTs in flight (their rows
        stay pending: sent again after the restart, with the same delivery id), record the
        outcomes already known, close the client."""
        if self._subscription is None:
            return
        self._subscription.close()
        fan_out, worker, recorder = self._tasks or (None, None, None)
        if fan_out is not None:
            await fan_out  # ends once the closed subscription is drained
        for task in (worker, *self._attempts):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (worker, *self._attempts) if t is not None),
                             return_exceptions=True)
        if recorder is not None:
            recorder.cancel()
            await asyncio.gather(recorder, return_exceptions=True)
        await self._write_outcomes()
        if self._client is not None:
            await self._client.aclose()
        self._subscription = None
        self._tasks = []

    # -- what others call -------------------------------------------------------------------

    async def enqueue_post(self, url: str, event: str, payload: dict[str, Any],
                           secret: str = "") -> int:
        """Queue one POST of `payload` to a bare `url` (the rules engine's action): durable,
        retried and signed like an endpoint's, unsigned when `secret` is "". Returns the
        delivery id. Raises store.webhooks.WebhookInvalid for a bad URL or event name."""
        now = self.clock()
        delivery_id = await self.store.write(
            lambda: q.enqueue_url(url, event, payload, secret, now))
        self._generation += 1
        self._wake.set()
        return delivery_id

    async def enqueue_get(self, url: str, event: str) -> int:
        """Queue one GET of `url` (Kannel's dlr-url, escape codes filled in): durable and
        retried like a POST, with no body and no signature. Returns the delivery id."""
        now = self.clock()
        delivery_id = await self.store.write(lambda: q.enqueue_url(url, event, None, "", now))
        self._generation += 1  # the worker's cached "nothing due" answer is stale now
        self._wake.set()
        return delivery_id

    async def enqueue_test(self, webhook_id: int) -> int:
        """Queue a `webhook.test` delivery to one endpoint; raises WebhookNotFound."""
        now = self.clock()
        delivery_id = await self.store.write(lambda: q.enqueue_test(webhook_id, now))
        self._generation += 1
        self._wake.set()
        return delivery_id

    def wake(self) -> None:
        """Look at the queue afresh now (an endpoint was enabled, changed or deleted: rows
        already fetched may be stale)."""
        self._refill = True
        self._generation += 1
        self._wake.set()

    # -- events into rows -------------------------------------------------------------------

    async def _catch_up(self) -> None:
        now = self.clock()
        more = True
        while more:
            written, more = await self.store.write(lambda: q.record_message_events(now))
            self.stats.rows_written += written
        while self._inbox_table:
            ids, more = await self.store.write(lambda: q.catch_up_sms(now))
            self._caught_up_sms.update(ids)
            if ids:
                log.info("webhooks: %d inbound SMS stored before the last stop caught up",
                         len(ids))
            if not more:
                break

    async def _endpoints_enabled(self) -> bool:
        """Whether some endpoint is enabled, asked of the store for each batch (a read far
        cheaper than the write it saves). A batch read as "none" holds only events committed
        before the read, hence before any endpoint's transaction, which moved the cursors
        past them: skipping it loses nothing an endpoint should hear."""
        return await self.store.read(q.any_enabled)

    async def _fan_out(self) -> None:
        assert self._subscription is not None
        while True:
            batch = await self._subscription.batch(FAN_OUT_BATCH)
            if not batch:
                return
            # A batch of only the states no webhook tells of (sending, queued...: most of a
            # draining pool's events) needs no read of the endpoints either.
            if not any(not isinstance(e, MessageStateChanged) or e.state in q.STATE_EVENTS
                       for e in batch):
                continue
            try:
                if not await self._endpoints_enabled():
                    continue  # no row to write, no cursor to move: see q.any_enabled
            except Exception:  # a failed read must not end the fan-out; as if enabled
                log.exception("webhooks: could not tell whether an endpoint is enabled")
            received = []
            decided: list[dict[str, Any]] = []
            look = False
            for event in batch:
                if isinstance(event, SmsReceived):
                    if event.inbox_id in self._caught_up_sms:
                        self._caught_up_sms.discard(event.inbox_id)
                        continue
                    received.append({"inbox_id": event.inbox_id, "sender": event.sender,
                                     "text": event.text, "sim": event.sim,
                                     "partial": event.partial, "at": event.at})
                elif isinstance(event, MessageStateChanged) and event.state in q.STATE_EVENTS:
                    look = True
                elif isinstance(event, ApprovalDecided):
                    decided.append(event.as_dict())
            if not received and not look and not decided:
                continue
            try:
                await self._write_rows(received, look, decided)
            except Exception:
                # The message events are read from their rows at the next wake (their cursor
                # did not move). The SMS of this batch are caught up at the next start only
                # if no later batch moves the inbox cursor past them: said in the log.
                log.exception("webhooks: writing the deliveries of %d events failed "
                              "(inbox ids %s)", len(batch),
                              [r["inbox_id"] for r in received][:20])

    async def _write_rows(self, received: list[dict[str, Any]], look: bool,
                          decided: list[dict[str, Any]] | None = None) -> None:
        now = self.clock()
        inbox_table = self._inbox_table

        def job() -> tuple[int, bool]:
            written = q.record_sms(received, now, inbox_table=inbox_table)
            if decided:
                written += q.record_approvals(decided, now)
            more = False
            if look:
                more_written, more = q.record_message_events(now)
                written += more_written
            return written, more

        written, more = await self.store.write(job)
        while more:
            more_written, more = await self.store.write(lambda: q.record_message_events(now))
            written += more_written
        if written:
            self.stats.rows_written += written
            self._generation += 1
            self._wake.set()

    # -- the worker -------------------------------------------------------------------------

    def _skips(self, targets: set[str]) -> dict[str, list]:
        return {"skip_webhooks": [int(t[1:]) for t in targets if t.startswith("w")],
                "skip_urls": [t for t in targets if not t.startswith("w")]}

    async def _work(self) -> None:
        config = self.config
        while True:
            self._wake.clear()
            now = self.clock()
            if self._next_prune is None or now >= self._next_prune:
                await self._prune(now)
            blocked = {t for t, (until, _) in self._blocked.items() if until > now}
            if self._refill:
                self._ready.clear()  # new rows, or an endpoint changed: take the order afresh
                self._refill = False
            self._ready = [r for r in self._ready if r.target not in blocked]
            self._launch_ready()
            timeout = None
            if self._posting < config.concurrency:
                # The rows fetched so far are all for full targets (or none are left): ask
                # for more, leaving out full and blocked targets, so other endpoints flow.
                full = {t for t, n in self._per_target.items() if n >= config.per_endpoint}
                skipped = frozenset(blocked | full)
                quiet = self._quiet
                if (quiet is not None and quiet[0] == skipped and quiet[1] == self._generation
                        and (quiet[2] is None or quiet[2] > now)):
                    due = quiet[2]  # nothing changed since that answer: it still holds
                else:
                    skips = self._skips(set(skipped))
                    held = [*self._unrecorded, *(r.id for r in self._ready)]
                    generation = self._generation
                    rows = await self.store.read(functools.partial(
                        q.due_deliveries, now, READY_BATCH, skip_ids=held, **skips))
                    self._ready.extend(rows)
                    if self._launch_ready() and self._posting < config.concurrency:
                        continue  # there may be more, for other targets
                    if rows:
                        continue
                    due = await self.store.read(functools.partial(
                        q.next_due_at, skip_ids=held, **skips))
                    self._quiet = (skipped, generation, due)
                times = [t for t in (due, self._next_prune) if t is not None]
                times += [self._blocked[t][0] for t in blocked]
                if times:
                    timeout = max((min(times) - self.clock()).total_seconds(), 0.0)
                if timeout == 0.0:
                    # Due already: go round (the wake-up flag is cleared at the top).
                    await asyncio.sleep(0)
                    continue
            # Woken by a POST ending (a slot), new rows, or the time of the next due row.
            await self._sleep(timeout)

    def _launch_ready(self) -> int:
        """Start POSTs for fetched rows, in their order, as far as the limits allow; the rows
        of targets that are full stay fetched (they go when a slot of theirs frees)."""
        config = self.config
        launched = 0
        kept: list[q.Due] = []
        for row in self._ready:
            if (self._posting < config.concurrency
                    and self._per_target[row.target] < config.per_endpoint):
                self._launch(row)
                launched += 1
            else:
                kept.append(row)
        self._ready = kept
        return launched

    async def _sleep(self, timeout: float | None) -> None:
        """Until woken, or `timeout` seconds. Not asyncio.wait_for: on Python 3.11 it can
        swallow a cancellation that lands as the wait ends, and stop() would wait forever."""
        if timeout is None:
            await self._wake.wait()
            return
        timer = asyncio.get_running_loop().call_later(timeout, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            timer.cancel()

    async def _prune(self, now: datetime) -> None:
        cutoff = now - timedelta(seconds=self.config.retention)
        try:
            pruned = await self.store.write(lambda: q.prune(cutoff))
        except Exception:
            log.exception("webhooks: pruning old deliveries failed")
            pruned = 0
        # A full chunk: more are waiting; take them soon, a chunk at a time (the writer is
        # shared, one long DELETE would hold everyone up).
        self._next_prune = now + (timedelta(seconds=1) if pruned >= 5000 else PRUNE_EVERY)

    def _launch(self, row: q.Due) -> None:
        self._unrecorded[row.id] = row
        self._posting += 1
        self._per_target[row.target] += 1
        task = asyncio.create_task(self._attempt(row), name=f"webhook-delivery-{row.id}")
        self._attempts.add(task)
        task.add_done_callback(self._attempts.discard)

    async def _attempt(self, row: q.Due) -> None:
        assert self._client is not None
        status: int | None = None
        error = ""
        try:
            method, body, headers = self._request(row)
            # httpx's timeout bounds each read; a receiver trickling its answer a byte at a
            # time would hold the POST (and its slot) indefinitely. `timeout` is the whole.
            async with asyncio.timeout(self.config.timeout), \
                    self._client.stream(method, row.url,
                                        content=body if method == "POST" else None,
                                        headers=headers) as response:
                status = response.status_code
                seen = 0
                async for chunk in response.aiter_raw():
                    seen += len(chunk)
                    if seen > RESPONSE_READ_LIMIT:
                        break  # nobody reads it: do not let a receiver stream us a gigabyte
        except TimeoutError:
            if status is None:
                error = f"no complete answer within {self.config.timeout} s"
        except httpx.HTTPError as exc:
            if status is None:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # an httpx.InvalidURL and the like: retried, and said why
            error = f"{type(exc).__name__}: {exc}"
        finally:
            # The slot frees when the POST ends, not when its outcome is on disk: the next
            # POST need not wait for an fsync. The row itself stays out of the due query
            # (`_unrecorded`) until its outcome is recorded, so it cannot go twice.
            self._posting -= 1
            self._per_target[row.target] -= 1
            if self._per_target[row.target] <= 0:
                del self._per_target[row.target]
            self._wake.set()
        self._settle(row, status, error)

    def _request(self, row: q.Due) -> tuple[str, bytes, dict[str, str]]:
        """(method, body, headers) of one delivery. Raises on a row that cannot be rendered:
        the attempt then fails like an unreachable target (retried, then given up), so a
        bad row never leaves its slot taken."""
        if row.payload == "":  # enqueue_get: a bare GET (Kannel's dlr-url), nothing to sign
            return "GET", b"", {}
        ts = int(self.clock().timestamp())
        if row.format == "android":  # the Android API's endpoint: its envelope and signature
            body = android.body(event=row.event, payload_json=row.payload,
                                delivery_id=row.id, webhook_ref=row.endpoint_ref)
            return "POST", body, android.headers(body, ts, row.secret)
        # The stored payload is JSON text already: spliced in, not parsed and dumped again.
        body = (f'{{"id":{row.id},"event":{json.dumps(row.event)},'
                f'"created_at":{json.dumps(row.created_at.isoformat())},'
                f'"data":{row.payload}}}').encode()
        return "POST", body, signing.headers(row.event, row.id, ts, body, row.secret)

    def _settle(self, row: q.Due, status: int | None, error: str) -> None:
        now = self.clock()
        attempts = row.attempts + 1
        verdict = classify(status)
        if status is not None and verdict != "delivered":
            error = f"HTTP {status}"
        config = self.config
        self.stats.attempts += 1
        if verdict == "delivered":
            if row.target in self._blocked:
                del self._blocked[row.target]
                self._recovered.add(row.target)
            outcome = q.Outcome(row.id, q.DELIVERED, attempts, now, status)
        elif verdict == "retry":
            _, failures = self._blocked.get(row.target, (now, 0))
            block = backoff(failures + 1, config.backoff_base, config.backoff_cap, self.rng)
            self._blocked[row.target] = (now + timedelta(seconds=block), failures + 1)
            if gives_up(attempts, row.created_at, now, max_attempts=config.max_attempts,
                        max_age=config.max_age):
                outcome = q.Outcome(row.id, q.FAILED, attempts, now, status, error)
            else:
                wait = backoff(attempts, config.backoff_base, config.backoff_cap, self.rng)
                outcome = q.Outcome(row.id, q.PENDING, attempts,
                                    now + timedelta(seconds=wait), status, error)
        else:
            outcome = q.Outcome(row.id, q.FAILED, attempts, now, status, error)
        if outcome.state == q.FAILED:
            log.warning("webhooks: delivery %d (%s) to %s failed for good after %d attempt(s): "
                        "%s", row.id, row.event, row.url, attempts, error)
        self._outcomes.append((outcome, row))
        self._outcomes_ready.set()

    # -- recording outcomes -----------------------------------------------------------------

    async def _record(self) -> None:
        while True:
            await self._outcomes_ready.wait()
            self._outcomes_ready.clear()
            # shield: once taken from the list, the outcomes are written even if stop() comes
            await asyncio.shield(self._write_outcomes())

    async def _write_outcomes(self) -> None:
        batch, self._outcomes = self._outcomes, []
        recovered, self._recovered = self._recovered, set()
        if not batch and not recovered:
            return
        outcomes = [o for o, _ in batch]
        now = self.clock()
        hurry = self._skips(recovered)

        def job() -> None:
            q.apply_outcomes(outcomes)
            q.bring_forward(now, webhooks=hurry["skip_webhooks"], urls=hurry["skip_urls"])

        try:
            await self.store.write(job)
        except Exception:
            # The rows stay pending as they were: tried again (a receiver that got them
            # dedupes by delivery id).
            log.exception("webhooks: recording %d delivery outcomes failed", len(batch))
            self._generation += 1
        if recovered or any(o.state == q.PENDING for o in outcomes):
            self._generation += 1  # rows pending again, or brought forward: ask anew
        for outcome, row in batch:
            self._unrecorded.pop(row.id, None)
            if outcome.state == q.DELIVERED:
                self.stats.delivered += 1
            elif outcome.state == q.FAILED:
                self.stats.failed += 1
            else:
                self.stats.retried += 1
        self._wake.set()

    # -- for the API and tests --------------------------------------------------------------

    def blocked_targets(self) -> dict[str, datetime]:
        """Targets backing off, and until when."""
        now = self.clock()
        return {t: until for t, (until, _) in self._blocked.items() if until > now}


__all__ = ["Deliverer", "DelivererStats"]
