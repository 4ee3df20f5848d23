"""The admin socket's way to user accounts: log a technician in, change or reset a password.

Knows: the shape the admin socket needs (`AccountsBackend`), and how it maps onto the
appliance's accounts service (`appliance.accounts.service.Accounts`: lockout, audit entries
and sessions are its business). Must not know: how passwords are hashed or stored, or
lockout rules.

Tests may give the admin socket another `AccountsBackend` (the password check only);
everything around it, the socket, the console's login dialogue and the session, is the real one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from appliance.accounts.roles import CONSOLE_ROLES
from appliance.admin_socket.protocol import AdminError


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    must_change_password: bool = False


class AccountsBackend(Protocol):
    async def authenticate(self, name: str, password: str, address: str) -> Account:
        """The account, or AdminError("login_failed", message, retry_after=seconds|None)."""

    async def change_password(self, name: str, password: str, *, by: str) -> None:
        """Set `name`'s password (an admin's or technician's reset: `name` must change it at
        the next login); AdminError if refused."""

    async def change_own_password(self, name: str, old: str, new: str) -> None:
        """`name` chooses a new password (the first login's change); AdminError if refused."""


class StoreAccounts:
    """`AccountsBackend` over the running appliance's `Accounts` service."""

    def __init__(self, appliance: Any) -> None:
        self.appliance = appliance

    @property
    def _accounts(self) -> Any:
        accounts = self.appliance.accounts
        if accounts is None:
            raise AdminError("accounts_unavailable", "the appliance is still starting: try "
                             "again in a moment")
        return accounts

    async def authenticate(self, name: str, password: str, address: str) -> Account:
        from appliance.accounts.service import LoginRefused

        try:
            user = await self._accounts.authenticate(name, password, address, door="serial",
                                                     roles=CONSOLE_ROLES)
        except LoginRefused as exc:
            if exc.reason == "role":
                raise AdminError("not_allowed", f"user {name!r}: the console is for "
                                 "technicians and administrators") from None
            raise AdminError("login_failed", str(exc),
                             retry_after=exc.retry_after or None) from None
        return Account(user.name, user.role, user.must_change_password)

    async def change_password(self, name: str, password: str, *, by: str) -> None:
        from appliance.accounts import manage
        from appliance.accounts.roles import may
        from appliance.audit import Actor
        from appliance.store import accounts as accounts_store

        # DESIGN.md gives the field technician this job: "reset the admin password" (the one
        # way back into a box whose admin forgot it, with the LAN of no help). Whoever may log
        # in here (admin, technician) may reset any user's password; the reset forces that
        # user to choose a new one at the next login, and the audit log names who reset it.
        caller = await self.appliance.store.read(lambda: accounts_store.get_user_by_name(by))
        if caller is None or caller.disabled or (caller.name != name and not (
                may(caller, "admin") or may(caller, "diagnose"))):
            raise AdminError("not_allowed", "only an administrator or a technician may set "
                             "another user's password")
        actor = Actor("user", str(caller.id), caller.name, "", "serial")
        min_length = self.appliance.config.accounts.min_password_length
        try:
            hashed = await asyncio.to_thread(manage.prepare_password, name, password, min_length)
        except ValueError as exc:  # PasswordRefused names the rule
            raise AdminError("invalid_password", str(exc)) from None

        def reset() -> bool:
            user = accounts_store.get_user_by_name(name)
            return user is not None and manage.reset_password(actor, user.id, hashed) is not None

        if not await self.appliance.store.write(reset):
            raise AdminError("not_found", f"no user named {name!r}")

    async def change_own_password(self, name: str, old: str, new: str) -> None:
        from appliance.accounts.passwords import PasswordRefused
        from appliance.store import accounts as accounts_store

        user = await self.appliance.store.read(lambda: accounts_store.get_user_by_name(name))
        if user is None:
            raise AdminError("not_found", f"no user named {name!r}")
        try:
            await self._accounts.change_password(user, old, new, door="serial")
        except PasswordRefused as exc:
            raise AdminError("invalid_password", str(exc)) from None


__all__ = ["Account", "AccountsBackend", "StoreAccounts"]
