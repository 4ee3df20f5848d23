"""A real HTTP receiver on a loopback port, for webhook tests and the benchmark.

Knows: enough HTTP/1.1 to take a POST with a Content-Length body and answer it, keep-alive.
It can answer any status, hang (take the request and never answer until released), go down
(close its socket and every connection) and come back up on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.ports import free_port


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int = 0  # what it was answered (0: not answered)


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    status: int | Callable[[Received], int] = 200
    hang: bool = False
    keep: bool = True  # keep every request (the benchmark only counts)
    requests: list[Received] = field(default_factory=list)
    answered: int = 0
    waiting: int = 0  # requests held by `hang`, now
    most_waiting: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port,
                                                  reuse_address=True)
        return self

    async def stop(self) -> None:
        """Down: nothing listens, open connections are cut."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None
        self._release.set()

    def release(self) -> None:
        """Answer the hung requests (and every later one) at once."""
        self.hang = False
        self._release.set()

    def ok(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    async def wait_for_count(self, n: int, *, ok: bool = True, limit: float = 20.0) -> None:
        """Until `n` requests (answered 2xx when `ok`) came; fails the test after `limit`."""
        def enough() -> bool:
            return (len(self.ok()) if ok and self.keep else
                    self.answered if ok else len(self.requests)) >= n

        async with self._arrived:
            try:
                await asyncio.wait_for(self._arrived.wait_for(enough), limit)
            except TimeoutError:
                raise AssertionError(f"the receiver got {len(self.requests)} requests "
                                     f"({len(self.ok())} answered 2xx), expected {n}") from None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(method, path, headers, body)
                if self.keep:
                    self.requests.append(request)
                if self.hang:
                    self.waiting += 1
                    self.most_waiting = max(self.most_waiting, self.waiting)
                    async with self._arrived:
                        self._arrived.notify_all()
                    await self._release.wait()
                    self.waiting -= 1
                    if self._server is None:
                        return
                status = self.status(request) if callable(self.status) else self.status
                request.status = status
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
                if 200 <= status < 300:
                    self.answered += 1
                async with self._arrived:
                    self._arrived.notify_all()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


async def _serve_forever(port: int) -> None:
    """`python -m tests.webhooks.receiver PORT`: a receiver in its own process (the benchmark's
    LAN device); prints "ready", and on SIGTERM the number of requests answered 2xx."""
    import signal
    import sys

    receiver = await Receiver(port=port, keep=False).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await receiver.stop()
    sys.stdout.write(f"{receiver.answered}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    import sys

    asyncio.run(_serve_forever(int(sys.argv[1])))
