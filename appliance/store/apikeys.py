"""API keys: made once, shown once, stored only as a salted scrypt hash.

Knows: the key format, the scopes, hashing and constant-time checking.
Must not know: HTTP (the API turns `Authorization: Bearer` into a call to `verify_api_key`).

A key looks like `cg_<prefix>_<secret>`: the 8-character prefix ([a-z0-9]) is stored in clear
(to find the row and to show in lists, like GitHub's token prefixes); the secret is 32 urlsafe
base64 characters (24 random bytes); the whole key is hashed with hashlib.scrypt (no compiled
wheel needed on a 32-bit Pi).

Cost: scrypt at n=2**14 takes 16 MiB and tens of milliseconds on a Pi per check, so it is only
paid for a key that could be real. Verifying is two steps, so the slow one can run apart from
the store's reader threads (a flood of bad keys must not block every read):
- `key_prefix` refuses a malformed key (the format is public) without touching anything;
- `find_candidates` (inside `Store.read`: one indexed read) returns the rows with that prefix;
- `match_candidates` (pure: scrypt and a constant-time compare) runs only when there are some.
An unknown prefix therefore answers faster than a wrong secret. That tells nothing worth
having: prefixes are not secret (they are shown in lists), and the 192-bit secret is what is
guessed. `verify_api_key` does all three in one call, for the CLI and scripts.
The API layer caches a verified key rather than hash on every request, and asks
`key_limits` now and then whether it was revoked (or its limits changed) meanwhile.

Limits of a key's own (migration 8): `rate_per_minute` (requests per minute, None: none) and
`allowed_from` (the networks, in CIDR form, it may be used from; empty: anywhere).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from appliance.store.db import utcnow
from appliance.store.models import ApiKey, Department, User, Webhook

SCOPES = frozenset({"send", "read", "approve", "admin"})

KEY_PREFIX = "cg_"
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits  # no "_": the key splits on it
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_DKLEN = 32
_KEY_FORMAT = re.compile(r"cg_([a-z0-9]{8})_[A-Za-z0-9_-]{32}")


MAX_RATE_PER_MINUTE = 1_000_000


def check_rate(rate: Any) -> int | None:
    """A key's requests per minute: a positive integer, or None (0 or None: no limit)."""
    if rate is None or rate == 0:
        return None
    if isinstance(rate, bool) or not isinstance(rate, int) or not 0 < rate <= MAX_RATE_PER_MINUTE:
        raise ValueError(f"the rate must be a whole number of requests per minute from 1 to "
                         f"{MAX_RATE_PER_MINUTE} (0: no limit), not {rate!r}")
    return rate


def check_networks(networks: Any) -> tuple[str, ...]:
    """Networks in CIDR form (a bare address is its own /32 or /128), normalised; a string is
    split at commas. Empty: from anywhere."""
    if isinstance(networks, str):
        networks = [n for n in (part.strip() for part in networks.split(",")) if n]
    out: list[str] = []
    for network in networks:
        try:
            parsed = ipaddress.ip_network(str(network).strip(), strict=False)
        except ValueError:
            raise ValueError(f"{network!r} is not an address or a network in CIDR form "
                             f"(e.g. 192.168.1.0/24)") from None
        if str(parsed) not in out:
            out.append(str(parsed))
    return tuple(out)


@dataclass(frozen=True)
class KeyLimits:
    """What a verified key may do beyond its scopes: its own request rate and addresses."""

    rate_per_minute: int | None = None
    allowed_from: tuple[str, ...] = ()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        default=(), compare=False, repr=False)

    @classmethod
    def stored(cls, rate: int | None, allowed_from: str) -> KeyLimits:
        names = tuple(n for n in (allowed_from or "").split(",") if n)
        return cls(rate or None, names, tuple(ipaddress.ip_network(n) for n in names))

    def allows(self, address: str) -> bool:
        """Whether a request from `address` may use the key (any, without networks)."""
        if not self.networks:
            return True
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)


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


def hash_secret(secret: str) -> str:
    """The stored form of a secret (an API key, a user's password):
    scrypt$n$r$p$salt_hex$hash_hex (parameters kept, so they can grow)."""
    salt = secrets.token_bytes(16)
    digest = _hash(secret, salt, **_SCRYPT)
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + f"{salt.hex()}${digest.hex()}"


