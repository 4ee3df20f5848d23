"""`make install DESTDIR=...` stages the whole installation and touches nothing else;
`make uninstall DESTDIR=...` removes it but keeps settings and data unless PURGE=1; an install
over an existing one keeps the settings."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.install.conftest import ROOT, install_args, make

# path in the stage -> mode (None: a folder, its mode not ours to fix in a stage)
EXPECTED = {
    "opt/cardgate/bin/cardgate": 0o755,
    "opt/cardgate/bin/python": None,
    "opt/cardgate/share/cardgate/modems/generic.toml": 0o644,
    "opt/cardgate/share/cardgate/cardgate.toml": 0o644,
    "usr/local/bin/cardgate": 0o755,
    "usr/local/lib/systemd/system/cardgate.service": 0o644,
    "usr/local/lib/systemd/system/cardgate-console@.service": 0o644,
    "usr/local/lib/sysusers.d/cardgate.conf": 0o644,
    "usr/local/lib/tmpfiles.d/cardgate.conf": 0o644,
    "usr/local/lib/modules-load.d/cardgate.conf": 0o644,
    "etc/udev/rules.d/77-cardgate.rules": 0o644,
    "etc/polkit-1/rules.d/50-cardgate.rules": 0o644,
    "etc/cardgate/cardgate.toml": 0o640,
    "etc/cardgate": 0o770,
    "var/lib/cardgate": 0o750,
}

# installed file -> its source in the checkout, byte for byte
COPIES = {
    "usr/local/lib/systemd/system/cardgate.service": "systemd/cardgate.service",
    "usr/local/lib/systemd/system/cardgate-console@.service": "systemd/cardgate-console@.service",
    "usr/local/lib/sysusers.d/cardgate.conf": "systemd/cardgate.sysusers",
    "usr/local/lib/tmpfiles.d/cardgate.conf": "systemd/cardgate.tmpfiles",
    "usr/local/lib/modules-load.d/cardgate.conf": "systemd/cardgate.modules-load",
    "etc/udev/rules.d/77-cardgate.rules": "firmware-config/udev/77-cardgate.rules",
    "etc/polkit-1/rules.d/50-cardgate.rules": "systemd/cardgate.polkit.rules",
    "etc/cardgate/cardgate.toml": "firmware-config/cardgate.toml",
}

# what uninstall removes (the venv as a whole)
REMOVED = [p for p in EXPECTED if not p.startswith(("etc/cardgate", "var/lib/cardgate"))]


@pytest.mark.parametrize(("path", "mode"), EXPECTED.items())
def test_staged_tree(staged: Path, path: str, mode: int | None) -> None:
    assert (staged / path).exists(), path
    if mode is not None:
        assert stat.S_IMODE((staged / path).stat().st_mode) == mode


@pytest.mark.parametrize(("installed", "source"), COPIES.items())
def test_staged_files_are_the_shipped_ones(staged: Path, installed: str, source: str) -> None:
    assert (staged / installed).read_bytes() == (ROOT / source).read_bytes()


def test_stage_names_no_staging_path(staged: Path) -> None:
    # The venv's scripts point to where the tree will live, not to the stage.
    assert (staged / "opt/cardgate/bin/cardgate").read_text().startswith(
        "#!/opt/cardgate/bin/python\n")
    for path in [*(staged / "opt/cardgate/bin").iterdir(), staged / "opt/cardgate/pyvenv.cfg"]:
        if path.is_file() and not path.is_symlink():
            assert str(staged) not in path.read_text(errors="replace"), path


def test_installed_package_finds_its_modem_profiles(staged: Path) -> None:
    # No checkout beside an installed cardgate: the profiles come with the wheel. The staged
    # venv's own interpreter (cardgate alone in it: enough to load profiles).
    venv = staged / "opt/cardgate"
    done = subprocess.run(
        [str(venv / "bin/python"), "-c",
         "from appliance.modem.profile import DEFAULT_PROFILES_DIR, load_profiles;"
         "print(DEFAULT_PROFILES_DIR); print(len(load_profiles()))"],
        capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    folder, count = done.stdout.split()
    assert Path(folder) == venv / "share/cardgate/modems"
    assert int(count) == len(list((ROOT / "firmware-config/modems").glob("*.toml")))


def test_launcher_runs_the_venv_as_the_service_user(staged: Path) -> None:
    launcher = staged / "usr/local/bin/cardgate"
    assert subprocess.run(["sh", "-n", str(launcher)], timeout=10).returncode == 0
    text = launcher.read_text()
    assert "exec /opt/cardgate/bin/cardgate" in text
    assert "setpriv --reuid=cardgate --regid=cardgate --init-groups" in text


def test_reinstall_keeps_the_settings(stage_copy: Path, wheel: Path) -> None:
    conf = stage_copy / "etc/cardgate/cardgate.toml"
    conf.write_text('[http]\nlisten = "0.0.0.0:8080"\n')
    done = make(*install_args(stage_copy, wheel))
    assert done.returncode == 0, done.stderr
    assert conf.read_text() == '[http]\nlisten = "0.0.0.0:8080"\n'
    assert "kept /etc/cardgate/cardgate.toml" in done.stdout


def test_uninstall_keeps_settings_and_data(stage_copy: Path) -> None:
    (stage_copy / "var/lib/cardgate/cardgate.db").write_bytes(b"data")
    enabled = stage_copy / "etc/systemd/system/getty.target.wants/cardgate-console@ttyGS0.service"
    enabled.parent.mkdir(parents=True)
    enabled.symlink_to("/usr/local/lib/systemd/system/cardgate-console@.service")
    done = make("uninstall", f"DESTDIR={stage_copy}")
    assert done.returncode == 0, done.stderr
    for path in REMOVED:
        assert not (stage_copy / path).exists(), path
    assert not (stage_copy / "opt/cardgate").exists()
    assert not enabled.is_symlink()
    assert (stage_copy / "etc/cardgate/cardgate.toml").read_bytes() == (
        ROOT / "firmware-config/cardgate.toml").read_bytes()
    assert (stage_copy / "var/lib/cardgate/cardgate.db").read_bytes() == b"data"


def test_uninstall_purge_removes_settings_and_data(stage_copy: Path) -> None:
    done = make("uninstall", f"DESTDIR={stage_copy}", "PURGE=1")
    assert done.returncode == 0, done.stderr
    assert not (stage_copy / "etc/cardgate").exists()
    assert not (stage_copy / "var/lib/cardgate").exists()


@pytest.mark.parametrize("line", ["../../etc/shadow", "ttyAMA0 --config=/x", "pts/0", "-x"])
def test_console_line_must_be_a_tty_name(tmp_path: Path, line: str) -> None:
    # The name becomes /dev/<name> in the unit and an argument of systemctl.
    done = make("install", f"DESTDIR={tmp_path / 'root'}", f"CONSOLE={line}")
    assert done.returncode != 0
    assert "CONSOLE: not a serial line name" in done.stderr
    assert not (tmp_path / "root").exists()  # refused before anything was written


def test_live_install_refused_without_root() -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: a live install here would change this machine")
    done = make("install")
    assert done.returncode != 0
    assert "run as root" in done.stderr


def test_installed_package_carries_every_console_file(staged: Path) -> None:
    # The console's templates, assets and catalogs go with the wheel (pyproject's data-files,
    # one entry per folder): a folder added under web/ without its entry would be missing here.
    venv = staged / "opt/cardgate"
    shipped = sorted(p.relative_to(ROOT / "web") for p in (ROOT / "web").rglob("*")
                     if p.is_file())
    installed = venv / "share/cardgate/web"
    assert shipped, "no console files in the checkout"
    missing = [str(p) for p in shipped if not (installed / p).is_file()]
    assert not missing, f"not installed: {missing}"
    done = subprocess.run(
        [str(venv / "bin/python"), "-c",
         "from appliance.console_web.assets import WEB_DIR; print(WEB_DIR)"],
        capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == installed
