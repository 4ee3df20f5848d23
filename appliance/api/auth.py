"""Bearer API keys with scopes for the HTTP API.

Knows: the Authorization header, scopes, a cache of verified keys, and how much key checking
one client address may cause.
Must not know: how keys are stored (the store's apikeys module) or what the endpoints do.

A key's hash is scrypt (deliberately slow: 16 MiB, tens of ms on a Pi), so an unauthenticated
client must not be able to make the box pay it at will, nor tie up the store's two reader
threads with it (every API read would wait behind a flood of bad tokens):
- a malformed key (the format is public) is refused without hashing and without a read;
- a well-formed key is looked up by its prefix (one indexed read on a store reader), and scrypt
  runs only when a row with that prefix exists, on this module's own small executor, never on
  the event loop nor on a store reader; at most MAX_PENDING_CHECKS wait for it (else 503);
- key checking is bounded per client address (`AddressGate`): at most CHECKS_PER_ADDRESS
  scrypt checks run at once for one address, at most WAITING_PER_ADDRESS more wait their turn,
  and beyond that the address gets 429. One client cannot fill the executor and starve the
  others; the same key presented by many requests at once is checked once (they share it);
- every failed attempt counts against the client's IP address ("login throttling"): a token
  bucket of FAILURES_ALLOWED attempts refilled over FAILURE_WINDOW seconds. An address that has
  used them up gets 429 with Retry-After for whatever fails: a missing or malformed header at
  once, a wrong key after its check. The failures are throttled, not the valid keys: a valid
  key is checked and served even from a throttled address (a misbehaving device must not lock
  out a good one behind the same NAT), and the gate above bounds what that checking costs.
A verified key is remembered (KeyCache) by the SHA-256 of the presented key, bounded in size
(least recently used first out), so a valid key costs scrypt once, not per request. Whether it
was revoked, and its limits, are read again (one primary-key read, no scrypt) at most every
REVALIDATE_SECONDS: a revocation or a new limit made by another process (the CLI) takes effect
within that, a revocation made through `KeyCache.forget_key` at once.

A key bound to a user may do no more than the user's role allows: the Caller's scopes are the
key's within the role's (`accounts.roles.key_scopes`), read again with the revocation, so a
user demoted or moved by an administrator takes effect within REVALIDATE_SECONDS too.

A key's own limits (`cardgate apikey create|limit --rate-per-minute --allow-from`) apply to
every door that takes a key (JSON API, Kannel, playSMS...), after the key is verified:
- used from an address outside its networks: 403 `address_not_allowed`, naming the address
  (not counted as a failed attempt: the key is right, the place is wrong);
- beyond its requests per minute: 429 `rate_limited` with Retry-After (`KeyRates`: a token
  bucket per key holding a minute's worth, refilled at the key's rate).

A request admitted with a key (by each door once the key, its login name where the door has
one and its scope pass: `note_use`; a refused request is no use) records the key's last use
(`cardgate apikey list`), at most once per key every KEY_USE_INTERVAL seconds, through the
store's writer and never on the request's path: a failed write is logged, the request is
served regardless (`KeyUses`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sanic import Request

from appliance.accounts.roles import key_scopes
from appliance.api.errors import ApiError
from appliance.policy.origin import Origin
from appliance.store.apikeys import (
    KeyLimits,
    find_candidates,
    key_prefix,
    key_standing,
    match_candidates,
    touch_api_key,
)

CACHE_MAX = 1024  # verified keys remembered; a box has a few dozen keys
REVALIDATE_SECONDS = 1.0  # a remembered key's revocation is read again this often
FAILURES_ALLOWED = 10  # failed attempts per client address ...
FAILURE_WINDOW = 60.0  # ... in this many seconds (the bucket refills at this pace)
THROTTLE_MAX_CLIENTS = 4096  # addresses remembered; the fullest buckets are forgotten first
SCRYPT_THREADS = 2
MAX_PENDING_CHECKS = 16
CHECKS_PER_ADDRESS = 1  # scrypt checks one address may have running at once ...
WAITING_PER_ADDRESS = 8  # ... and waiting for their turn; beyond, 429
# A key's last use is written at most this often (seconds) per key: `cardgate apikey list`
# shows it to the minute, and a write per request would add a writer job to each of the
# ~6,000 single-message requests a second one key can make.
KEY_USE_INTERVAL = 60.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's id and name, what it may do, and whom its sends count for
    (the user or department the key is bound to, `cardgate apikey create --user/--department`).
    """

    key_id: int
    name: str
    scopes: frozenset[str]  # what it may do: the key's scopes within its user's role
    limits: KeyLimits = KeyLimits()
    user_id: int | None = None
    department_id: int | None = None
    role: str | None = None
    key_scopes: frozenset[str] = frozenset()  # as the key was made (named in a 403)

    @classmethod
    def bound(cls, key_id: int, name: str, declared: frozenset[str], limits: KeyLimits,
              user_id: int | None, department_id: int | None, role: str | None) -> Caller:
        """The caller a key is, its scopes cut to its user's role (`roles.key_scopes`, the
        one place the two meet)."""
        return cls(key_id, name, key_scopes(declared, role), limits, user_id, department_id,
                   role, declared)


