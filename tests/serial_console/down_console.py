"""`cardgate console` for the down-mode test: the real console, with the password check of the
database-side login replaced (the accounts package is built elsewhere). Run as
`python -m tests.serial_console.down_console CONFIG`."""

from __future__ import annotations

import sys
from pathlib import Path

from appliance.config import load_config
from appliance.serial_console.auth import ConsoleUser, LoginFailed
from appliance.serial_console.session import run_console


class TableAuthenticator:
    def verify(self, name: str, password: str, address: str) -> ConsoleUser:
        if (name, password) != ("tech", "s3cret-tech"):
            raise LoginFailed("wrong user name or password")
        return ConsoleUser(name, "technician")


if __name__ == "__main__":
    path = Path(sys.argv[1])
    sys.exit(run_console(load_config(path), config_path=path, offline_auth=TableAuthenticator()))
