"""API keys: made once, shown once, stored only as a salted scrypt hash.

Knows: the key format, the scopes, hashing and constant-time checking.
Must not know: HTTP (the API turns `Authorization: Bearer` into a call to `verify_api_key`).

A key looks like `cg_<prefix>_<secret>`: the 8-character prefix is stored in clear (to find the
row and to show in lists, like GitHub's token prefixes); the whole key is hashed with
hashlib.scrypt (no compiled wheel needed on a 32-bit Pi). These functions are synchronous and
meant to run inside `Store.write` (create, revoke, touch) or `Store.read` (verify).

Cost note: scrypt at n=2**14 takes tens of milliseconds on a Pi per check; the API layer
should cache a verified key briefly rather than hash on every request.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import string
from datetime import datetime

from appliance.store.db import utcnow
from appliance.store.models import ApiKey

SCOPES = frozenset({"send", "read", "admin"})

KEY_PREFIX = "cg_"
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits  # no "_": the key splits on it
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_DKLEN = 32


def _check_scopes(scopes: list[str] | set[str] | frozenset[str]) -> list[str]:
    for scope in scopes:
        if scope not in SCOPES:
            raise ValueError(
                f'unknown API key scope "{scope}" (known: {", ".join(sorted(SCOPES))})'
            )
    return sorted(set(scopes))


def _hash(key: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # maxmem: n=2**14, r=8 needs 16 MiB, right at OpenSSL's default limit; say so explicitly.
    return hashlib.scrypt(
        key.encode(), salt=salt, n=n, r=r, p=p, dklen=_DKLEN, maxmem=64 * 1024 * 1024
    )


def hash_api_key(key: str) -> str:
    """The stored form: scrypt$n$r$p$salt_hex$hash_hex (parameters kept, so they can grow)."""
    salt = secrets.token_bytes(16)
    digest = _hash(key, salt, **_SCRYPT)
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + f"{salt.hex()}${digest.hex()}"


def _matches(key: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt_hex, digest_hex = stored.split("$")
        if algo != "scrypt":
            return False
        digest = _hash(key, bytes.fromhex(salt_hex), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(digest, bytes.fromhex(digest_hex))


def create_api_key(name: str, scopes: list[str]) -> str:
    """Store a new key named `name`; return the plaintext key (the only time it exists)."""
    name = name.strip()
    if not name:
        raise ValueError("an API key needs a name")
    clean = _check_scopes(scopes)
    if not clean:
        raise ValueError(f"an API key needs at least one scope ({', '.join(sorted(SCOPES))})")
    if ApiKey.select().where(ApiKey.name == name).exists():
        raise ValueError(f'an API key named "{name}" already exists')
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"  # 24 bytes -> 32 characters
    ApiKey.create(name=name, prefix=prefix, key_hash=hash_api_key(key), scopes=",".join(clean))
    return key


def _split(key: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    if len(key) != 3 + 8 + 1 + 32 or not key.startswith(KEY_PREFIX) or key[11] != "_":
        return None
    return key[3:11]


@functools.cache
def _dummy_hash() -> str:
    # Checked when no row matches, so a wrong prefix costs the same time as a wrong secret and
    # the response time does not tell which prefixes exist. Made on first use, not at import.
    return hash_api_key(KEY_PREFIX + "x" * 41)


def verify_api_key(key: str) -> ApiKey | None:
    """The ApiKey that `key` is, or None (unknown, wrong, malformed or revoked)."""
    prefix = _split(key)
    candidates = list(ApiKey.select().where(ApiKey.prefix == prefix)) if prefix else []
    found = None
    for row in candidates:
        if _matches(key, row.key_hash):
            found = row
    if not candidates:
        _matches(key, _dummy_hash())
    if found is None or found.revoked:
        return None
    return found


def revoke_api_key(name: str) -> bool:
    """Revoke the key named `name`; False if there is none."""
    return ApiKey.update(revoked=True).where(ApiKey.name == name).execute() > 0


def touch_api_key(key_id: int, now: datetime | None = None) -> None:
    """Record a use (kept apart from verify, which must be able to run on a reader)."""
    ApiKey.update(last_used_at=now or utcnow()).where(ApiKey.id == key_id).execute()


def has_scope(api_key: ApiKey, scope: str) -> bool:
    """`admin` implies every other scope."""
    return scope in api_key.scope_set or "admin" in api_key.scope_set


__all__ = [
    "SCOPES",
    "create_api_key",
    "has_scope",
    "hash_api_key",
    "revoke_api_key",
    "touch_api_key",
    "verify_api_key",
]
