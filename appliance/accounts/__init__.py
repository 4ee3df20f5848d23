"""Console accounts: users, departments, roles, passwords, lockout and sessions.

Knows: what a role may do (`roles`), what a password must be (`passwords`), how failed
logins lock a user or an address out (`lockout`), and the service the web console and the
serial console call (`service.Accounts`: authenticate, change_password, sessions).
Must not know: HTTP or terminals (the consoles are the doors), SQL (store.accounts).
"""

from appliance.store.accounts import UserInfo as User

__all__ = ["User"]
