"""`sudo make install` for real, on this machine as seen from a private mount namespace: /etc,
/opt, /usr/local and /var/lib are overlays on temp folders, so the user, the files and the
chowns land there and vanish with the namespace. No systemd runs here (no systemctl, no udev):
those steps are skipped by the installer itself, as on any box without them.

Checked: the user `cardgate` in dialout, the folders' owners and modes, the launcher started by
root writing the database as `cardgate`, settings kept by a second install and by uninstall,
PURGE=1. Slow (~1 minute: pip installs the dependencies)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.install.conftest import ROOT

pytestmark = pytest.mark.slow

SYSTEM_PYTHON = Path("/usr/bin/python3")  # the venv's interpreter must be readable by cardgate

SCRIPT = r"""
set -eu
for dir in /etc /opt /usr/local /var/lib; do
  name=$(echo "$dir" | tr / _)
  mkdir -p "$LAYERS/$name/upper" "$LAYERS/$name/work"
  layer="$LAYERS/$name"
  mount -t overlay overlay -o "lowerdir=$dir,upperdir=$layer/upper,workdir=$layer/work" "$dir"
done
make -s -C "$SRC" install PYTHON=/usr/bin/python3 PACKAGE="$WHEEL" >"$LAYERS/install1.log"
echo "user=$(id -nG cardgate | tr ' ' ',')"
echo "data=$(stat -c '%U:%G %a' /var/lib/cardgate)"
echo "confdir=$(stat -c '%U:%G %a' /etc/cardgate)"
echo "conf=$(stat -c '%U:%G %a' /etc/cardgate/cardgate.toml)"
key=$(/usr/local/bin/cardgate apikey create --name first --scopes read | tail -n 1)
echo "key=${key%%_*}"
echo "db=$(stat -c '%U' /var/lib/cardgate/cardgate.db)"
echo '# mine' >> /etc/cardgate/cardgate.toml
make -s -C "$SRC" install PYTHON=/usr/bin/python3 PACKAGE="$WHEEL" >"$LAYERS/install2.log"
echo "kept=$(tail -n 1 /etc/cardgate/cardgate.toml)"
make -s -C "$SRC" uninstall >/dev/null
echo "after_uninstall=$(ls /opt/cardgate /usr/local/bin/cardgate 2>&1 | grep -c 'No such file')"
echo "db_after=$(ls /var/lib/cardgate/cardgate.db)"
make -s -C "$SRC" uninstall PURGE=1 >/dev/null
echo "purged=$(ls -d /etc/cardgate /var/lib/cardgate 2>&1 | grep -c 'No such file')"
"""


def can_sandbox() -> str | None:
    if os.geteuid() != 0:
        return "needs root (mount namespaces and overlays)"
    if not shutil.which("unshare") or not shutil.which("setpriv"):
        return "needs unshare and setpriv (util-linux)"
    check = "import sys, ensurepip; sys.exit(sys.version_info < (3, 11))"
    if not SYSTEM_PYTHON.exists() or subprocess.run(
            [str(SYSTEM_PYTHON), "-c", check], capture_output=True).returncode != 0:
        return f"needs {SYSTEM_PYTHON} 3.11+ with venv (python3-venv)"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs",
                            "tmpfs", "/mnt"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot mount in a private namespace here: {probe.stderr.strip()}"
    return None


def test_live_install_upgrade_uninstall(tmp_path: Path, wheel: Path) -> None:
    reason = can_sandbox()
    if reason:
        pytest.skip(reason)
    layers = tmp_path / "layers"
    layers.mkdir()
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "bash", "-c", SCRIPT],
        env={**os.environ, "LAYERS": str(layers), "SRC": str(ROOT), "WHEEL": str(wheel),
             "PATH": f"/usr/sbin:/usr/bin:/sbin:/bin:{Path(sys.executable).parent}"},
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    facts = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert "dialout" in facts["user"].split(","), facts
    assert facts["data"] == "cardgate:cardgate 750"
    assert facts["confdir"] == "root:cardgate 770"
    assert facts["conf"] == "root:cardgate 640"
    assert facts["key"] == "cg"
    assert facts["db"] == "cardgate"  # the launcher ran it as the service user
    assert facts["kept"] == "# mine"
    assert facts["after_uninstall"] == "2"
    assert facts["db_after"] == "/var/lib/cardgate/cardgate.db"
    assert facts["purged"] == "2"