class KeyCache:
    """Verified keys by the SHA-256 of the presented key: digest -> (checked until, Caller).
    `clock` is injectable for tests."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = CACHE_MAX) -> None:
        self.clock = clock
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Caller]] = OrderedDict()

    def get(self, digest: str) -> tuple[Caller, bool] | None:
        """(caller, whether its revocation must be read again now), or None."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        self._entries.move_to_end(digest)
        return entry[1], entry[0] <= self.clock()

    def put(self, digest: str, caller: Caller) -> None:
        self._entries[digest] = (self.clock() + REVALIDATE_SECONDS, caller)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget_key(self, key_id: int) -> None:
        """Drop every entry of this key (it was revoked)."""
        for digest, (_, caller) in list(self._entries.items()):
            if caller.key_id == key_id:
                del self._entries[digest]


class AddressGate:
    """Bounds the key checks one client address causes: at most `running` at once, at most
    `waiting` more queued (FIFO), else ApiError 429. Concurrent checks of the same key share
    one (`shared`)."""

    def __init__(self, running: int = CHECKS_PER_ADDRESS, waiting: int = WAITING_PER_ADDRESS):
        self.running = running
        self.waiting = waiting
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}
        self._inflight: dict[str, asyncio.Future] = {}

    async def shared(self, digest: str, check: Callable[[], Awaitable[Caller]]) -> Caller:
        """The outcome of `check` for this presented key; a check already running for the same
        key is awaited instead of started again."""
        pending = self._inflight.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._inflight[digest] = future
        try:
            caller = await check()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody shared it
            raise
        finally:
            del self._inflight[digest]
        future.set_result(caller)
        return caller

    async def run(self, client: str, fn: Callable[[], Awaitable[object]]) -> object:
        users = self._users.get(client, 0)
        if users >= self.running + self.waiting:
            raise ApiError(429, "too_many_requests",
                           f"too many API keys being checked for this address at once (at "
                           f"most {self.running + self.waiting}); retry shortly",
                           headers={"Retry-After": "1"}, retry_after=1)
        slot = self._slots.get(client)
        if slot is None:
            slot = self._slots[client] = asyncio.Semaphore(self.running)
        self._users[client] = users + 1
        try:
            async with slot:
                return await fn()
        finally:
            left = self._users[client] - 1
            if left:
                self._users[client] = left
            else:  # nobody uses it: forget the address (the map stays as big as the traffic)
                del self._users[client]
                del self._slots[client]


