"""The console's session: log in, then read commands and answer them until `quit`.

Knows: the order of a session (banner, login, commands), what each command asks of the
appliance (client.py) or, when it is down, of the database file (offline.py) and the box
(system.py), and the confirmations the dangerous ones need. Must not know: the wire format,
SQL, or how a table is laid out (views.py, tables.py).

Every send from here goes through the appliance's intake and policy layer as door "serial"
(the admin socket's `send`); nothing is written to the database by the console itself, but
for a factory reset of a stopped appliance.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance import __version__
from appliance.admin_socket.at_commands import is_read_only
from appliance.admin_socket.protocol import AdminError
from appliance.config import Config
from appliance.serial_console import commands as table
from appliance.serial_console import system, views
from appliance.serial_console.auth import (
    Authenticator,
    ConsoleUser,
    DatabaseAuthenticator,
    LoginFailed,
    SocketAuthenticator,
)
from appliance.serial_console.client import AdminClient, ApplianceDown
from appliance.serial_console.messages import Messages, language_from
from appliance.serial_console.offline import OfflineUnavailable, snapshot
from appliance.serial_console.tables import safe, wrap
from appliance.serial_console.terminal import Terminal

LOGIN_TRIES = 3
AT_CONFIRM_WORD = "YES"
ERASE_WORD = "ERASE"


class ConsoleStartError(RuntimeError):
    """The console cannot start (the device cannot be opened); one line for the CLI."""


class Console:
    def __init__(self, config: Config, terminal: Terminal, *, config_path: Path | None,
                 client: AdminClient, online_auth: Authenticator,
                 offline_auth: Authenticator) -> None:
        self.config = config
        self.config_path = config_path
        self.term = terminal
        self.client = client
        self.online_auth = online_auth
        self.offline_auth = offline_auth
        self.t = Messages(language_from(config.admin.lang))
        self.user: ConsoleUser | None = None
        self.was_up: bool | None = None
        self.lines = terminal.line_reader()
        # Secrets get their own reader: a password must never land in the command history.
        self.secrets = terminal.line_reader()

    # -- the session ---------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        self.term.say(text)

    def run(self) -> int:
        self.say(self.t("banner", version=__version__, device=self.term.name))
        self.say(self.t("banner_hint"))
        if not self._up():
            self._say_down()
        try:
            self.user = self._login()
        except (EOFError, KeyboardInterrupt):  # the line went away, or the user gave up
            self.say()
            self.say(self.t("bye"))
            return 1
        if self.user is None:
            self.say(self.t("login_gave_up"))
            return 1
        self.say(self.t("login_ok", name=self.user.name, role=self.user.role))
        while True:
            try:
                line = self.lines.prompt(f"{self.user.name}@cardgate> ")
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            if not line.strip():
                continue
            if self.execute(line) is False:
                break
        self.say(self.t("bye"))
        return 0

    def _up(self) -> bool:
        up = self.client.available()
        if self.was_up is False and up:
            self.say(self.t("back_up"))
        self.was_up = up
        return up

    def _say_down(self) -> None:
        self.say(self.t("down", socket=self.config.admin.socket))
        self.say(self.t("down_hint"))

    def _login(self) -> ConsoleUser | None:
        address = f"serial:{self.term.name}"
        for _ in range(LOGIN_TRIES):
            name = self.secrets.prompt(self.t("login_user")).strip()
            password = self.secrets.prompt(self.t("login_password"), is_password=True)
            if not name:
                continue
            try:
                try:
                    auth = self.online_auth
                    user = auth.verify(name, password, address)
                except ApplianceDown:
                    auth = self.offline_auth
                    user = auth.verify(name, password, address)
                if user.must_change_password:
                    self._first_password(auth, user, password)
                return user
            except LoginFailed as exc:
                if exc.retry_after:  # locked out: said once, in the console's language
                    self.say(self.t("login_retry_after", seconds=int(exc.retry_after + 0.999)))
                else:
                    self.say(self.t("login_failed", message=safe(exc)))
        return None

    def _first_password(self, auth: Authenticator, user: ConsoleUser, current: str) -> None:
        """A password set by an admin (or the demo) is changed before anything else: no such
        password survives the first login. EOFError when the user gives up (an empty
        password: logged out), LoginFailed after LOGIN_TRIES refusals."""
        from appliance.accounts.passwords import MIN_LENGTH

        shortest = max(self.config.accounts.min_password_length, MIN_LENGTH)
        self.say(self.t("must_change", name=safe(user.name), min=shortest))
        for _ in range(LOGIN_TRIES):
            first = self.secrets.prompt(self.t("passwd_new", name=safe(user.name)),
                                        is_password=True)
            if not first:
                raise EOFError
            second = self.secrets.prompt(self.t("passwd_again"), is_password=True)
            if first != second:
                self.say(self.t("passwd_mismatch"))
                continue
            try:
                try:
                    auth.change_own_password(user.name, current, first)
                except ApplianceDown:  # stopped since the login: the database file, then
                    auth = self.offline_auth
                    auth.change_own_password(user.name, current, first)
            except LoginFailed as exc:
                self.say(self.t("must_change_refused", message=safe(exc)))
                continue
            self.say(self.t("passwd_done", name=safe(user.name)))
            return
        raise LoginFailed("the password was not changed")

    def execute(self, line: str) -> bool:
        """Run one command line; False when the session ends."""
        word = line.split()[0]
        command = table.lookup(word)
        if command is None:
            self.say(self.t("unknown_command", word=safe(word)[:40]))
            suggestion = table.nearest(word)
            self.say(self.t("did_you_mean", suggestion=suggestion) if suggestion
                     else self.t("see_help"))
            return True
        try:
            args = table.split(line, command)
        except table.UsageError as exc:
            self.say(self.t("usage", usage=str(exc)))
            return True
        if command.name == "quit":
            return False
        handler: Callable[[list[str]], None] = getattr(self, "do_" +
                                                       command.name.replace("-", "_"))
        up = self._up()
        if command.needs_appliance and not up:
            self.say(self.t("down_needs_up", command=command.name))
            return True
        try:
            handler(args)
        except AdminError as exc:
            self.say(self.t("error", message=safe(exc)))
        except ApplianceDown:
            self.was_up = False
            self._say_down()
        except OfflineUnavailable as exc:
            self.say(self.t("error", message=safe(exc)))
        except KeyboardInterrupt:
            self.say(self.t("interrupted"))
        return True

    def _follow(self, op: str, show: Callable[[Any], None], **args: Any) -> Any:
        """Show each event of a follow until it ends or the user presses Ctrl-C (or q)."""
        with self.term.keys() as keys:
            stream = self.client.follow(op, keys.pressed, **args)
            try:
                while True:
                    show(next(stream))
            except StopIteration as end:
                if end.value is None:
                    self.say(self.t("interrupted"))
                return end.value

    def _modem_number(self, text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise AdminError("bad_request", f"not a modem number: {text!r} (see 'modems')")
        return int(text)

    # -- reading -------------------------------------------------------------------------------
    def do_status(self, args: list[str]) -> None:
        if self.was_up:
            for line in views.status_lines(self.t, self.client.request("status")):
                self.say(line)
        else:
            state = system.service_state() or "not running"
            self.say(self.t("status_version", version=__version__))
            self.say(self.t("status_service", state=state))
            data = snapshot(self.config.database.url)
            self.say(self.t("status_queue", queue=views.queue_text(self.t, data["messages"])))
            self.say(self.t("status_inbox", count=data["inbox_count"]))
            self.say(self.t("offline_queue"))
        self._net_lines()

    def do_modems(self, args: list[str]) -> None:
        if self.was_up:
            modems = self.client.request("modems")["modems"]
            sims = self.client.request("sims")["sims"]
            lines = views.modems_table(self.t, modems, sims)
        else:
            lines = views.offline_modems_table(self.t, snapshot(self.config.database.url)
                                               ["modems"]) + [self.t("offline_queue")]
        for line in lines:
            self.say(line)

    def do_sims(self, args: list[str]) -> None:
        if self.was_up:
            lines = views.sims_table(self.t, self.client.request("sims")["sims"])
        else:
            sims = [{**s, "port": None, "caps": {}} for s in
                    snapshot(self.config.database.url)["sims"]]
            lines = views.sims_table(self.t, sims) + [self.t("offline_queue")]
        for line in lines:
            self.say(line)

    def do_inbox(self, args: list[str]) -> None:
        if self.was_up:
            messages = self.client.request("inbox", limit=20)["messages"]
            lines = views.inbox_table(self.t, messages)
        else:
            rows = snapshot(self.config.database.url)["inbox"]
            lines = views.inbox_table(self.t, [{**r, "received_at": str(r["received_at"])}
                                               for r in rows]) + [self.t("offline_queue")]
        for line in lines:
            self.say(line)

    def do_modem(self, args: list[str]) -> None:
        n = self._modem_number(args[0])
        modems = self.client.request("modems")["modems"]
        if n > len(modems):
            raise AdminError("not_found", f"no modem {n}: {len(modems)} known (see 'modems')")
        for line in views.modem_details(self.t, n, modems[n - 1]):
            self.say(line)
        if modems[n - 1]["state"] == "gone":
            self.say(self.t("modem_gone"))
            return
        self.say(self.t("modem_traffic", port=modems[n - 1]["port"]))
        end = self._follow("follow_traffic", lambda line: self.say("  " + safe(line)), modem=n)
        if end is not None:
            self.say(self.t("modem_gone"))

    def do_net(self, args: list[str]) -> None:
        self._net_lines()

    def _net_lines(self) -> None:
        found = system.addresses()
        self.say(self.t("net_header"))
        for a in found:
            self.say(f"  {a.interface:<12}{a.address}")
        if not found:
            self.say(self.t("net_none"))
        urls, reachable = system.web_urls(self.config.http.listen, found)
        for url in urls:
            self.say(self.t("net_web", url=url))
        if not reachable:
            self.say(self.t("net_loopback", listen=self.config.http.listen,
                            port=self.config.http.port))

    def do_logs(self, args: list[str]) -> None:
        follow = bool(args) and args[0] == "-f"
        if args and not follow:
            raise table.UsageError("logs [-f]")
        if not self.was_up:
            lines = system.journal()
            if lines is None:
                self.say(self.t("logs_none_down"))
                return
            self.say(self.t("logs_journal"))
            for line in lines:
                self.say(safe(line))
            return

        def show(entry: dict[str, Any]) -> None:
            self.say(f"{entry['at'][11:19]} {entry['level'][:4]} {safe(entry['text'])}")

        if follow:
            self._follow("follow_logs", show)
            return
        lines = self.client.request("logs", lines=40)["lines"]
        if not lines:
            self.say(self.t("no_logs"))
        for entry in lines:
            show(entry)

    # -- acting --------------------------------------------------------------------------------
    def _confirm(self, question: str, word: str) -> bool:
        try:
            return self.secrets.prompt(question).strip() == word
        except (KeyboardInterrupt, EOFError):
            return False

    def do_at(self, args: list[str]) -> None:
        n = self._modem_number(args[0])
        command = args[1].strip()
        confirmed = False
        if not is_read_only(command):
            self.say(self.t("at_warning", command=safe(command)))
            if not self._confirm(self.t("at_confirm"), AT_CONFIRM_WORD):
                self.say(self.t("at_cancelled"))
                return
            confirmed = True
        answer = self.client.request("at", modem=n, command=command, confirmed=confirmed)
        for line in answer["lines"]:
            self.say("  " + safe(line))
        self.say("  " + safe(answer["final"]))

    def do_send(self, args: list[str]) -> None:
        assert self.user is not None
        accepted = self.client.request("send", to=args[0], text=args[1], user=self.user.name,
                                       role=self.user.role, address=f"serial:{self.term.name}")
        message_id = accepted["ids"][0]
        self.say(self.t("send_accepted", id=message_id, parts=accepted["parts"],
                        encoding=accepted["encoding"]))

        def show(event: dict[str, Any]) -> None:
            sim = f"  SIM {event['sim']}" if event.get("sim") else ""
            error = f"  ({safe(event['error'])})" if event.get("error") else ""
            self.say(self.t("send_state", state=event["state"], sim=sim, error=error))

        end = self._follow("follow_message", show, id=message_id)
        if end is None:
            return
        key = "send_final" if end["final"] else "send_still"
        self.say(self.t(key, id=message_id, state=end["state"]))

    def do_restart(self, args: list[str]) -> None:
        if args:
            n = self._modem_number(args[0])
            assert self.user is not None
            done = self.client.request("restart_modem", modem=n, user=self.user.name)
            self.say(self.t("restart_modem_done", n=n, port=done["port"]))
            return
        if not system.has_systemd():
            self.say(self.t("restart_no_systemd", config=self.config_path or "FILE"))
            return
        self.say(self.t("restart_service"))
        try:
            state = system.restart_service()
        except (RuntimeError, OSError) as exc:
            self.say(self.t("restart_failed", message=safe(exc)))
            return
        self.say(self.t("restart_service_done", state=state))

    def do_passwd(self, args: list[str]) -> None:
        assert self.user is not None
        name = args[0]
        try:
            first = self.secrets.prompt(self.t("passwd_new", name=safe(name)), is_password=True)
            second = self.secrets.prompt(self.t("passwd_again"), is_password=True)
        except (KeyboardInterrupt, EOFError):
            self.say(self.t("interrupted"))
            return
        if not first:
            self.say(self.t("passwd_empty"))
            return
        if first != second:
            self.say(self.t("passwd_mismatch"))
            return
        self.client.request("passwd", name=name, password=first, user=self.user.name)
        self.say(self.t("passwd_done", name=safe(name)))

    def do_backup(self, args: list[str]) -> None:
        if self.was_up:
            done = self.client.request("backup")
            self.say(self.t("backup_done", path=done["path"], size=done["size"]))
            return
        path = self._backup_here()
        self.say(self.t("backup_done", path=path, size=path.stat().st_size))

    def _backup_here(self) -> Path:
        from appliance.backup import (
            BackupError,
            backup_dir_for,
            create_backup,
            default_backup_path,
        )

        try:
            folder = backup_dir_for(self.config.database.url)
            if folder is None:
                raise BackupError("PostgreSQL databases are not backed up by this command: "
                                  "use pg_dump")
            path = default_backup_path(folder)
            create_backup(self.config.database.url, self.config_path, path)
        except BackupError as exc:
            raise AdminError("backup_failed", str(exc)) from None
        return path

    def do_factory_reset(self, args: list[str]) -> None:
        from appliance.backup import backup_dir_for
        from appliance.store.db import sqlite_path

        if backup_dir_for(self.config.database.url) is None:  # before anything is stopped
            raise AdminError("not_supported", "factory-reset erases a SQLite database only; "
                             "a PostgreSQL database is the fleet's to drop (pg_dump first)")
        self.say(self.t("factory_warning"))
        if not self._confirm(self.t("factory_confirm"), ERASE_WORD):
            self.say(self.t("factory_cancelled"))
            return
        running = self.client.available()
        if running and not system.has_systemd():
            self.say(self.t("factory_running"))
            return
        if running:
            system.stop_service()
        backup = self._backup_here()
        database = sqlite_path(self.config.database.url)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        self.say(self.t("factory_done", backup=backup))
        if running:
            self.say(self.t("restart_service_done", state=system.restart_service()))

    def do_lang(self, args: list[str]) -> None:
        if args[0] not in ("zh", "en"):
            self.say(self.t("lang_usage"))
            return
        self.t = Messages(args[0])
        self.say(self.t("lang_set"))

    def do_help(self, args: list[str]) -> None:
        if args:
            command = table.lookup(args[0])
            if command is None:
                self.say(self.t("help_unknown", word=safe(args[0])[:40]))
                return
            for line in wrap(self.t(f"help_{command.name}"), indent="    "):
                self.say(line)
            return
        self.say(self.t("help_header"))
        for command in table.COMMANDS:
            for line in wrap("  " + self.t(f"help_{command.name}"), indent="      "):
                self.say(line)


def run_console(config: Config, *, config_path: Path | None = None, device: Path | None = None,
                online_auth: Authenticator | None = None,
                offline_auth: Authenticator | None = None) -> int:
    """`cardgate console`: on this terminal, or on the serial line `device` at 115200."""
    import sys

    if device is not None:
        try:
            terminal = Terminal.open_device(device)
        except OSError as exc:
            raise ConsoleStartError(f"--device: cannot open {device}: {exc.strerror}") from None
    else:
        name = os.ttyname(0) if os.isatty(0) else "stdin"
        terminal = Terminal(sys.stdin, sys.stdout, name=name)
    client = AdminClient(config.admin.socket)
    console = Console(config, terminal, config_path=config_path, client=client,
                      online_auth=online_auth or SocketAuthenticator(client),
                      offline_auth=offline_auth or DatabaseAuthenticator(config))
    return console.run()


__all__ = ["Console", "ConsoleStartError", "run_console"]
