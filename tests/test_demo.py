"""`cardgate demo` as a subprocess: address and key printed, modems ready, a message sent,
SIGTERM stops it cleanly and removes the simulated ports."""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from appliance.accounts.passwords import password_matches
from tests.ports import free_port

pytestmark = pytest.mark.slow  # end to end: run with -m 'not slow' for the fast layer

CARDGATE = Path(sys.executable).parent / "cardgate"
WAIT = 60.0  # bound on every wait; a test fails when it runs out, it never passes by it




def command(*args: str | Path) -> list[str]:
    base = [str(CARDGATE)] if CARDGATE.exists() else [sys.executable, "-m", "appliance"]
    return [*base, *map(str, args)]


class Demo:
    def __init__(self, proc: subprocess.Popen, port: int, data: Path):
        self.proc = proc
        self.port = port
        self.data = data
        self.lines: list[str] = []
        self.stderr = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, pattern: str) -> re.Match:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = re.search(pattern, line)
                if match:
                    return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"demo never printed {pattern!r}; stdout: {self.lines}; "
                    f"exit {self.proc.poll()}; stderr: {self.proc.stderr.read() if self.proc.poll() is not None else ''}")  # noqa: E501

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            # It did not stop: have it say what it is doing (appliance.stacks) before it dies,
            # and fail with that.
            for dump in (signal.SIGUSR2, signal.SIGUSR1):
                self.proc.send_signal(dump)
                time.sleep(1.0)
            self.proc.kill()
            self.proc.wait()
            self._reader.join(timeout=5)
            pytest.fail(f"the demo did not stop within {WAIT} s of SIGTERM; its stacks:\n"
                        f"{self.proc.stderr.read()[-20000:]}")  # type: ignore[union-attr]
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        self.stderr = self.proc.stderr.read()  # type: ignore[union-attr]
        return self.proc.returncode


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    port = free_port()
    data = tmp_path / "demo-data"
    proc = subprocess.Popen(command("demo", "--modems", "2", "--port", str(port), "--data", data,
                                    "--latency", "0"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    running = Demo(proc, port, data)
    yield running
    if proc.poll() is None:
        running.stop()


def wait_until(check, what: str):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def test_demo_serves_modems_sends_and_stops_cleanly(demo: Demo) -> None:
    address = demo.wait_for_line(r"web console: (http://127\.0\.0\.1:(\d+))/").group(1)
    assert address == f"http://127.0.0.1:{demo.port}"
    key = demo.wait_for_line(r"API key \(admin\): (cg_\S+)").group(1)
    password = demo.wait_for_line(r"console login: admin / (\S+)").group(1)
    headers = {"Authorization": f"Bearer {key}"}

    docs = demo.wait_for_line(r"to read and try: (http://\S+/api/v1/docs)\)").group(1)
    assert docs == f"{address}/api/v1/docs"
    with httpx.Client(base_url=address, headers=headers, timeout=10) as client:
        page = client.get("/api/v1/docs")
        assert page.status_code == 200 and "swagger-ui-bundle" in page.text

        def two_ready():
            modems = client.get("/api/v1/modems").json()["modems"]
            return modems if sum(m["state"] == "ready" for m in modems) == 2 else None

        modems = wait_until(two_ready, "2 ready modems")
        assert {m["port"] for m in modems} == {str(demo.data.resolve() / "ports" / f"modem{i}")
                                               for i in (0, 1)}
        assert all(m["imei"] and m["sim"]["iccid"] for m in modems)

        response = client.post("/api/v1/messages",
                               json={"to": "13800138000", "text": "你好 cardgate"})
        assert response.status_code == 202, response.text
        message_id = response.json()["messages"][0]["id"]

        def sent():
            view = client.get(f"/api/v1/messages/{message_id}").json()
            return view if view["state"] in ("sent", "delivered") else None

        view = wait_until(sent, "the demo message to be sent")
        assert view["to"] == "+8613800138000"
        assert view["sim"] in {m["sim"]["iccid"] for m in modems}

    # The printed console login works, and leads to the first password change.
    with httpx.Client(base_url=address, timeout=10) as browser:
        form = browser.get("/", follow_redirects=True)
        assert form.status_code == 200 and 'action="/console/login"' in form.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        login = browser.post("/console/login", data={"name": "admin", "password": password,
                                                     "csrf_token": token})
        assert login.status_code == 302 and login.headers["location"] == "/console/password"

    # The simulators' durable record (DIR/modemN.jsonl) shows what went on the air.
    records = [json.loads(line) for path in (demo.data / "ports").glob("modem*.jsonl")
               for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["to"], r["text"]) for r in records] == [("+8613800138000", "你好 cardgate")]

    assert demo.stop() == 0, demo.stderr
    assert "Traceback" not in demo.stderr
    assert not list((demo.data / "ports").glob("modem[0-9]")), "symlinks left behind"
    # The printed first-login password is the admin's, and must be changed at first login.
    con = sqlite3.connect(demo.data / "cardgate.db")
    stored, must_change = con.execute(
        "SELECT password_hash, must_change_password FROM app_user WHERE name = 'admin'").fetchone()
    con.close()
    assert must_change == 1 and password_matches(password, stored)


def test_demo_runs_again_over_the_same_folder(tmp_path: Path) -> None:
    """Each run creates a new admin key; names must not collide however often it runs."""
    data = tmp_path / "d"
    keys = []
    for _ in range(3):
        port = free_port()
        proc = subprocess.Popen(command("demo", "--modems", "1", "--port", str(port),
                                        "--data", data, "--latency", "0"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        run = Demo(proc, port, data)
        keys.append(run.wait_for_line(r"API key \(admin\): (cg_\S+)").group(1))
        assert run.stop() == 0, run.stderr
    assert len(set(keys)) == 3


def test_demo_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(command("demo", "--modems", "1", "--port", str(port),
                                        "--data", tmp_path / "d"),
                                capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("cardgate: --port:") and str(port) in last
    assert not list((tmp_path / "d" / "ports").glob("modem[0-9]"))


def test_demo_data_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = subprocess.run(command("demo", "--modems", "1", "--port", str(free_port()),
                                    "--data", blocker), capture_output=True, text=True,
                            timeout=WAIT)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cardgate: --data:") and str(blocker) in lines[0]
