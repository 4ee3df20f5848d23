"""The audit log: who did what, from where, through which door — append-only, hash-chained.

Knows: who an actor is (`Actor`), the names of the actions recorded, and how an entry is
written from async code (`AuditLog.record`, through the store's writer, bulk lane) or inside a
transaction already open (`append`, synchronous: the command line, a store job).
Must not know: SQL (store.audit), HTTP, what the recorded actions do.

Actions (dotted, so `?action=user` lists every user change):
- `login.success`, `login.failure`, `login.lockout`, `logout`, `password.change`,
  `password.reset`;
- `user.create`, `user.change`, `user.unlock`; `department.create|change|delete`;
- `apikey.create`, `apikey.revoke`, `apikey.limit`;
- `message.send` (one per accepted send request: `check.AuditCheck`);
- `modem.restart` (the web console's modem page: target the IMEI, detail the port and the
  state the modem settled in);
- changes made through the admin API (`api.audit_trail`): `rule.*`, `blacklist.*`,
  `webhook.*`, `group.*`, `contact.*`, `message.cancel`.

`AuditLog.record` waits for the entry's commit (an admin change, a login); `enqueue` does not
(a send: its answer must not wait for a second transaction): entries enqueued meanwhile go to
the writer together as ONE job, and `drain` waits for them (the appliance drains before it
stops its store).
"""

from __future__ import annotations

import asyncio
import getpass
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.store import audit as audit_store
from appliance.store.db import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who acted: `kind` is user / api_key / cli / system / anonymous (a login by a name that
    may not exist); `id` and `name` as that kind knows them."""

    kind: str
    id: str = ""
    name: str = ""
    address: str = ""
    door: str = ""

    @classmethod
    def command_line(cls) -> Actor:
        """The person at the box's shell (the OS account that ran `cardgate ...`)."""
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = ""
        return cls("cli", "", who, "", "cli")


SYSTEM = Actor("system", door="system")


def append(actor: Actor, action: str, target: str = "", detail: dict[str, Any] | None = None,
           *, at: datetime | None = None) -> int:
    """Write an entry in the transaction already open (synchronous); its seq."""
    return audit_store.append_entry(
        at=at or utcnow(), action=action, actor_kind=actor.kind, actor_id=actor.id,
        actor_name=actor.name, address=actor.address, door=actor.door, target=target,
        detail=detail)


def append_many(entries: list[tuple[Actor, str, str, dict[str, Any] | None, datetime]],
                ) -> list[int]:
    """Write entries (actor, action, target, detail, at), in order, in the transaction
    already open (synchronous): one read of the chain's end for all; their seqs."""
    return audit_store.append_entries([
        {"at": at, "action": action, "actor_kind": actor.kind, "actor_id": actor.id,
         "actor_name": actor.name, "address": actor.address, "door": actor.door,
         "target": target, "detail": detail}
        for actor, action, target, detail, at in entries])


class AuditLog:
    """Entries written from the event loop, through the store's single writer (`record`: bulk
    lane; `enqueue`: riding along with other work)."""

    def __init__(self, store, clock=None) -> None:
        self.store = store
        self.clock = clock or utcnow
        self._queued: list[tuple[Actor, str, str, dict[str, Any] | None, datetime]] = []
        self._flush: asyncio.Task | None = None

    async def record(self, actor: Actor, action: str, target: str = "",
                     detail: dict[str, Any] | None = None) -> int:
        """Write an entry and wait for its commit; its seq."""
        at = self.clock()
        return await self.store.write(lambda: append(actor, action, target, detail, at=at))

    def enqueue(self, actor: Actor, action: str, target: str = "",
                detail: dict[str, Any] | None = None) -> None:
        """Write an entry soon, without waiting (timestamped now)."""
        self._queued.append((actor, action, target, detail, self.clock()))
        if self._flush is None:
            self._flush = asyncio.ensure_future(self._write_queued())

    async def _write_queued(self) -> None:
        batch: list = []
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                # Riding along: under load the next acceptance commits them with its own
                # messages; alone, a transaction (and an fsync) of their own, 3 in 10 of all.
                await self.store.write(lambda batch=batch: append_many(batch), ride_along=True)
        except Exception:  # logged: the changes they record are made, and must stay
            log.exception("could not write %d audit entries (%s...)", len(batch),
                          batch[0][1] if batch else "")
            self._queued.clear()
        finally:
            self._flush = None

    async def drain(self) -> None:
        """Wait until every enqueued entry is written (or failed)."""
        while self._flush is not None:
            await asyncio.shield(self._flush)
