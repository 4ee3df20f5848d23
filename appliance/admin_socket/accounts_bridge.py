"""The admin socket's way to user accounts: log a technician in, set a user's password.

Knows: the shape the admin socket needs (`AccountsBackend`), and how it maps onto the
appliance's accounts package (`appliance.accounts`) run on the store's writer thread (a login
records failures and lockouts; a password change writes). Must not know: how passwords are
hashed or stored, or lockout rules: those are the accounts package's.

Tests give the admin socket another `AccountsBackend` (the password check only); everything
around it, the socket, the console's login dialogue and the session, is the real one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from appliance.admin_socket.protocol import AdminError


@dataclass(frozen=True)
class Account:
    name: str
    role: str


class AccountsBackend(Protocol):
    async def authenticate(self, name: str, password: str, address: str) -> Account:
        """The account, or AdminError("login_failed", message, retry_after=seconds|None)."""

    async def change_password(self, name: str, password: str, *, by: str) -> None:
        """Set `name`'s password (an admin's or technician's reset); AdminError if refused."""


class StoreAccounts:
    """`AccountsBackend` over `appliance.accounts`, run on the store's writer thread.

    Assumed of `appliance.accounts`: `authenticate(name, password, address)` returning a user
    with `.name` and `.role` (a str or an enum with `.value`) and raising `LoginFailed` (with
    `.retry_after`, seconds or None) when refused or locked out; `change_password(name,
    new_password)` raising `ValueError` for a weak password or an unknown user.
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    def _module(self) -> Any:
        try:
            return importlib.import_module("appliance.accounts")
        except ModuleNotFoundError:
            raise AdminError("accounts_unavailable",
                             "user accounts are not part of this build: nobody can log in "
                             "yet") from None

    async def authenticate(self, name: str, password: str, address: str) -> Account:
        accounts = self._module()
        try:
            user = await self.store.write(
                lambda: accounts.authenticate(name, password, address))
        except accounts.LoginFailed as exc:
            raise AdminError("login_failed", str(exc) or "wrong user name or password",
                             retry_after=getattr(exc, "retry_after", None)) from None
        role = user.role.value if hasattr(user.role, "value") else str(user.role)
        return Account(name=user.name, role=role)

    async def change_password(self, name: str, password: str, *, by: str) -> None:
        accounts = self._module()
        try:
            await self.store.write(lambda: accounts.change_password(name, password))
        except ValueError as exc:
            raise AdminError("invalid_password", str(exc)) from None


__all__ = ["Account", "AccountsBackend", "StoreAccounts"]
