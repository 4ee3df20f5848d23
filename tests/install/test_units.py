"""The systemd files: every unit passes `systemd-analyze verify` as installed, the hardening
the issue asks for is there, and the sysusers/tmpfiles files make the user and folders.

`systemd-analyze verify` checks that ExecStart's program exists and is executable, so the units
are verified inside the staged installation (`--root`): /opt/cardgate/bin/cardgate is the real
console script of the staged venv, not a stand-in. `--root` also looks for the units ours
depend on (sysinit.target, dev-ttyAMA0.device...) inside that root, so the host's own unit
folder is copied in beside ours.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from tests.install.conftest import ROOT

SYSTEMD = ROOT / "systemd"
UNITDIR = "usr/local/lib/systemd/system"
HOST_UNITS = Path("/usr/lib/systemd/system")
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None or not HOST_UNITS.is_dir(),
    reason="systemd-analyze is not installed (tests/install-system-deps.sh installs Debian's "
           "systemd package when run as root)")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown in a staged root needs root")

# Every unit file in systemd/, as systemd would load it (a template by two instances).
VERIFIED = ["cardgate.service", "cardgate-console@ttyAMA0.service",
            "cardgate-console@ttyGS0.service"]


@pytest.fixture(scope="session")
def verify_root(staged: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("verify") / "root"
    subprocess.run(["cp", "-a", str(staged), str(root)], check=True, timeout=60)
    shutil.copytree(HOST_UNITS, root / "usr/lib/systemd/system", symlinks=True,
                    dirs_exist_ok=True)
    return root


def analyze(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ANALYZE, *args, f"--root={root}"], capture_output=True, text=True,
                          timeout=30)


def test_every_unit_file_is_verified() -> None:
    templates = {name.split("@")[0] + "@.service" if "@" in name else name for name in VERIFIED}
    assert templates == {p.name for p in SYSTEMD.glob("*.service")}


@needs_analyze
@pytest.mark.parametrize("unit", VERIFIED)
def test_unit_verifies_as_installed(verify_root: Path, unit: str) -> None:
    done = analyze(verify_root, "verify", unit)
    # verify exits 0 on unknown keys and bad values too: only silence is a pass.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@needs_analyze
def test_verify_fails_when_the_program_is_missing(verify_root: Path) -> None:
    program = verify_root / "opt/cardgate/bin/cardgate"
    program.rename(program.with_name("elsewhere"))
    try:
        done = analyze(verify_root, "verify", "cardgate.service")
    finally:
        program.with_name("elsewhere").rename(program)
    assert done.returncode != 0
    assert "/opt/cardgate/bin/cardgate" in done.stderr


@needs_analyze
@pytest.mark.parametrize("unit", VERIFIED)
def test_unit_exposure_stays_low(verify_root: Path, unit: str) -> None:
    # systemd's own score of the sandbox, 0 (locked down) to 10 (none): ours are about 2.
    # --threshold counts in tenths: 30 is an exposure of 3.0.
    done = analyze(verify_root, "security", "--offline=yes", "--threshold=30", "--no-pager", unit)
    assert done.returncode == 0, done.stdout[-2000:]


def directives(path: Path) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> every value, in order (systemd keys repeat: DeviceAllow=)."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found[(section, key)].append(value)
    return found


SERVICE = [
    ("Service", "Type", "notify"),
    ("Service", "WatchdogSec", "30"),
    ("Service", "Restart", "on-failure"),
    ("Service", "ExecStart", "/opt/cardgate/bin/cardgate run --config /etc/cardgate/cardgate.toml"),
    ("Service", "User", "cardgate"),
    ("Service", "SupplementaryGroups", "dialout"),
    ("Service", "ProtectSystem", "strict"),
    ("Service", "ReadWritePaths", "/var/lib/cardgate"),
    ("Service", "StateDirectory", "cardgate"),
    ("Service", "RuntimeDirectory", "cardgate"),
    ("Service", "RuntimeDirectoryMode", "0750"),
    ("Service", "ConfigurationDirectory", "cardgate"),
    ("Service", "PrivateTmp", "yes"),
    ("Service", "NoNewPrivileges", "yes"),
    ("Service", "ProtectHome", "yes"),
    ("Service", "ProtectKernelTunables", "yes"),
    ("Service", "ProtectKernelModules", "yes"),
    ("Service", "ProtectKernelLogs", "yes"),
    ("Service", "ProtectControlGroups", "yes"),
    ("Service", "RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6 AF_NETLINK"),
    ("Service", "RestrictNamespaces", "yes"),
    ("Service", "LockPersonality", "yes"),
    ("Service", "MemoryDenyWriteExecute", "yes"),
    ("Service", "SystemCallFilter", "@system-service"),
    ("Service", "CapabilityBoundingSet", ""),
    ("Service", "DevicePolicy", "closed"),
    ("Service", "DeviceAllow", "char-ttyUSB rw"),
    ("Service", "DeviceAllow", "char-ttyACM rw"),
    ("Service", "DeviceAllow", "char-ttyAMA rw"),
    ("Service", "DeviceAllow", "char-pts rw"),
    ("Install", "WantedBy", "multi-user.target"),
]

CONSOLE = [
    ("Unit", "Conflicts", "serial-getty@%i.service"),
    ("Unit", "BindsTo", "dev-%i.device"),
    ("Service", "ExecStart",
     "/opt/cardgate/bin/cardgate console --config /etc/cardgate/cardgate.toml --device /dev/%I"),
    ("Service", "Restart", "always"),
    ("Service", "User", "cardgate"),
    ("Service", "DevicePolicy", "closed"),
    ("Service", "DeviceAllow", "/dev/%I rw"),
    ("Service", "NoNewPrivileges", "yes"),
    ("Service", "ProtectSystem", "strict"),
    ("Install", "WantedBy", "getty.target"),
]


@pytest.mark.parametrize(("section", "key", "value"), SERVICE)
def test_service_directive(section: str, key: str, value: str) -> None:
    assert value in directives(SYSTEMD / "cardgate.service")[(section, key)]


@pytest.mark.parametrize(("section", "key", "value"), CONSOLE)
def test_console_directive(section: str, key: str, value: str) -> None:
    assert value in directives(SYSTEMD / "cardgate-console@.service")[(section, key)]


@pytest.mark.parametrize("unit", ["cardgate.service", "cardgate-console@.service"])
def test_no_private_devices(unit: str) -> None:
    # A private /dev is frozen at start: a modem plugged in later would never show up in it.
    assert ("Service", "PrivateDevices") not in directives(SYSTEMD / unit)


def test_modules_load_registers_the_allowed_usb_classes() -> None:
    # DeviceAllow=char-ttyUSB/char-ttyACM resolve through /proc/devices when the service
    # starts: the drivers that register them must be loaded at boot.
    modules = [line for line in (SYSTEMD / "cardgate.modules-load").read_text().splitlines()
               if line and not line.startswith("#")]
    assert modules == ["usbserial", "cdc_acm"]


@needs_analyze
@needs_root
def test_sysusers_and_tmpfiles_make_user_and_folders(staged: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    (fresh / "etc").mkdir(parents=True)
    sysusers = staged / "usr/local/lib/sysusers.d/cardgate.conf"
    tmpfiles = staged / "usr/local/lib/tmpfiles.d/cardgate.conf"
    subprocess.run(["systemd-sysusers", f"--root={fresh}", str(sysusers)], check=True,
                   capture_output=True, timeout=30)
    passwd = {line.split(":")[0]: line.split(":") for line in
              (fresh / "etc/passwd").read_text().splitlines()}
    groups = {line.split(":")[0]: line.split(":") for line in
              (fresh / "etc/group").read_text().splitlines()}
    user = passwd["cardgate"]
    assert user[5:] == ["/var/lib/cardgate", "/usr/sbin/nologin"]
    assert int(user[2]) < 1000  # a system user
    assert "cardgate" in groups["dialout"][3].split(",")
    subprocess.run(["systemd-tmpfiles", f"--root={fresh}", "--create", str(tmpfiles)],
                   check=True, capture_output=True, timeout=30)
    data = (fresh / "var/lib/cardgate").stat()
    conf = (fresh / "etc/cardgate").stat()
    uid, gid = int(user[2]), int(groups["cardgate"][2])
    assert (data.st_uid, data.st_gid, data.st_mode & 0o7777) == (uid, gid, 0o750)
    assert (conf.st_uid, conf.st_gid, conf.st_mode & 0o7777) == (0, gid, 0o770)
