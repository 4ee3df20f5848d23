"""Bearer API keys with scopes for the HTTP API.

Knows: the Authorization header, scopes, and a short cache of verified keys.
Must not know: how keys are stored (the store's apikeys module) or what the endpoints do.

A key's hash is scrypt (deliberately slow), so verification runs on the store's reader thread,
never on the event loop, and a verified key is remembered for a minute by the SHA-256 of the
key, so a device sending one SMS a second does not pay scrypt each time. A remembered key is
still looked up by id (one primary-key read, no scrypt) on every request, so a revocation made
by any process takes effect at once rather than after the cache entry expires.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sanic import Request

from appliance.api.errors import ApiError

CACHE_SECONDS = 60.0
CACHE_MAX = 1024


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


def _still_valid(key_id: int) -> bool:
    from appliance.store.models import ApiKey

    revoked = ApiKey.select(ApiKey.revoked).where(ApiKey.id == key_id).scalar()
    return revoked is not None and not revoked


async def authenticate_key(request: Request, key: str) -> Caller:
    """The caller a plaintext key belongs to, or a 401 naming the problem."""
    from appliance.store.apikeys import verify_api_key

    appliance = request.app.ctx.appliance
    cache: KeyCache = appliance.key_cache
    digest = hashlib.sha256(key.encode()).hexdigest()
    caller = cache.get(digest)
    if caller is not None:
        key_id = caller.key_id
        if not await appliance.store.read(lambda: _still_valid(key_id)):
            cache.forget_key(key_id)
            raise ApiError(401, "unauthorized", "the API key has been revoked")
    else:
        record = await appliance.store.read(lambda: verify_api_key(key))
        if record is None:
            raise ApiError(401, "unauthorized", "the API key is not valid (unknown or revoked)")
        scopes = frozenset(s for s in (record.scopes or "").split(",") if s)
        caller = Caller(key_id=record.id, name=record.name, scopes=scopes)
        cache.put(digest, caller)
    return caller


async def authenticate(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if not header:
        raise ApiError(401, "unauthorized",
                       "missing Authorization header (expected: Bearer <api key>)")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized", "the Authorization header must be: Bearer <api key>")
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
