"""What the admin socket can be asked: each operation over the appliance's own services.

Knows: the operations' names, arguments and answers, and which service function each one
calls: the same ones the HTTP API calls (api.modems.modems_listing, api.sims.sims_listing,
store.inbox.list_messages, dispatch.intake.submit_request, the pool's supervisors, the
modem's AT channel). Must not know: sockets or framing (server.py), or how the console shows
anything.

Requests are trusted by file permission (the socket is the service user's and its group's);
the console authenticates the technician (`login`) before it sends anything else, and tells
who is acting (`user`, `role`) with each send, which goes through intake and its policy layer
like any other door's (door "serial").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance import __version__
from appliance.accounts.roles import CONSOLE_ROLES
from appliance.admin_socket import at_commands
from appliance.admin_socket.accounts_bridge import AccountsBackend
from appliance.admin_socket.logring import LogRing
from appliance.admin_socket.protocol import AdminError

Emit = Callable[[Any], Awaitable[None]]

FINAL_STATES = frozenset({"delivered", "failed", "expired", "cancelled"})
FOLLOW_MESSAGE_LIMIT = 300.0
"""Seconds a `follow_message` waits for a final state before it ends with the state reached."""
TRAFFIC_POLL = 0.2
LOG_POLL = 0.3
AT_TIMEOUT = 10.0


def _text(args: dict[str, Any], name: str, *, limit: int = 2000) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise AdminError("bad_request", f"{name}: must be a string of 1 to {limit} characters",
                         field=name)
    return value


def _int(args: dict[str, Any], name: str, default: int | None = None, *, low: int = 1,
         high: int = 10_000) -> int:
    value = args.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AdminError("bad_request", f"{name}: must be a whole number from {low} to {high}",
                         field=name)
    return value


class Operations:
    def __init__(self, appliance: Any, accounts: AccountsBackend, logs: LogRing,
                 backup_dir: Path | None) -> None:
        self.appliance = appliance
        self.accounts = accounts
        self.logs = logs
        self.backup_dir = backup_dir

    # -- who is at the console ---------------------------------------------------------------
    async def op_login(self, args: dict[str, Any]) -> dict[str, Any]:
        account = await self.accounts.authenticate(
            _text(args, "name", limit=64), _text(args, "password", limit=1024),
            str(args.get("address") or "console"))
        if account.role not in CONSOLE_ROLES:
            raise AdminError("not_allowed", f"user {account.name!r} is {account.role}: the "
                             "console is for technicians and administrators")
        return {"name": account.name, "role": account.role,
                "must_change_password": account.must_change_password}

    async def op_passwd(self, args: dict[str, Any]) -> dict[str, Any]:
        name = _text(args, "name", limit=64)
        await self.accounts.change_password(name, _text(args, "password", limit=1024),
                                            by=str(args.get("user") or ""))
        return {"name": name}

    async def op_change_own_password(self, args: dict[str, Any]) -> dict[str, Any]:
        """A user's own new password (the first login's change), given the current one."""
        name = _text(args, "name", limit=64)
        await self.accounts.change_own_password(name, _text(args, "old", limit=1024),
                                                _text(args, "new", limit=1024))
        return {"name": name}

    # -- what the box is doing -----------------------------------------------------------------
    async def op_status(self, args: dict[str, Any]) -> dict[str, Any]:
        from appliance.store.metrics import read_figures

        app = self.appliance
        figures = await app.store.read(read_figures)
        sups = app.pool.all() if app.pool else []
        return {
            "version": __version__,
            "uptime_seconds": round(time.monotonic() - app.started_at, 1),
            "started": app.started,
            "http_listen": app.config.http.listen,
            "modems": {"total": len(sups),
                       "ready": sum(1 for s in sups if s.status.state.value == "ready")},
            "messages": figures.messages_by_state,
            "inbox": figures.inbox_messages,
            "problems": list(app.dispatcher.problems()) if app.dispatcher else [],
            "last_errors": [{"at": line.at, "level": line.level, "text": line.text}
                            for line in self.logs.problems()],
        }

    async def op_modems(self, args: dict[str, Any]) -> dict[str, Any]:
        from appliance.api.modems import modems_listing

        return {"modems": await modems_listing(self.appliance)}

    async def op_sims(self, args: dict[str, Any]) -> dict[str, Any]:
        from appliance.api.sims import sims_listing

        return {"sims": await sims_listing(self.appliance)}

    async def op_inbox(self, args: dict[str, Any]) -> dict[str, Any]:
        from appliance.api.inbox import inbox_view
        from appliance.store import inbox as inbox_store

        limit = _int(args, "limit", 20, high=200)
        rows = await self.appliance.store.read(
            lambda: inbox_store.list_messages(limit=limit, ascending=False))
        return {"messages": [inbox_view(r) for r in rows]}

    async def op_message(self, args: dict[str, Any]) -> dict[str, Any]:
        from appliance.api.messages import message_view
        from appliance.store.messages import MessageNotFound, get_message

        message_id = _int(args, "id", high=2**63 - 1)
        try:
            return message_view(await self.appliance.store.read(lambda: get_message(message_id)))
        except MessageNotFound:
            raise AdminError("not_found", f"no message with id {message_id}") from None

    # -- sending -------------------------------------------------------------------------------
    async def op_send(self, args: dict[str, Any]) -> dict[str, Any]:
        from appliance.dispatch.intake import (
            AllRecipientsBlocked,
            InvalidRequest,
            PolicyRefused,
            SendRequest,
            submit_request,
        )
        from appliance.policy.origin import Origin

        user = _text(args, "user", limit=64)
        role = str(args.get("role") or "technician")
        request = SendRequest(
            to=[_text(args, "to", limit=64)], text=_text(args, "text", limit=5000),
            # An alert: a technician waiting at the cabinet overtakes a bulk campaign.
            category="alert", submitter_kind="user", submitter_id=user,
            origin=Origin(door="serial", address=str(args.get("address") or ""), role=role))
        try:
            accepted = await submit_request(self.appliance.dispatcher, request)
        except PolicyRefused as exc:
            raise AdminError(exc.code, exc.message, field=exc.field) from None
        except AllRecipientsBlocked as exc:
            raise AdminError("blacklisted", str(exc), field="to") from None
        except InvalidRequest as exc:
            raise AdminError("invalid_field", str(exc), field=exc.field) from None
        return {"ids": accepted.ids, "to": accepted.recipients, "parts": accepted.parts,
                "encoding": accepted.encoding, "policy": accepted.notes}

    async def op_follow_message(self, args: dict[str, Any], emit: Emit) -> dict[str, Any]:
        """Each state the message reaches, until a final one (or the time limit)."""
        from appliance.hub import MessageStateChanged

        message_id = _int(args, "id", high=2**63 - 1)
        subscription = self.appliance.hub.subscribe(f"admin-follow-{message_id}",
                                                    [MessageStateChanged], maxsize=100)
        try:
            # Subscribed first, then read: a change between the two is not missed.
            now = await self.op_message({"id": message_id})
            await emit({"state": now["state"], "sim": now["sim"], "error": now["error"]})
            state = now["state"]
            deadline = asyncio.get_running_loop().time() + FOLLOW_MESSAGE_LIMIT
            while state not in FINAL_STATES:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    ev = await asyncio.wait_for(subscription.get(), left)
                except TimeoutError:
                    break
                if isinstance(ev, MessageStateChanged) and ev.message_id == message_id:
                    state = ev.state
                    detail = await self.op_message({"id": message_id})
                    await emit({"state": state, "sim": ev.sim, "error": detail["error"]})
            return {"id": message_id, "state": state, "final": state in FINAL_STATES}
        finally:
            subscription.close()

    # -- modems: AT pass-through, live traffic, restart ----------------------------------------
    def _supervisor(self, args: dict[str, Any]) -> Any:
        sups = sorted(self.appliance.pool.all(), key=lambda s: s.status.port)
        number = _int(args, "modem", high=10_000)
        if number > len(sups):
            raise AdminError("not_found", f"no modem {number}: {len(sups)} connected "
                             f"(see `modems`)", field="modem")
        return sups[number - 1]

    async def op_at(self, args: dict[str, Any]) -> dict[str, Any]:
        from appliance.at.channel import AtError

        sup = self._supervisor(args)
        command = _text(args, "command", limit=200)
        why = at_commands.check_syntax(command)
        if why:
            raise AdminError("bad_request", f"command: {why}", field="command")
        if not at_commands.is_read_only(command) and args.get("confirmed") is not True:
            raise AdminError("confirm_needed", f"{command.strip()} may change the modem: it "
                             "needs confirming", field="command")
        modem = sup.modem
        if modem is None:
            raise AdminError("not_ready", f"modem {args['modem']} on {sup.status.port} is "
                             f"{sup.status.state.value}: no AT channel open")
        try:
            response = await modem.channel.command(command.strip(), timeout=AT_TIMEOUT,
                                                   check=False)
        except AtError as exc:
            raise AdminError("at_failed", f"{command.strip()}: {exc}") from None
        return {"port": sup.status.port, "command": command.strip(), "lines": response.lines,
                "final": response.final.text}

    async def op_follow_traffic(self, args: dict[str, Any], emit: Emit) -> dict[str, Any]:
        """The modem's last lines of AT traffic, then each new one, until the client closes."""
        from appliance.at.traffic import follow

        sup = self._supervisor(args)
        backlog = _int(args, "backlog", 20, low=0, high=500)
        async for line in follow(sup.traffic, backlog, poll=TRAFFIC_POLL,
                                 until=lambda: sup.status.state.value == "gone"):
            if line is not None:
                await emit(line.format())
        return {"port": sup.status.port, "state": "gone"}

    async def op_restart_modem(self, args: dict[str, Any]) -> dict[str, Any]:
        sup = self._supervisor(args)
        who = str(args.get("user") or "a technician")
        await sup.restart(f"restart asked by {who} at the console")
        return {"port": sup.status.port}

    # -- the log -------------------------------------------------------------------------------
    async def op_logs(self, args: dict[str, Any]) -> dict[str, Any]:
        lines = self.logs.after(0, _int(args, "lines", 50, high=1000))
        return {"lines": [_log_view(line) for line in lines]}

    async def op_follow_logs(self, args: dict[str, Any], emit: Emit) -> dict[str, Any]:
        seq = 0
        for line in self.logs.after(0, _int(args, "backlog", 20, low=0, high=1000)):
            await emit(_log_view(line))
            seq = line.seq
        while True:
            await asyncio.sleep(LOG_POLL)
            for line in self.logs.after(seq):
                await emit(_log_view(line))
                seq = line.seq

    # -- backup --------------------------------------------------------------------------------
    async def op_backup(self, args: dict[str, Any]) -> dict[str, Any]:
        from appliance.backup import BackupError, create_backup, default_backup_path

        config_path = self.appliance.config_path
        if self.backup_dir is None:
            raise AdminError("not_supported", "backups are made of SQLite databases only; "
                             "back up PostgreSQL with pg_dump")
        output = default_backup_path(self.backup_dir)
        try:
            manifest = await asyncio.to_thread(create_backup, self.appliance.config.database.url,
                                               config_path, output)
        except BackupError as exc:
            raise AdminError("backup_failed", str(exc)) from None
        return {"path": str(output), "size": output.stat().st_size,
                "schema_version": manifest["schema_version"]}


def _log_view(line: Any) -> dict[str, Any]:
    return {"at": datetime.fromtimestamp(line.at, UTC).isoformat(timespec="seconds"),
            "level": line.level, "text": line.text}


STREAMING = frozenset({"follow_message", "follow_traffic", "follow_logs"})

__all__ = ["Operations", "STREAMING"]
