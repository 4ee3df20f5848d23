"""Serving the admin socket: a stale socket file is replaced, a live one is not taken over,
and a path that cannot be served is one error naming `admin.socket`."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from appliance.admin_socket.server import AdminSocketError, AdminSocketServer
from tests.serial_console.conftest import USERS, PasswordTable


def server(path: Path) -> AdminSocketServer:
    return AdminSocketServer(None, path, accounts=PasswordTable(USERS))


async def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "admin.sock"
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(path))  # what a killed appliance leaves: a socket nobody listens on
    first = server(path)
    await first.start()
    try:
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(str(path))
        second = server(path)
        with pytest.raises(AdminSocketError, match="is in use"):
            await second.start()
        assert path.exists()  # the running one keeps its socket
    finally:
        await first.stop()
    assert not path.exists()


@pytest.mark.parametrize(("make", "named"), [
    (lambda p: p.parent.write_text("a file, not a folder"), "admin.socket: cannot make"),
    (lambda p: p.mkdir(parents=True), "exists and is not a socket"),
])
async def test_a_path_that_cannot_be_served_is_named(tmp_path: Path, make,  # noqa: ANN001
                                                     named: str) -> None:
    path = tmp_path / "run" / "admin.sock"
    make(path)
    with pytest.raises(AdminSocketError, match=named):
        await server(path).start()