class FailureThrottle:
    """Failed authentication attempts per client address, as a token bucket: `allowed` attempts
    at once, one more every `window / allowed` seconds. `clock` is injectable for tests."""

    def __init__(self, allowed: int = FAILURES_ALLOWED, window: float = FAILURE_WINDOW, *,
                 clock: Callable[[], float] = time.monotonic,
                 max_clients: int = THROTTLE_MAX_CLIENTS) -> None:
        self.allowed = allowed
        self.refill = window / allowed  # seconds per token
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, as of)

    def _tokens(self, client: str, now: float) -> float:
        tokens, since = self._buckets.get(client, (float(self.allowed), now))
        return min(float(self.allowed), tokens + (now - since) / self.refill)

    def retry_after(self, client: str) -> int:
        """Seconds until `client` may try again; 0 if it may now."""
        now = self.clock()
        tokens = self._tokens(client, now)
        if tokens >= 1.0:
            return 0
        return max(1, math.ceil((1.0 - tokens) * self.refill))

    def failed(self, client: str) -> None:
        now = self.clock()
        tokens = self._tokens(client, now)
        if client not in self._buckets and len(self._buckets) >= self.max_clients:
            self._forget_full(now)
        self._buckets[client] = (max(0.0, tokens - 1.0), now)

    def _forget_full(self, now: float) -> None:
        for client in [c for c in self._buckets if self._tokens(c, now) >= self.allowed]:
            del self._buckets[client]
        if len(self._buckets) >= self.max_clients:  # all busy: forget the oldest half
            by_age = sorted(self._buckets, key=lambda c: self._buckets[c][1])
            for client in by_age[: len(by_age) // 2 + 1]:
                del self._buckets[client]


class KeyRates:
    """Each key's own requests per minute, as a token bucket per key: a minute's worth at once,
    refilled at the key's rate. `clock` is injectable for tests."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[int, tuple[float, float, int]] = {}  # key -> (tokens, as of, rate)

    def take(self, key_id: int, rate: int) -> int:
        """Spend one request of this key; 0 if it may go, else the seconds to wait."""
        now = self.clock()
        tokens, since, known = self._buckets.get(key_id, (float(rate), now, rate))
        if known != rate:  # its limit changed: start afresh at the new one
            tokens = min(tokens, float(rate))
        tokens = min(float(rate), tokens + (now - since) * rate / 60.0)
        if tokens < 1.0:
            self._buckets[key_id] = (tokens, now, rate)
            return max(1, math.ceil((1.0 - tokens) * 60.0 / rate))
        self._buckets[key_id] = (tokens - 1.0, now, rate)
        return 0


class KeyUses:
    """Records when each key is used (`touch_api_key`, the key's `last_used_at`), at most
    once per key every `interval` seconds. The write goes through the store's writer as a
    ride-along job (nobody waits for it), from a task of its own: the request neither waits
    for it nor fails with it; a failed write is logged, and tried again at the next use after
    `interval`. On the hot path: one dict lookup and a clock read. `clock` is injectable for
    tests; `queued` counts the writes started."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 interval: float = KEY_USE_INTERVAL) -> None:
        self.clock = clock
        self.interval = interval
        self.queued = 0
        self._noted: dict[int, float] = {}  # key id -> when its last write was started
        self._tasks: set[asyncio.Task] = set()  # running writes (a task must be referenced)

    def note(self, store, key_id: int) -> None:  # noqa: ANN001 - store.writer.Store
        """A request was admitted with this key: start a write unless one was started less
        than `interval` ago."""
        now = self.clock()
        last = self._noted.get(key_id)
        if last is not None and now - last < self.interval:
            return
        self._noted[key_id] = now
        self.queued += 1
        task = asyncio.get_running_loop().create_task(self._write(store, key_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _write(store, key_id: int) -> None:  # noqa: ANN001 - store.writer.Store
        try:
            await store.write(lambda: touch_api_key(key_id), ride_along=True)
        except Exception:  # the request is served already; the next use tries again
            log.warning("could not record the use of API key %d", key_id, exc_info=True)


class _ScryptPool:
    """scrypt's own threads, apart from the store's readers, with a bound on the queue."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self.pending = 0

    async def run(self, fn: Callable[[], object]) -> object:
        if self.pending >= MAX_PENDING_CHECKS:
            raise ApiError(503, "unavailable", "too many API keys being checked at once; "
                           "retry shortly", headers={"Retry-After": "1"}, retry_after=1)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(SCRYPT_THREADS, thread_name_prefix="apikey-scrypt")
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        finally:
            self.pending -= 1


scrypt_pool = _ScryptPool()


def client_address(request: Request) -> str:
    """The peer's address (or, behind a configured proxy, the forwarded one sanic trusts).

    Kept with the connection when sanic trusts no proxy header: then it is the socket's peer,
    the same for every request of a keep-alive connection, and looking through the forwarding
    headers again cost a measurable share of a single-message request."""
    conn = request.conn_info
    if conn is not None:
        kept = getattr(conn.ctx, "cardgate_peer", None)
        if kept is not None:
            return kept
    address = request.remote_addr or request.ip or "unknown"
    if conn is not None and not _trusts_proxies(request.app.config):
        conn.ctx.cardgate_peer = address
    return address


def _trusts_proxies(config) -> bool:  # noqa: ANN001 - sanic.config.Config
    """Whether sanic takes the client's address from request headers (sanic's proxy
    settings): it may then differ from one request of a connection to the next."""
    return bool(config.FORWARDED_SECRET or config.REAL_IP_HEADER or config.PROXIES_COUNT)


def origin_of(request: Request, caller: Caller, door: str) -> Origin:
    """Who submits through this key and door, for the policy layer and the message's record:
    a key bound to a user or department brings them (a device's sends count as its
    department's). Kept with the connection for the same caller (the same cached Caller
    object: a revalidated key is a new one) while its address is the connection's."""
    conn = request.conn_info
    kept = getattr(conn.ctx, "cardgate_origin", None) if conn is not None else None
    if kept is not None and kept[0] is caller and kept[1].door == door:
        return kept[1]
    origin = Origin(door=door, address=client_address(request), api_key_id=caller.key_id,
                    user_id=caller.user_id, department_id=caller.department_id,
                    role=caller.role)
    if conn is not None and getattr(conn.ctx, "cardgate_peer", None) is not None:
        conn.ctx.cardgate_origin = (caller, origin)
    return origin


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode(errors="surrogatepass")).hexdigest()


async def authenticate_key(request: Request, key: str) -> Caller:
    """The caller a plaintext key belongs to, or a 401 naming the problem (429 when this
    client has failed too often, or has too many checks under way)."""
    appliance = request.app.ctx.appliance
    cache: KeyCache = appliance.key_cache
    digest = _digest(key)
    cached = cache.get(digest)
    if cached is not None:
        caller, recheck = cached
        if not recheck:
            return _within_limits(request, caller)
        key_id = caller.key_id
        # One read for all the requests that find the entry stale together: 32 clients on
        # one key made up to 32 reads (reader-thread hops) each time it went stale.
        standing = await appliance.auth_gate.shared(
            f"standing:{digest}", lambda: appliance.store.read(lambda: key_standing(key_id)))
        if standing is not None:  # the user may have been demoted or moved meanwhile
            caller = Caller.bound(caller.key_id, caller.name, caller.key_scopes,
                                  standing.limits, caller.user_id, standing.department_id,
                                  standing.role)
            cache.put(digest, caller)
            return _within_limits(request, caller)
        cache.forget_key(key_id)
        raise _failure(request, "the API key has been revoked")
    prefix = key_prefix(key)
    if prefix is None:
        _refuse_if_throttled(request)
        raise _failure(request, "the API key is not valid (malformed: expected "
                                "cg_<8 characters>_<32 characters>)")
    client = client_address(request)
    gate = appliance.auth_gate

    async def check() -> Caller:
        candidates = await appliance.store.read(lambda: find_candidates(prefix))
        record = None
        if candidates:
            record = await scrypt_pool.run(lambda: match_candidates(key, candidates))
        if record is None or record.revoked:
            _refuse_if_throttled(request)
            raise _failure(request, "the API key is not valid (unknown or revoked)")
        caller = Caller.bound(record.id, record.name, record.scope_set, record.limits,
                              record.user_id, record.department_id, record.role)
        cache.put(digest, caller)
        return caller

    async def gated() -> Caller:
        again = cache.get(digest)  # verified while this one waited for the gate
        if again is not None and not again[1]:
            return again[0]
        return await gate.run(client, check)  # type: ignore[return-value]

    return _within_limits(request, await gate.shared(digest, gated))


def _within_limits(request: Request, caller: Caller) -> Caller:
    """The caller, if its key may be used from here and now; else 403 or 429. Its use is
    recorded by the door once the request is admitted (`note_use`)."""
    limits = caller.limits
    if limits.allowed_from:
        address = client_address(request)
        if not limits.allows(address):
            raise ApiError(403, "address_not_allowed",
                           f"the API key {caller.name!r} may not be used from {address} "
                           f"(allowed from: {', '.join(limits.allowed_from)})")
    if limits.rate_per_minute:
        wait = request.app.ctx.appliance.key_rates.take(caller.key_id, limits.rate_per_minute)
        if wait:
            raise ApiError(429, "rate_limited",
                           f"the API key {caller.name!r} is limited to "
                           f"{limits.rate_per_minute} requests per minute; retry in {wait} s",
                           headers={"Retry-After": str(wait)}, retry_after=wait)
    return caller


def note_use(request: Request, caller: Caller) -> None:
    """Record the key's use (`KeyUses`): by each door once it has admitted the request (the
    key, the login name where the door has one, the scope); a refused request is no use."""
    appliance = request.app.ctx.appliance
    appliance.key_uses.note(appliance.store, caller.key_id)


def _failure(request: Request, message: str) -> ApiError:
    request.app.ctx.appliance.auth_throttle.failed(client_address(request))
    # RFC 9110 §11.6.1: a 401 carries the challenge (the Android door sets its own, Basic)
    return ApiError(401, "unauthorized", message,
                    headers={"WWW-Authenticate": 'Bearer realm="cardgate"'})


def _refuse_if_throttled(request: Request) -> None:
    wait = request.app.ctx.appliance.auth_throttle.retry_after(client_address(request))
    if wait:
        raise ApiError(429, "too_many_requests",
                       f"too many failed authentication attempts from this address; "
                       f"retry in {wait} s", headers={"Retry-After": str(wait)},
                       retry_after=wait)


async def authenticate(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if not header:
        _refuse_if_throttled(request)
        raise _failure(request, "missing Authorization header (expected: Bearer <api key>)")
    if scheme.lower() != "bearer" or not key.strip():
        _refuse_if_throttled(request)
        raise _failure(request, "the Authorization header must be: Bearer <api key>")
    return await authenticate_key(request, key.strip())


async def authorize(request: Request, scope: str) -> Caller:
    """The caller, if it presents a valid key with `scope` (or "admin"); else a 401/403 JSON
    error. For a handler whose need of a key depends on config (GET /metrics)."""
    caller = await authenticate(request)
    refuse_without(caller, scope)
    note_use(request, caller)
    request.ctx.caller = caller
    return caller


def refuse_without(caller: Caller, scope: str) -> None:
    """A 403 naming the scope unless the caller has it (or "admin"); when the key has it but
    its user's role does not allow it, the 403 says so."""
    if scope in caller.scopes or "admin" in caller.scopes:
        return
    if caller.role is not None and (scope in caller.key_scopes or "admin" in caller.key_scopes):
        raise ApiError(403, "forbidden",
                       f"the API key {caller.name!r} is bound to a user whose role "
                       f"({caller.role}) does not allow {scope!r}")
    raise ApiError(403, "forbidden", f"the API key {caller.name!r} lacks the {scope!r} scope")


def require_scope(scope: str) -> Callable:
    """Route decorator: a valid key with `scope` (or "admin") or a 401/403 JSON error."""

    def decorate(handler: Callable[..., Awaitable]) -> Callable[..., Awaitable]:
        @functools.wraps(handler)
        async def wrapper(request: Request, *args, **kwargs):
            await authorize(request, scope)
            return await handler(request, *args, **kwargs)

        # Read by the OpenAPI tests: the documented `x-scope` must be the one enforced.
        wrapper.required_scope = scope  # type: ignore[attr-defined]
        return wrapper

    return decorate
