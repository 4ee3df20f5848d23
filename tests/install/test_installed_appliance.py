"""End to end: `make install DESTDIR=...` with its dependencies (pip, from the index pip is
configured with), then the staged appliance itself runs under a fake systemd: READY, watchdog
pings, the modem profiles the wheel carries, SIGTERM. Slow (~1 minute: pip installs sanic & co)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.install.conftest import make
from tests.install.fake_systemd import FakeSystemd, start_run, stop

pytestmark = pytest.mark.slow


def test_staged_installation_runs(tmp_path: Path, wheel: Path, systemd: FakeSystemd) -> None:
    destdir = tmp_path / "root"
    done = make("install", f"DESTDIR={destdir}", f"PACKAGE={wheel}")
    assert done.returncode == 0, done.stderr
    python = destdir / "opt/cardgate/bin/python"
    # The scripts point to /opt/cardgate, where the tree will live: run the module with the
    # staged interpreter instead (cwd "/", so nothing from the checkout is imported).
    proc = start_run(tmp_path, systemd, program=[str(python), "-m", "appliance"])
    try:
        systemd.wait_for("READY", "1")
        systemd.wait_for("WATCHDOG", "1", count=3)
        systemd.wait_for("STATUS", "0/0 modems ready, 0 queued, 0 held")
    finally:
        code, log = stop(proc, tmp_path)
    assert code == 0, log
    assert systemd.wait_for("STOPPING", "1")
    # ...and it was the staged package that ran, with every dependency from the staged venv.
    where = subprocess.run([str(python), "-c", "import appliance, sanic, pyudev; "
                            "print(appliance.__file__); print(sanic.__file__)"],
                           capture_output=True, text=True, timeout=60, cwd="/")
    assert where.returncode == 0, where.stderr
    assert all(Path(line).is_relative_to(destdir / "opt/cardgate")
               for line in where.stdout.split()), where.stdout
