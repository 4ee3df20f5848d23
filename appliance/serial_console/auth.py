"""Who is at the console: the login check, behind a small protocol.

Knows: `Authenticator` (verify a name and password from an address, or refuse), the user it
yields (name and role), and two ways to ask: the running appliance over the admin socket
(`login`), or, when it is down, the accounts package on the database file directly. Must not
know: how passwords are stored or how lockout works (the accounts package's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from appliance.accounts.roles import CONSOLE_ROLES
from appliance.admin_socket.protocol import AdminError
from appliance.config import Config
from appliance.serial_console.client import AdminClient

T = TypeVar("T")



@dataclass(frozen=True)
class ConsoleUser:
    name: str
    role: str
    must_change_password: bool = False
    """Set by an admin (or the demo): the user chooses a new one before anything else."""


class LoginFailed(Exception):
    """Refused: wrong name or password, locked out (`retry_after` seconds), or not allowed."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Authenticator(Protocol):
    def verify(self, name: str, password: str, address: str) -> ConsoleUser:
        """The user, or LoginFailed (ApplianceDown when the socket does not answer)."""

    def change_own_password(self, name: str, old: str, new: str) -> None:
        """The user's own new password; LoginFailed naming the rule if refused."""


class SocketAuthenticator:
    """Asks the running appliance (`login` on the admin socket)."""

    def __init__(self, client: AdminClient) -> None:
        self.client = client

    def verify(self, name: str, password: str, address: str) -> ConsoleUser:
        try:
            answer = self.client.request("login", name=name, password=password, address=address)
        except AdminError as exc:
            retry = exc.details.get("retry_after")
            raise LoginFailed(str(exc), retry if isinstance(retry, int | float) else None) \
                from None
        return ConsoleUser(name=answer["name"], role=answer["role"],
                           must_change_password=bool(answer.get("must_change_password")))

    def change_own_password(self, name: str, old: str, new: str) -> None:
        """LoginFailed naming the rule when the new password is refused."""
        try:
            self.client.request("change_own_password", name=name, old=old, new=new)
        except AdminError as exc:
            raise LoginFailed(str(exc)) from None


class DatabaseAuthenticator:
    """Checks against the accounts in the database file while the appliance is down, through
    the same accounts service (lockout, audit entries) on a store of its own, run on a thread
    of its own (the console's line editor owns this thread's event loop)."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def _run(self, work: Callable[[Any], Awaitable[T]]) -> T:
        from appliance.accounts.service import Accounts
        from appliance.store.db import open_database
        from appliance.store.migrations import migrate
        from appliance.store.service import DatabaseUnavailable, run_in_database
        from appliance.store.writer import Store

        async def main() -> T:
            db = open_database(self.config.database.url)
            migrate(db)
            store = Store(db)
            await store.start()
            try:
                return await work(Accounts(self.config.accounts, store))
            finally:
                await store.stop()
                db.close()

        try:
            # A database that cannot be used is named (DatabaseUnavailable), for a login and
            # for a first password alike: never a traceback at the login prompt.
            run_in_database(self.config.database.url, lambda: None)
            with ThreadPoolExecutor(1) as thread:
                return thread.submit(asyncio.run, main()).result()
        except DatabaseUnavailable as exc:
            raise LoginFailed(str(exc)) from None

    def verify(self, name: str, password: str, address: str) -> ConsoleUser:
        from appliance.accounts.service import LoginRefused

        try:
            user = self._run(lambda accounts: accounts.authenticate(
                name, password, address, door="serial", roles=CONSOLE_ROLES))
        except LoginRefused as exc:
            if exc.reason == "role":
                raise LoginFailed(f"user {name!r}: the console is for technicians and "
                                  "administrators") from None
            raise LoginFailed(str(exc), exc.retry_after or None) from None
        return ConsoleUser(user.name, user.role, user.must_change_password)

    def change_own_password(self, name: str, old: str, new: str) -> None:
        from appliance.accounts.passwords import PasswordRefused
        from appliance.store import accounts as accounts_store

        async def change(accounts: Any) -> None:
            user = await accounts.store.read(lambda: accounts_store.get_user_by_name(name))
            if user is None:
                raise PasswordRefused(f"no user named {name!r}")
            await accounts.change_password(user, old, new, door="serial")

        try:
            self._run(change)
        except PasswordRefused as exc:
            raise LoginFailed(str(exc)) from None


__all__ = ["Authenticator", "CONSOLE_ROLES", "ConsoleUser", "DatabaseAuthenticator",
           "LoginFailed", "SocketAuthenticator"]
