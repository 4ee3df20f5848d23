"""A running appliance on simulated modems with its admin socket in the test's folder, and
the technician console spawned on a real pseudo-terminal (pexpect) against it.

Everything is real: the appliance, its SQLite file, the users in it (made with the accounts
package's own `manage.add_user`), the modems on ptys, the socket, `cardgate console` as a
technician runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pexpect
import pytest
from sanic import Sanic

from appliance.accounts import manage
from appliance.api.http_protocol import LenientHttpProtocol
from appliance.app import Appliance, create_app
from appliance.audit import SYSTEM
from appliance.config import load_config
from appliance.sim import SimFleet
from appliance.store.service import run_in_database
from tests.api.conftest import free_port

Sanic.test_mode = True
CARDGATE = str(Path(sys.executable).with_name("cardgate"))
TIMEOUT = 20


USERS = {"tech": ("s3cret-tech", "technician"), "boss": ("s3cret-boss", "admin"),
         "clerk": ("s3cret-clerk", "operator"), "watcher": ("s3cret-watch", "viewer")}


def add_users(url: str, users: dict[str, tuple[str, str]], *,
              must_change_password: bool = False) -> None:
    """Users made as an administrator makes them (`manage.add_user`: the first password must
    be changed); unless `must_change_password`, each one has already chosen its own."""
    hashes = {name: manage.prepare_password(name, password)
              for name, (password, _) in users.items()}

    def add() -> None:
        for name, (_, role) in users.items():
            user = manage.add_user(SYSTEM, name, role, hashes[name])
            if not must_change_password:
                manage.change_user(SYSTEM, user.id, {"must_change_password": False})

    run_in_database(url, add)


def database_rows(tmp: Path, sql: str, *params: object) -> list[tuple]:
    """Rows of the test's database file, read as an auditor would (login_attempt,
    audit_entry...)."""
    with sqlite3.connect(tmp / "cardgate.db") as db:
        return db.execute(sql, params).fetchall()


def write_config(tmp: Path, *, lang: str = "", with_modems: bool = True) -> Path:
    path = tmp / "cardgate.toml"
    path.write_text("\n".join([
        "[http]", f'listen = "127.0.0.1:{free_port()}"',
        "[database]", f'url = "sqlite:///{tmp / "cardgate.db"}"',
        "[modems]", "autodetect = false",
        f'ports = ["{tmp / "ports" / "modem*"}"]' if with_modems else "ports = []",
        "poll_interval = 0.5", "command_timeout = 2.0", "send_timeout = 5.0",
        "[dispatch]", "per_sim_per_minute = 0", "per_sim_per_hour = 200",
        "per_sim_per_day = 1000",
        "[admin]", f'socket = "{tmp / "admin.sock"}"', f'lang = "{lang}"',
        # Tests run at any hour: quiet hours (on by default) would hold their sends at night.
        "[quiet_hours]", "enabled = false", "",
    ]), encoding="utf-8")
    return path


@dataclass
class Rig:
    tmp: Path
    config_path: Path
    appliance: Appliance
    fleet: SimFleet
    loop: asyncio.AbstractEventLoop
    spawned: list[pexpect.spawn] = field(default_factory=list)

    def console(self, lang: str = "en", term: str = "vt100") -> pexpect.spawn:
        env = {"PATH": "/usr/bin:/bin", "LANG": "zh_CN.UTF-8" if lang == "zh" else "C.UTF-8",
               "TERM": term, "PROMPT_TOOLKIT_NO_CPR": "1", "HOME": str(self.tmp)}
        child = pexpect.spawn(CARDGATE, ["console", "--config", str(self.config_path)],
                              env=env, dimensions=(24, 80), encoding="utf-8",
                              timeout=TIMEOUT)
        self.spawned.append(child)
        return child

    def run(self, coro):  # noqa: ANN001, ANN201 - run a coroutine on the appliance's loop
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)


@contextlib.contextmanager
def running_appliance(tmp: Path, *, modems: int = 2) -> Iterator[Rig]:
    """The appliance (HTTP server included, as `cardgate run` has it) on its own loop."""
    config_path = write_config(tmp)
    config = load_config(config_path)
    root_level = logging.getLogger().level
    logging.getLogger().setLevel(config.log.level)  # as `cardgate run` sets it up
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict = {}
    add_users(config.database.url, USERS)

    async def serve() -> None:
        box["stop"] = asyncio.Event()
        try:
            async with SimFleet(modems, tmp / "ports", latency=0.0, record=True) as fleet:
                for modem in fleet.modems:
                    modem.auto_status_report = 0.3
                appliance = Appliance(config, config_path=config_path)
                app = create_app(appliance)
                server = await app.create_server(host=config.http.host, port=config.http.port,
                                                 return_asyncio_server=True, access_log=False,
                                                 protocol=LenientHttpProtocol)
                await server.startup()
                await server.before_start()
                await server.after_start()
                try:
                    for _ in range(400):
                        if appliance.pool and len(appliance.pool.ready()) >= modems:
                            break
                        await asyncio.sleep(0.05)
                    box["rig"] = Rig(tmp, config_path, appliance, fleet, loop)
                    started.set()
                    await box["stop"].wait()
                finally:
                    await server.before_stop()
                    closing = server.close()
                    if closing is not None:
                        await closing
                    await server.after_stop()
        finally:
            started.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(60) and "rig" in box, "the appliance did not start"
    rig = box["rig"]
    try:
        yield rig
    finally:
        for child in rig.spawned:
            child.close(force=True)
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(60)
        loop.close()
        logging.getLogger().setLevel(root_level)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with running_appliance(tmp_path_factory.mktemp("console")) as running:
        yield running


def login(child: pexpect.spawn, name: str = "tech", password: str | None = None) -> None:
    child.expect("user:|用户名：")
    child.sendline(name)
    child.expect("password:|密码：")
    child.sendline(password if password is not None else USERS[name][0])
