"""The console's end of the admin socket: blocking requests, and follows it can stop.

Knows: connecting to the socket, the line protocol (admin_socket.protocol), telling "the
appliance is down" (no socket file, connection refused, no answer) from "the appliance said
no" (AdminError). Must not know: what the operations do, or the terminal.

The console is a plain blocking program: one request at a time, on a short-lived connection
each (a follow needs its own connection anyway, and a restarted appliance is found again
without reconnect logic).
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from appliance.admin_socket.protocol import MAX_LINE, AdminError, ProtocolError, decode, encode

REQUEST_TIMEOUT = 30.0


class ApplianceDown(ConnectionError):
    """Nobody answers on the admin socket; the message says what was found."""


class AdminClient:
    def __init__(self, path: str | Path, timeout: float = REQUEST_TIMEOUT) -> None:
        self.path = str(path)
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5.0)
        try:
            sock.connect(self.path)
        except FileNotFoundError:
            sock.close()
            raise ApplianceDown(f"{self.path} does not exist") from None
        except PermissionError:
            sock.close()
            raise ApplianceDown(f"{self.path}: permission denied (the console must run as the "
                                "cardgate user or in its group)") from None
        except OSError as exc:
            sock.close()
            raise ApplianceDown(f"{self.path}: {exc.strerror or exc}") from None
        sock.settimeout(self.timeout)
        return sock

    def available(self) -> bool:
        try:
            self._connect().close()
        except ApplianceDown:
            return False
        return True

    def request(self, op: str, **args: Any) -> Any:
        """The operation's result; AdminError when refused, ApplianceDown when nobody answers."""
        sock = self._connect()
        try:
            sock.sendall(encode({"op": op, **args}))
            reply = _Lines(sock).next()
        except (TimeoutError, OSError) as exc:
            raise ApplianceDown(f"{self.path}: no answer ({exc})") from None
        finally:
            sock.close()
        return _result(reply)

    def follow(self, op: str, stop: Callable[[float], bool], **args: Any) -> Iterator[Any]:
        """Each event of a streaming operation; ends with the operation, or as soon as
        `stop(timeout)` (which waits up to `timeout` seconds for the user) says so. The final
        result is the generator's return value."""
        sock = self._connect()
        try:
            sock.sendall(encode({"op": op, **args}))
            lines = _Lines(sock)
            while True:
                while not lines.ready():
                    readable, _, _ = select.select([sock], [], [], 0)
                    if readable:
                        break
                    if stop(0.1):
                        return None
                reply = lines.next()
                if "event" in reply:
                    yield reply["event"]
                    if stop(0):
                        return None
                    continue
                return _result(reply)
        except OSError as exc:
            raise ApplianceDown(f"{self.path}: connection lost ({exc})") from None
        finally:
            sock.close()  # the server ends a follow when its client goes


class _Lines:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def ready(self) -> bool:
        return b"\n" in self.buffer

    def next(self) -> dict[str, Any]:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("the appliance closed the connection")
            self.buffer += chunk
            if len(self.buffer) > MAX_LINE:
                raise ConnectionResetError("answer line too long")
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            return decode(line)
        except ProtocolError as exc:
            raise ConnectionResetError(str(exc)) from None


def _result(reply: dict[str, Any]) -> Any:
    if reply.get("ok") is True:
        return reply.get("result")
    error = reply.get("error") or {}
    details = {k: v for k, v in error.items() if k not in ("code", "message")}
    raise AdminError(str(error.get("code", "error")), str(error.get("message", "failed")),
                     **details)


__all__ = ["AdminClient", "ApplianceDown"]
