"""systemd's end of NOTIFY_SOCKET, played by a real AF_UNIX datagram socket bound in a temp
folder, and `cardgate run` started against it as a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.ports import free_port

CARDGATE = Path(sys.executable).parent / "cardgate"
WAIT = 30.0  # bound on every wait; a test fails when it runs out, it never passes by it
WATCHDOG_USEC = 200_000  # 0.2 s: pings every 0.1 s


class FakeSystemd:
    """The receiving end of NOTIFY_SOCKET: each datagram with the time it arrived."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.received: list[tuple[float, dict[str, str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
            self.received.append((time.monotonic(), fields))

    def wait_for(self, key: str, value: str | None = None, count: int = 1) -> list[float]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            times = self.times(key, value)
            if len(times) >= count:
                return times
            time.sleep(0.02)
        pytest.fail(f"never got {count}x {key}={value}; got {self.received}")

    def times(self, key: str, value: str | None = None) -> list[float]:
        return [at for at, fields in list(self.received)
                if key in fields and (value is None or fields[key] == value)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()




def config_file(tmp_path: Path, *, autodetect: bool = False) -> Path:
    path = tmp_path / "cardgate.toml"
    path.write_text(f'[http]\nlisten = "127.0.0.1:{free_port()}"\n'
                    f'[database]\nurl = "sqlite:///{tmp_path / "cardgate.db"}"\n'
                    f"[modems]\nautodetect = {str(autodetect).lower()}\nports = []\n"
                    # the technician console's socket in the test's folder, not /run/cardgate
                    f'[admin]\nsocket = "{tmp_path / "admin.sock"}"\n')
    return path


def start_run(tmp_path: Path, systemd: FakeSystemd, *, autodetect: bool = False,
              program: list[str] | None = None, preexec=None) -> subprocess.Popen:
    """`cardgate run` on a fresh config, told to notify `systemd`; its log goes to a file (a
    pipe nobody reads would fill and stall it)."""
    program = program or ([str(CARDGATE)] if CARDGATE.exists()
                          else [sys.executable, "-m", "appliance"])
    env = {**os.environ, "NOTIFY_SOCKET": str(systemd.path),
           "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    config = config_file(tmp_path, autodetect=autodetect)
    with open(tmp_path / "stderr.log", "w") as log:
        return subprocess.Popen([*program, "run", "--config", str(config)], env=env, cwd="/",
                                stdout=subprocess.DEVNULL, stderr=log, preexec_fn=preexec)


def stop(proc: subprocess.Popen, tmp_path: Path) -> tuple[int, str]:
    """SIGTERM, then the exit status and the log."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, (tmp_path / "stderr.log").read_text()
