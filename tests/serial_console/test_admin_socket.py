"""The admin socket itself: who may connect, the line protocol's errors, the operations'
refusals, a modem restart through the pool, and a backup of the live appliance (while it
sends) that restores into a fresh folder."""

from __future__ import annotations

import os
import socket
import stat
import time

import pytest

from appliance.admin_socket.protocol import AdminError
from appliance.cli import main
from appliance.serial_console.client import AdminClient, ApplianceDown
from appliance.store.contacts import create_contact
from tests.serial_console.conftest import Rig, write_config

pytestmark = pytest.mark.slow


def client(rig: Rig) -> AdminClient:
    return AdminClient(rig.tmp / "admin.sock", timeout=10)


def test_the_socket_is_for_the_service_user_and_its_group(rig: Rig) -> None:
    mode = os.stat(rig.tmp / "admin.sock").st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660


def _raw(rig: Rig, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(rig.tmp / "admin.sock"))
        sock.sendall(data)
        out = b""
        while not out.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            out += chunk
        return out


@pytest.mark.parametrize(("line", "answer"), [
    (b"hello\n", b'"code":"bad_request"'),
    (b"[1,2]\n", b"a line must be a JSON object"),
    (b'{"op": "format_disk"}\n', b"unknown operation 'format_disk'"),
    (b'{"op": "modem"}\n', b"unknown operation 'modem'"),
    (b'{"op": "inbox", "limit": "all"}\n', b"limit: must be a whole number"),
])
def test_a_bad_request_gets_an_error_line(rig: Rig, line: bytes, answer: bytes) -> None:
    reply = _raw(rig, line)
    assert reply.startswith(b'{"ok":false') and answer in reply


@pytest.mark.parametrize(("args", "code", "text"), [
    ({"modem": 9, "command": "AT+CSQ"}, "not_found", "no modem 9"),
    ({"modem": 1, "command": "AT+CFUN=0"}, "confirm_needed", "needs confirming"),
    ({"modem": 1, "command": "CSQ"}, "bad_request", "starts with AT"),
    ({"modem": 0, "command": "AT"}, "bad_request", "modem: must be a whole number"),
])
def test_at_refusals(rig: Rig, args: dict, code: str, text: str) -> None:
    with pytest.raises(AdminError, match=text) as caught:
        client(rig).request("at", **args)
    assert caught.value.code == code


def test_a_modem_restarted_comes_back_ready(rig: Rig) -> None:
    admin = client(rig)

    def attached() -> int:  # the times modem1's SIM was made ready for sending
        lines = admin.request("logs", lines=1000)["lines"]
        return sum(1 for line in lines if "ready for sending on" in line["text"]
                   and line["text"].endswith(("modem1", "modem1 (unicom)")))

    before = attached()
    assert admin.request("modems")["modems"][1]["state"] == "ready" and before >= 1
    port = admin.request("restart_modem", modem=2, user="tech")["port"]
    assert port.endswith("modem1")
    # Closed and opened again: its SIM is attached anew. The state is not polled for
    # "resting": on a loaded machine the reopen may finish before the first poll.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if admin.request("modems")["modems"][1]["state"] == "ready" and attached() > before:
            break
        time.sleep(0.05)
    assert attached() > before
    assert admin.request("modems")["modems"][1]["state"] == "ready"


def test_a_backup_of_the_running_appliance_restores_into_a_fresh_folder(rig: Rig,
                                                                         tmp_path) -> None:  # noqa: ANN001
    admin = client(rig)
    rig.run(rig.appliance.store.write(lambda: create_contact("王五", ["+8613700137000"])))
    ids = [admin.request("send", to="+8613700137000", text=f"n{i}", user="tech")["ids"][0]
           for i in range(5)]
    done = admin.request("backup")  # while those five are being sent
    assert done["path"].startswith(str(rig.tmp / "backups"))
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    config = write_config(fresh, with_modems=False)
    assert main(["restore", done["path"], "--config", str(config)]) == 0
    import sqlite3

    with sqlite3.connect(fresh / "cardgate.db") as db:
        assert db.execute("SELECT name FROM contact WHERE name = '王五'").fetchall() == [("王五",)]
        found = {r[0] for r in db.execute(
            f"SELECT id FROM message WHERE id IN ({','.join(map(str, ids))})")}
        assert found == set(ids)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_stopped_appliance_is_told_from_a_refusal(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ApplianceDown, match="does not exist"):
        AdminClient(tmp_path / "none.sock").request("status")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(tmp_path / "dead.sock"))  # bound but not listening: connection refused
    try:
        with pytest.raises(ApplianceDown):
            AdminClient(tmp_path / "dead.sock").request("status")
    finally:
        dead.close()


def test_no_restore_under_a_running_appliance(rig: Rig, capsys: pytest.CaptureFixture) -> None:
    done = client(rig).request("backup")
    before = (rig.tmp / "cardgate.db").stat().st_ino
    assert main(["restore", done["path"], "--config", str(rig.config_path), "--force"]) == 2
    assert "the appliance is running" in capsys.readouterr().err
    assert (rig.tmp / "cardgate.db").stat().st_ino == before
