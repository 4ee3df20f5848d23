"""Who is at the console: the login check, behind a small protocol.

Knows: `Authenticator` (verify a name and password from an address, or refuse), the user it
yields (name and role), and two ways to ask: the running appliance over the admin socket
(`login`), or, when it is down, the accounts package on the database file directly. Must not
know: how passwords are stored or how lockout works (the accounts package's).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol

from appliance.admin_socket.protocol import AdminError
from appliance.serial_console.client import AdminClient

CONSOLE_ROLES = frozenset({"admin", "technician"})


@dataclass(frozen=True)
class ConsoleUser:
    name: str
    role: str


class LoginFailed(Exception):
    """Refused: wrong name or password, locked out (`retry_after` seconds), or not allowed."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Authenticator(Protocol):
    def verify(self, name: str, password: str, address: str) -> ConsoleUser:
        """The user, or LoginFailed (ApplianceDown when the socket does not answer)."""


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
        return ConsoleUser(name=answer["name"], role=answer["role"])


class DatabaseAuthenticator:
    """Checks against the accounts in the database file while the appliance is down.

    Assumes `appliance.accounts.authenticate(name, password, address)` (returning a user with
    `.name` and `.role`, raising `appliance.accounts.LoginFailed` with `.retry_after`), run in
    one transaction on the configured database (it records failures for the lockout)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def verify(self, name: str, password: str, address: str) -> ConsoleUser:
        from appliance.store.service import DatabaseUnavailable, run_in_database

        try:
            accounts = importlib.import_module("appliance.accounts")
        except ModuleNotFoundError:
            raise LoginFailed("user accounts are not part of this build: nobody can log in "
                              "while the appliance is down") from None
        try:
            user = run_in_database(self.database_url,
                                   lambda: accounts.authenticate(name, password, address))
        except accounts.LoginFailed as exc:
            raise LoginFailed(str(exc), getattr(exc, "retry_after", None)) from None
        except DatabaseUnavailable as exc:
            raise LoginFailed(str(exc)) from None
        role = user.role.value if hasattr(user.role, "value") else str(user.role)
        if role not in CONSOLE_ROLES:
            raise LoginFailed(f"user {user.name!r} is {role}: the console is for technicians "
                              "and administrators")
        return ConsoleUser(name=user.name, role=role)


__all__ = ["Authenticator", "CONSOLE_ROLES", "ConsoleUser", "DatabaseAuthenticator",
           "LoginFailed", "SocketAuthenticator"]