hash_api_key = hash_secret


def secret_matches(secret: str, stored: str) -> bool:
    """Whether `secret` hashes to `stored` (scrypt, constant-time compare); False for a stored
    form that is not ours."""
    try:
        algo, n, r, p, salt_hex, digest_hex = stored.split("$")
        if algo != "scrypt":
            return False
        digest = _hash(secret, bytes.fromhex(salt_hex), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(digest, bytes.fromhex(digest_hex))


_matches = secret_matches


def create_api_key(name: str, scopes: list[str], *, rate_per_minute: int | None = None,
                   allowed_from: Any = (), user_id: int | None = None,
                   department_id: int | None = None) -> str:
    """Store a new key named `name`; return the plaintext key (the only time it exists).
    `user_id`/`department_id` bind it: its sends count as that user's (and the user's
    department's) or that department's."""
    rate = check_rate(rate_per_minute)
    networks = check_networks(allowed_from)
    name = name.strip()
    if not name:
        raise ValueError("an API key needs a name")
    if ":" in name or any(c.isspace() or not c.isprintable() for c in name) or len(name) > 64:
        raise ValueError(f"an API key's name is 1 to 64 printable characters without spaces "
                         f"or ':' (it is a login in Basic authentication), not {name[:64]!r}")
    clean = _check_scopes(scopes)
    if not clean:
        raise ValueError(f"an API key needs at least one scope ({', '.join(sorted(SCOPES))})")
    if ApiKey.select().where(ApiKey.name == name).exists():
        raise ValueError(f'an API key named "{name}" already exists')
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"  # 24 bytes -> 32 characters
    if user_id is not None and not User.select().where(User.id == user_id).exists():
        raise ValueError(f"no user with id {user_id}")
    if department_id is not None and not Department.select().where(
            Department.id == department_id).exists():
        raise ValueError(f"no department with id {department_id}")
    ApiKey.create(name=name, prefix=prefix, key_hash=hash_api_key(key), scopes=",".join(clean),
                  rate_per_minute=rate, allowed_from=",".join(networks), user_id=user_id,
                  department_id=department_id)
    return key


_UNCHANGED: Any = object()


def set_api_key_limits(name: str, *, rate_per_minute: Any = _UNCHANGED,
                       allowed_from: Any = _UNCHANGED) -> KeyLimits:
    """Change a key's rate and/or networks (what is not given stays); its new limits. Raises
    ValueError for a bad value or an unknown name."""
    row = ApiKey.get_or_none(ApiKey.name == name)
    if row is None:
        raise ValueError(f'no API key named "{name}"')
    if rate_per_minute is not _UNCHANGED:
        row.rate_per_minute = check_rate(rate_per_minute)
    if allowed_from is not _UNCHANGED:
        row.allowed_from = ",".join(check_networks(allowed_from))
    row.save()
    return KeyLimits.stored(row.rate_per_minute, row.allowed_from)


def list_api_keys() -> list[dict[str, Any]]:
    """Every key as shown to an administrator (never its hash)."""
    return [{"name": k.name, "prefix": k.prefix, "scopes": sorted(k.scope_set),
             "revoked": bool(k.revoked), "created_at": k.created_at,
             "last_used_at": k.last_used_at, "rate_per_minute": k.rate_per_minute,
             "allowed_from": [n for n in (k.allowed_from or "").split(",") if n],
             "user_id": k.user_id, "department_id": k.department_id}
            for k in ApiKey.select().order_by(ApiKey.id)]


def key_prefix(key: str) -> str | None:
    """The prefix of a well-formed key ("cg_" + 8 of [a-z0-9] + "_" + 32 urlsafe characters),
    else None. No hashing, no database: a malformed key costs nothing."""
    match = _KEY_FORMAT.fullmatch(key)
    return match.group(1) if match else None


@dataclass(frozen=True)
class KeyCandidate:
    """A stored key that a presented key could be (same prefix): plain data, safe to hand to
    another thread."""

    id: int
    name: str
    scopes: str
    revoked: bool
    key_hash: str
    limits: KeyLimits = KeyLimits()
    user_id: int | None = None
    department_id: int | None = None
    role: str | None = None  # the bound user's

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)


