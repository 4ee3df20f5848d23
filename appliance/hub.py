"""The event hub: where every part says what changed, once it is committed.

Knows: the kinds of events, and asyncio.
Must not know: who publishes (the dispatcher, the inbox, the pool) or who listens (webhooks,
the live console's Server-Sent Events, metrics). Nothing listens by polling the database.

Rules a publisher keeps: publish only AFTER the commit the event tells of (a listener that
reads the store must find the row), from the event loop's thread, and never wait for anyone:
`publish` puts the event in each subscriber's own queue and returns.

Rules a subscriber keeps: it reads its queue (`async for event in subscription`, or
`await subscription.batch()`) and does its slow work elsewhere. A subscriber that falls behind
by more than its queue's size loses the OLDEST events of its queue, counted in `dropped` and
logged once per burst: a live view can afford that, and a listener that cannot (webhooks) keeps
its own durable queue on disk and catches up from the store after a restart or a drop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

log = logging.getLogger(__name__)

DEFAULT_QUEUE = 10_000


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    """Base of every event: `kind` names it on the wire (webhooks, SSE)."""

    kind: ClassVar[str] = "event"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (datetimes as ISO 8601 text), with the kind."""
        out: dict[str, Any] = {"event": self.kind}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out


@dataclass(frozen=True)
class MessagesAccepted(Event):
    """Outbound messages accepted (on disk, ids given to their submitter)."""

    kind: ClassVar[str] = "message.accepted"
    message_ids: tuple[int, ...]
    at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class MessageStateChanged(Event):
    """An outbound message reached a new state (`sent`, `delivered`, `failed`, ...)."""

    kind: ClassVar[str] = "message.state"
    message_id: int
    state: str
    sim: str | None = None
    at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class SmsReceived(Event):
    """An inbound SMS stored in the inbox (reassembled, or partial when a part never came)."""

    kind: ClassVar[str] = "sms.received"
    inbox_id: int
    sender: str
    text: str
    sim: str
    partial: bool = False
    at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class PoolChanged(Event):
    """A modem or SIM came, went or changed (registration, signal, state).

    `change` is the pool event's class name (`SimAttached`, `SimLost`, ...); `port` and `sim`
    say which; `detail` carries the rest as plain values.
    """

    kind: ClassVar[str] = "pool.changed"
    change: str
    port: str = ""
    sim: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class ApprovalDecided(Event):
    """An approver approved or rejected a held send request (policy.approval): its messages
    were released to the queue, or cancelled with the reason."""

    kind: ClassVar[str] = "approval.decided"
    approval_id: int
    state: str  # approved / rejected
    decided_by: str
    reason: str = ""
    message_ids: tuple[int, ...] = ()
    at: datetime = field(default_factory=_now)


class Subscription:
    """One subscriber's bounded queue of events."""

    def __init__(self, hub: EventHub, name: str, kinds: frozenset[type[Event]] | None,
                 maxsize: int):
        self.hub = hub
        self.name = name
        self.kinds = kinds
        self.maxsize = maxsize
        self.dropped = 0
        self._queue: collections.deque[Event] = collections.deque()
        self._ready = asyncio.Event()
        self._closed = False
        self._warned = False

    def wants(self, event: Event) -> bool:
        return self.kinds is None or type(event) in self.kinds

    def offer(self, event: Event) -> None:
        if self._closed:
            return
        if len(self._queue) >= self.maxsize:
            self._queue.popleft()
            self.dropped += 1
            if not self._warned:
                self._warned = True
                log.warning("event subscriber %r fell %d events behind: the oldest are dropped",
                            self.name, self.maxsize)
        self._queue.append(event)
        self._ready.set()

    def pending(self) -> int:
        return len(self._queue)

    async def get(self) -> Event:
        """The next event; raises `StopAsyncIteration` once closed and empty."""
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        event = self._queue.popleft()
        if not self._queue:
            self._warned = False  # caught up: a later burst is worth its own warning
        return event

    async def batch(self, limit: int = 500) -> list[Event]:
        """At least one event (waiting for it), at most `limit`: what is queued now. An empty
        list means the subscription is closed."""
        try:
            first = await self.get()
        except StopAsyncIteration:
            return []
        out = [first]
        while self._queue and len(out) < limit:
            out.append(self._queue.popleft())
        return out

    def close(self) -> None:
        """Stop receiving; a reader waiting in get()/batch() ends."""
        self._closed = True
        self._ready.set()
        self.hub._remove(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.get()


class EventHub:
    """Publish/subscribe within one process, on one event loop."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self.published = 0

    def subscribe(self, name: str, kinds: Iterable[type[Event]] | None = None, *,
                  maxsize: int = DEFAULT_QUEUE) -> Subscription:
        """A new subscription to `kinds` (every kind when None). Close it when done."""
        sub = Subscription(self, name, frozenset(kinds) if kinds is not None else None, maxsize)
        self._subscriptions.append(sub)
        return sub

    def publish(self, event: Event) -> None:
        """Hand `event` to every subscriber that wants it; never blocks, never raises."""
        self.published += 1
        for sub in list(self._subscriptions):
            if sub.wants(event):
                sub.offer(event)

    def subscribers(self) -> list[str]:
        return [s.name for s in self._subscriptions]

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)


__all__ = [
    "ApprovalDecided",
    "Event",
    "EventHub",
    "MessageStateChanged",
    "MessagesAccepted",
    "PoolChanged",
    "SmsReceived",
    "Subscription",
]
