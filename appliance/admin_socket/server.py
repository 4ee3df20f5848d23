"""The admin socket server: a unix socket in the appliance, one JSON line per request.

Knows: binding the socket (mode 0660, the folder made if needed, a stale socket file
replaced), reading lines, running the operation named, writing answers, and closing a
follow when its client goes. Must not know: what the operations do (operations.py).

A connection is served until the client closes it; an operation that fails answers with its
error and the connection stays usable. A line that is not a request closes the connection
after one error answer (the two ends no longer agree on framing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from pathlib import Path
from typing import Any

from appliance.admin_socket.accounts_bridge import AccountsBackend, StoreAccounts
from appliance.admin_socket.logring import LogRing
from appliance.admin_socket.operations import STREAMING, Operations
from appliance.admin_socket.protocol import (
    MAX_LINE,
    AdminError,
    ProtocolError,
    answer,
    decode,
    encode,
    event,
    failure,
)

log = logging.getLogger(__name__)

SOCKET_MODE = 0o660


class AdminSocketError(RuntimeError):
    """The socket cannot be served (its folder cannot be made, another appliance holds it)."""


class AdminSocketServer:
    def __init__(self, appliance: Any, path: str | Path, *,
                 accounts: AccountsBackend | None = None, logs: LogRing | None = None,
                 backup_dir: Path | None = None) -> None:
        self.path = Path(path)
        self.logs = logs or LogRing()
        self.operations = Operations(appliance, accounts or StoreAccounts(appliance),
                                     self.logs, backup_dir)
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AdminSocketError(f"admin.socket: cannot make {self.path.parent}: "
                                   f"{exc.strerror}") from None
        await self._remove_stale()
        # Made with no permission for others from the start (umask), then set to 0660: there
        # is no moment when anyone but the service user and its group may connect.
        old_umask = os.umask(0o117)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path),
                                                           limit=MAX_LINE)
        except OSError as exc:
            raise AdminSocketError(f"admin.socket: cannot listen on {self.path}: "
                                   f"{exc.strerror}") from None
        finally:
            os.umask(old_umask)
        os.chmod(self.path, SOCKET_MODE)
        self.logs.install()
        log.info("admin socket listening on %s", self.path)

    async def _remove_stale(self) -> None:
        """A socket file left by an appliance that died is removed; one that answers belongs
        to a running appliance, and two must not share the serial ports."""
        try:
            mode = self.path.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise AdminSocketError(f"admin.socket: {self.path} exists and is not a socket")
        try:
            _, writer = await asyncio.open_unix_connection(str(self.path))
        except OSError:
            self.path.unlink(missing_ok=True)
            return
        writer.close()
        raise AdminSocketError(f"admin.socket: {self.path} is in use (is another cardgate "
                               "running?)")

    async def stop(self) -> None:
        self.logs.uninstall()
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than the limit
                    writer.write(encode(failure(AdminError("bad_request",
                                                           f"line over {MAX_LINE} bytes"))))
                    break
                if not line:
                    break
                if not line.strip():
                    continue
                try:
                    request = decode(line)
                except ProtocolError as exc:
                    writer.write(encode(failure(AdminError("bad_request", str(exc)))))
                    break
                writer.write(encode(await self._run(request, reader, writer)))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the console went away (Ctrl-C, unplugged cable)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _run(self, request: dict[str, Any], reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> dict[str, Any]:
        op = request.get("op")
        handler = getattr(self.operations, f"op_{op}", None) if isinstance(op, str) else None
        if handler is None:
            return failure(AdminError("unknown_op", f"unknown operation {op!r}"))
        try:
            if op in STREAMING:
                return answer(await self._stream(handler, request, reader, writer))
            return answer(await handler(request))
        except AdminError as exc:
            return failure(exc)
        except ConnectionError:
            raise  # the client went away (a follow stopped): nothing to answer
        except Exception as exc:  # a bug answers as an error; the appliance goes on
            log.exception("admin socket: %s failed", op)
            return failure(AdminError("internal", f"{op} failed: {exc}"))

    async def _stream(self, handler: Any, request: dict[str, Any],
                      reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Any:
        async def emit(data: Any) -> None:
            writer.write(encode(event(data)))
            await writer.drain()

        # The client stops a follow by closing its end: watch for that while following.
        work = asyncio.ensure_future(handler(request, emit))
        gone = asyncio.ensure_future(reader.read(1))
        try:
            done, _ = await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
            if work in done:
                return work.result()
            raise ConnectionResetError("client closed the follow")
        finally:
            for task in (work, gone):
                task.cancel()
            await asyncio.gather(work, gone, return_exceptions=True)


__all__ = ["AdminSocketError", "AdminSocketServer", "SOCKET_MODE"]
