"""`cardgate demo`: the appliance on simulated modems, with a local data folder.

Knows: how to lay out a demo (data folder, simulated ports, a config, an API key) and what to
print so a person can start using it. Must not know: how any part works inside.
"""

from __future__ import annotations

import os
from pathlib import Path

from appliance.config import (
    AdminConfig,
    Config,
    DatabaseConfig,
    HttpConfig,
    ModemsConfig,
    QuietHoursConfig,
)


def demo_config(data: Path, port: int) -> Config:
    data = data.resolve()
    return Config(
        http=HttpConfig(listen=f"127.0.0.1:{port}"),
        database=DatabaseConfig(url=f"sqlite:///{data / 'cardgate.db'}"),
        modems=ModemsConfig(autodetect=False, ports=[str(data / "ports" / "modem*")],
                            poll_interval=10.0),
        admin=AdminConfig(socket=str(data / "admin.sock")),
        # A demo is tried at any hour: a notice sent at 22:00 must go, not wait for 08:00.
        quiet_hours=QuietHoursConfig(enabled=False),
    )


def write_console_config(config: Config, path: Path) -> None:
    """The demo's settings as a config file, so `cardgate console --config FILE` (and
    `cardgate backup --config FILE`) find its socket and database."""
    ports = ", ".join(f'"{p}"' for p in config.modems.ports)
    path.write_text("\n".join([
        "# written by `cardgate demo` at each start: its settings, for the console and backup",
        "[http]", f'listen = "{config.http.listen}"',
        "[database]", f'url = "{config.database.url}"',
        "[modems]", "autodetect = false", f"ports = [{ports}]",
        f"poll_interval = {config.modems.poll_interval}",
        "[admin]", f'socket = "{config.admin.socket}"', "",
    ]), encoding="utf-8")
def demo_admin(url: str) -> str:
    """A fresh first password for the demo's `admin` user (created on the first run, reset on
    the next): it must be changed at the first login, so it never survives one."""
    from appliance.accounts import manage
    from appliance.accounts.passwords import random_password
    from appliance.audit import SYSTEM
    from appliance.store import accounts as accounts_store
    from appliance.store.service import run_in_database

    password = random_password()
    hashed = manage.prepare_password("admin", password)

    def ensure() -> None:
        user = accounts_store.get_user_by_name("admin")
        if user is None:
            manage.add_user(SYSTEM, "admin", "admin", hashed, display_name="Administrator")
        else:
            manage.reset_password(SYSTEM, user.id, hashed)

    run_in_database(url, ensure)
    return password


def run_demo(*, modems: int, port: int, data: Path, latency: float) -> int:
    """Serve the demo until SIGTERM/SIGINT. Raises DatabaseUnavailable when the data folder
    cannot hold the database, OSError when the port cannot be bound (the CLI words both)."""
    from appliance.app import run_appliance
    from appliance.sim.fleet import SimFleet
    from appliance.store.service import create_api_key_sync

    data.mkdir(parents=True, exist_ok=True)
    ports = data / "ports"
    ports.mkdir(exist_ok=True)
    for stale in ports.glob("modem*"):  # symlinks left by a demo that was killed
        stale.unlink()
    config = demo_config(data, port)
    console_config = data.resolve() / "cardgate.toml"
    write_console_config(config, console_config)
    # A fresh key per run: a name derived from the folder's contents came out the same on the
    # third run over one folder, and the demo stopped on "an API key named ... already exists".
    key = create_api_key_sync(config.database.url, f"demo-{os.urandom(4).hex()}",
                              ["send", "read", "admin"])
    password = demo_admin(config.database.url)
    fleet = SimFleet(modems, str(ports), latency=latency, record=True)

    async def start_fleet() -> None:
        await fleet.__aenter__()
        for modem in fleet.modems:
            modem.auto_status_report = 2.0

    async def stop_fleet() -> None:
        await fleet.__aexit__(None, None, None)

    base = f"http://127.0.0.1:{port}"
    banner = "\n".join([
        "",
        f"cardgate demo: {modems} simulated modem(s), data in {data.resolve()}",
        f"  web console: {base}/  (the HTTP API is under {base}/api/v1/; its reference, "
        f"to read and try: {base}/api/v1/docs)",
        f"  API key (admin): {key}",
        f"  console login: admin / {password}  (first login: choose a new password)",
        f"  try: curl -H 'Authorization: Bearer {key}' {base}/api/v1/modems",
        f"       curl -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\",
        f"            -d '{{\"to\": \"+8613800138000\", \"text\": \"你好 cardgate\"}}' "
        f"{base}/api/v1/messages",
        f"  technician console: cardgate console --config {console_config}",
        "  stop with Ctrl-C",
        "",
    ])
    run_appliance(config, banner=banner, on_start=start_fleet, on_stop=stop_fleet,
                  config_path=console_config)
    return 0