def find_candidates(prefix: str) -> list[KeyCandidate]:
    """The stored keys with this prefix (one indexed read; meant for `Store.read`), with their
    binding: a key bound to a user carries the user's role and department (unless the key
    names a department of its own), and counts as revoked while the user is disabled."""
    out = []
    for row in ApiKey.select().where(ApiKey.prefix == prefix):
        revoked, department, role = bool(row.revoked), row.department_id, None
        if row.user_id is not None:
            user = (User.select(User.role, User.department, User.disabled)
                    .where(User.id == row.user_id).tuples().first())
            if user is None or user[2]:
                revoked = True
            else:
                role = user[0]
                department = department if department is not None else user[1]
        out.append(KeyCandidate(row.id, row.name, row.scopes or "", revoked, row.key_hash,
                                KeyLimits.stored(row.rate_per_minute, row.allowed_from),
                                row.user_id, department, role))
    return out


def match_candidates(key: str, candidates: list[KeyCandidate]) -> KeyCandidate | None:
    """The candidate `key` is, or None. Runs scrypt once per candidate (every one, so the time
    does not depend on which matched) and compares in constant time; no database access."""
    found = None
    for candidate in candidates:
        if _matches(key, candidate.key_hash):
            found = candidate
    return found


def verify_api_key(key: str) -> ApiKey | None:
    """The ApiKey that `key` is, or None (unknown, wrong, malformed or revoked)."""
    prefix = key_prefix(key)
    if prefix is None:
        return None
    candidates = find_candidates(prefix)
    found = match_candidates(key, candidates) if candidates else None
    if found is None or found.revoked:
        return None
    return ApiKey.get_or_none(ApiKey.id == found.id)


def key_is_active(key_id: int) -> bool:
    """Whether the key with this id exists and is not revoked (one primary-key read, no
    scrypt: for a key the caller has already verified)."""
    revoked = ApiKey.select(ApiKey.revoked).where(ApiKey.id == key_id).scalar()
    return revoked is not None and not revoked


def key_limits(key_id: int) -> KeyLimits | None:
    """The limits of the key with this id, or None if it is gone or revoked (one primary-key
    read, no scrypt: for a key the caller has already verified)."""
    row = (ApiKey.select(ApiKey.revoked, ApiKey.rate_per_minute, ApiKey.allowed_from,
                         ApiKey.user_id)
           .where(ApiKey.id == key_id).tuples().first())
    if row is None or row[0]:
        return None
    if row[3] is not None and not User.select().where(
            (User.id == row[3]) & (User.disabled == False)).exists():  # noqa: E712
        return None  # its user was disabled (or deleted): the key goes with them
    return KeyLimits.stored(row[1], row[2])


def revoke_api_key(name: str) -> bool:
    """Revoke the key named `name`, and disable the webhook endpoints it registered (the
    Android API's): a revoked key must not go on hearing inbound SMS. False if there is
    none."""
    key = ApiKey.get_or_none(ApiKey.name == name)
    if key is None:
        return False
    ApiKey.update(revoked=True).where(ApiKey.id == key.id).execute()
    Webhook.update(enabled=False).where(Webhook.api_key_id == key.id).execute()
    return True


def touch_api_key(key_id: int, now: datetime | None = None) -> None:
    """Record a use (kept apart from verify, which must be able to run on a reader)."""
    ApiKey.update(last_used_at=now or utcnow()).where(ApiKey.id == key_id).execute()


def has_scope(api_key: ApiKey, scope: str) -> bool:
    """`admin` implies every other scope."""
    return scope in api_key.scope_set or "admin" in api_key.scope_set


__all__ = [
    "SCOPES",
    "KeyCandidate",
    "KeyLimits",
    "check_networks",
    "check_rate",
    "key_limits",
    "list_api_keys",
    "set_api_key_limits",
    "create_api_key",
    "find_candidates",
    "has_scope",
    "hash_api_key",
    "hash_secret",
    "secret_matches",
    "key_is_active",
    "key_prefix",
    "match_candidates",
    "revoke_api_key",
    "touch_api_key",
    "verify_api_key",
]
