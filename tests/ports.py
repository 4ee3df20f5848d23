"""A TCP port on 127.0.0.1 for a server a test starts a moment later.

Not `bind(("127.0.0.1", 0))`: that hands out a port from the kernel's ephemeral range
(32768-60999 here), the range every client connection draws its own port from, so under
pytest-xdist another worker's connection could take the port between this check and the
server's bind ("address already in use"). These ports come from below that range, from a block
of this worker's own, and are checked free before they are handed out.
"""

from __future__ import annotations

import itertools
import os
import socket

BLOCK = 2000
FIRST = 20000  # blocks for workers gw0.. up to gw5 stay below 32768


def _worker_index() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) if name[2:].isdigit() else 0


_START = FIRST + BLOCK * (_worker_index() % 6)
# A process (a test's subprocess, a benchmark) starts at an offset of its own in the block.
_ports = itertools.cycle(range(_START, _START + BLOCK))
for _ in range(os.getpid() % BLOCK):
    next(_ports)


def free_port() -> int:
    for _ in range(BLOCK):
        port = next(_ports)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_START}-{_START + BLOCK - 1}")
