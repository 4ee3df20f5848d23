"""udev discovery through the real pyudev code, on a fake USB modem made by umockdev.

The test spawns `umockdev-run` with Debian's python3 (which has `gi` and UMockdev's typelib;
the venv's interpreter may not) running umockdev_script.py, with the repository and the venv's
site-packages (pyudev is pure Python) on its path. Without umockdev it is skipped, naming what
is missing; it is never faked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("umockdev_script.py")
SYSTEM_PYTHON = "/usr/bin/python3"
APT_HINT = "apt-get install umockdev gir1.2-umockdev-1.0 python3-gi"


def _why_not() -> str | None:
    if shutil.which("umockdev-run") is None:
        return f"umockdev-run not found ({APT_HINT})"
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} not found (UMockdev's gi bindings live in Debian's python3)"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('UMockdev', '1.0'); "
                              "from gi.repository import UMockdev"],
        capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return f"{SYSTEM_PYTHON} cannot load gi/UMockdev: {last} ({APT_HINT})"
    return None


@pytest.fixture(scope="module")
def umockdev_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    why = _why_not()
    if why is not None:
        pytest.skip(why)
    site = sysconfig.get_paths()["purelib"]  # this venv's: pyudev and friends
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), site])}
    env.pop("PYTHONHOME", None)
    done = subprocess.run(
        ["umockdev-run", "--", SYSTEM_PYTHON, str(SCRIPT)], capture_output=True, text=True,
        env=env, cwd=tmp_path_factory.mktemp("umockdev"), timeout=120)
    assert done.returncode == 0, f"umockdev script failed:\n{done.stderr}"
    return json.loads(done.stdout)


def test_usb_ttys_present_at_start_are_enumerated(umockdev_report: dict) -> None:
    assert umockdev_report["started"] is True
    enumerated = umockdev_report["enumerated"]
    # ttyS0 has no USB parent: a UART, not announced.
    assert [p["path"] for p in enumerated] == ["/dev/ttyUSB0", "/dev/ttyUSB1", "/dev/ttyUSB2"]
    assert [p["interface"] for p in enumerated] == [0, 1, 2]
    assert {p["usb_id"] for p in enumerated} == {"2c7c:0125"}
    # Siblings share their USB device, which is how the pool groups a stick's ttys.
    assert len({p["group"] for p in enumerated}) == 1
    assert enumerated[0]["vendor"] == "Quectel"
    assert enumerated[0]["product"] == "EC25"


def test_add_and_remove_uevents_reach_the_pool_through_the_monitor(
        umockdev_report: dict) -> None:
    plugged = umockdev_report["hotplugged"]
    assert plugged["path"] == "/dev/ttyUSB3"
    assert plugged["interface"] == 3
    assert plugged["usb_id"] == "2c7c:0125"
    assert plugged["group"] == umockdev_report["enumerated"][0]["group"]
    assert umockdev_report["removed"]["path"] == "/dev/ttyUSB3"

