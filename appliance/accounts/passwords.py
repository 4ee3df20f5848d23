"""What a password must be, and its hashing (the scrypt of `store.apikeys`, not a second one).

Knows: the minimum policy (length, not the name), scrypt via `hash_secret`/`secret_matches`,
and a hash to check against when the user does not exist (so that an unknown name costs the
same scrypt as a wrong password).
Must not know: users, storage, HTTP.
"""

from __future__ import annotations

import functools
import secrets

from appliance.store.apikeys import hash_secret, secret_matches

MIN_LENGTH = 8
MAX_LENGTH = 256  # scrypt takes anything; a megabyte "password" is only a way to waste time


class PasswordRefused(ValueError):
    """A new password that does not meet the policy; the message says which rule."""


def check_new_password(name: str, password: str, *, min_length: int = MIN_LENGTH) -> str:
    """`password` if a user named `name` may choose it; PasswordRefused naming the rule."""
    if not isinstance(password, str):
        raise PasswordRefused("the password must be text")
    if len(password) < max(min_length, MIN_LENGTH):
        raise PasswordRefused(f"the password must be at least {max(min_length, MIN_LENGTH)} "
                              f"characters long")
    if len(password) > MAX_LENGTH:
        raise PasswordRefused(f"the password must be at most {MAX_LENGTH} characters long")
    try:
        password.encode()
    except UnicodeEncodeError:
        raise PasswordRefused("the password is not valid text (a lone surrogate)") from None
    if any(not c.isprintable() for c in password):
        raise PasswordRefused("the password must not contain control characters")
    if password.strip().casefold() == name.strip().casefold():
        raise PasswordRefused("the password must not be the user's name")
    return password


def hash_password(password: str) -> str:
    return hash_secret(password)


def password_matches(password: str, stored: str) -> bool:
    try:
        return secret_matches(password, stored)
    except UnicodeEncodeError:
        return False


@functools.cache
def dummy_hash() -> str:
    """A hash no password matches, checked for an unknown user (same scrypt cost)."""
    return hash_secret(secrets.token_urlsafe(24))


def random_password() -> str:
    """A first password for `cardgate demo` or a reset (the user must change it)."""
    return secrets.token_urlsafe(12)
