"""Bearer API keys with scopes for the HTTP API.

Knows: the Authorization header, scopes, and a short cache of verified keys.
Must not know: how keys are stored (the store's apikeys module) or what the endpoints do.

A key's hash is scrypt (deliberately slow: 16 MiB, tens of ms on a Pi), so an unauthenticated
client must not be able to make the box pay it at will, nor tie up the store's two reader
threads with it (every API read would wait behind a flood of bad tokens):
- a malformed key (the format is public) is refused without hashing and without a read;
- a well-formed key is looked up by its prefix (one indexed read on a store reader), and scrypt
  runs only when a row with that prefix exists, on this module's own small executor, never on
  the event loop nor on a store reader; at most MAX_PENDING_CHECKS wait for it (else 503);
- every failed attempt counts against the client's IP address ("login throttling"): a token
  bucket of FAILURES_ALLOWED attempts refilled over FAILURE_WINDOW seconds; an address that has
  used them up gets 429 with Retry-After until a token is back, before anything is read or
  hashed. A key remembered as verified (below) is served even then: it costs no scrypt, and a
  misbehaving device must not lock out a good one behind the same NAT.
A verified key is remembered for a minute by the SHA-256 of the key, so a device sending one
SMS a second does not pay scrypt each time. A remembered key is still looked up by id (one
primary-key read, no scrypt) on every request, so a revocation made by any process takes
effect at once rather than after the cache entry expires.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sanic import Request

from appliance.api.errors import ApiError

CACHE_SECONDS = 60.0
CACHE_MAX = 1024
FAILURES_ALLOWED = 10  # failed attempts per client address ...
FAILURE_WINDOW = 60.0  # ... in this many seconds (the bucket refills at this pace)
THROTTLE_MAX_CLIENTS = 4096  # addresses remembered; the fullest buckets are forgotten first
SCRYPT_THREADS = 2
MAX_PENDING_CHECKS = 16


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's id and name, and what it may do."""

    key_id: int
    name: str
    scopes: frozenset[str]


class KeyCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Caller]] = {}

    def get(self, digest: str) -> Caller | None:
        entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
            self._entries.pop(digest, None)
            return None
        return entry[1]

    def put(self, digest: str, caller: Caller) -> None:
        if len(self._entries) >= CACHE_MAX:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + CACHE_SECONDS, caller)

    def forget_key(self, key_id: int) -> None:
        for digest, (_, caller) in list(self._entries.items()):
            if caller.key_id == key_id:
                del self._entries[digest]


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
    """The peer's address (or, behind a configured proxy, the forwarded one sanic trusts)."""
    return request.remote_addr or request.ip or "unknown"


def throttle_for(appliance: object) -> FailureThrottle:
    """The appliance's failure throttle, made on first use (tests put their own, with a clock)."""
    throttle = getattr(appliance, "auth_throttle", None)
    if throttle is None:
        throttle = FailureThrottle()
        appliance.auth_throttle = throttle  # type: ignore[attr-defined]
    return throttle


def _still_valid(key_id: int) -> bool:
    from appliance.store.models import ApiKey

    revoked = ApiKey.select(ApiKey.revoked).where(ApiKey.id == key_id).scalar()
    return revoked is not None and not revoked


async def authenticate_key(request: Request, key: str) -> Caller:
    """The caller a plaintext key belongs to, or a 401 naming the problem (429 when this
    client has failed too often)."""
    from appliance.store.apikeys import find_candidates, key_prefix, match_candidates

    appliance = request.app.ctx.appliance
    cache: KeyCache = appliance.key_cache
    digest = hashlib.sha256(key.encode(errors="surrogatepass")).hexdigest()
    caller = cache.get(digest)
    if caller is not None:
        key_id = caller.key_id
        if not await appliance.store.read(lambda: _still_valid(key_id)):
            cache.forget_key(key_id)
            raise _failure(request, "the API key has been revoked")
        return caller
    _refuse_if_throttled(request)
    prefix = key_prefix(key)
    if prefix is None:
        raise _failure(request, "the API key is not valid (malformed: expected "
                                "cg_<8 characters>_<32 characters>)")
    candidates = await appliance.store.read(lambda: find_candidates(prefix))
    record = None
    if candidates:
        record = await scrypt_pool.run(lambda: match_candidates(key, candidates))
    if record is None or record.revoked:
        raise _failure(request, "the API key is not valid (unknown or revoked)")
    caller = Caller(key_id=record.id, name=record.name, scopes=record.scope_set)
    cache.put(digest, caller)
    return caller


def _failure(request: Request, message: str) -> ApiError:
    throttle_for(request.app.ctx.appliance).failed(client_address(request))
    return ApiError(401, "unauthorized", message)


def _refuse_if_throttled(request: Request) -> None:
    wait = throttle_for(request.app.ctx.appliance).retry_after(client_address(request))
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


def require_scope(scope: str) -> Callable:
    """Route decorator: a valid key with `scope` (or "admin") or a 401/403 JSON error."""

    def decorate(handler: Callable[..., Awaitable]) -> Callable[..., Awaitable]:
        @functools.wraps(handler)
        async def wrapper(request: Request, *args, **kwargs):
            caller = await authenticate(request)
            if scope not in caller.scopes and "admin" not in caller.scopes:
                raise ApiError(403, "forbidden",
                               f"the API key {caller.name!r} lacks the {scope!r} scope")
            request.ctx.caller = caller
            return await handler(request, *args, **kwargs)

        return wrapper

    return decorate
