"""The `cardgate` command line, run as the installed console script in subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CARDGATE = Path(sys.executable).parent / "cardgate"
TIMEOUT = 60


def cardgate(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    command = [str(CARDGATE)] if CARDGATE.exists() else [sys.executable, "-m", "appliance"]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True,
                          timeout=TIMEOUT, cwd=cwd or ROOT)


def one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2 with exactly one line on stderr (no usage, no traceback) containing `needles`."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cardgate: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "cardgate.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "data" / "cg.db"}"\n'
                    '[modems]\nautodetect = false\n', encoding="utf-8")
    return path


def db_url(config: Path) -> str:
    return f"sqlite:///{config.parent / 'data' / 'cg.db'}"


# -- apikey create ------------------------------------------------------------------------------

def test_apikey_create_prints_a_working_key_alone_on_the_last_line(config: Path) -> None:
    from appliance.store.apikeys import verify_api_key
    from appliance.store.service import run_in_database

    result = cardgate("apikey", "create", "--config", config, "--name", "plc-1",
                      "--scopes", "send,read")
    assert result.returncode == 0, result.stderr
    key = result.stdout.rstrip("\n").splitlines()[-1]
    assert key == key.strip() and " " not in key and key.startswith("cg_")
    found = run_in_database(db_url(config), lambda: verify_api_key(key))
    assert found is not None
    assert (found.name, found.scope_set) == ("plc-1", {"send", "read"})
    wrong = key[:-1] + ("x" if key[-1] != "x" else "y")  # never the key itself
    assert run_in_database(db_url(config), lambda: verify_api_key(wrong)) is None


def test_apikey_create_without_a_name_makes_one_up(config: Path) -> None:
    first = cardgate("apikey", "create", "--config", config)
    second = cardgate("apikey", "create", "--config", config)
    assert first.returncode == second.returncode == 0
    assert first.stdout.splitlines()[-1] != second.stdout.splitlines()[-1]


def test_apikey_unknown_scope_is_one_line_and_creates_nothing(config: Path) -> None:
    one_line_error(cardgate("apikey", "create", "--config", config, "--name", "x",
                            "--scopes", "send,fly"), "'fly'", "admin, approve, read, send")
    # The name is still free: nothing was stored.
    assert cardgate("apikey", "create", "--config", config, "--name", "x").returncode == 0


def test_apikey_empty_scopes_is_one_line(config: Path) -> None:
    one_line_error(cardgate("apikey", "create", "--config", config, "--scopes", ","),
                   "--scopes")


def test_apikey_duplicate_name_is_one_line(config: Path) -> None:
    assert cardgate("apikey", "create", "--config", config, "--name", "dup").returncode == 0
    one_line_error(cardgate("apikey", "create", "--config", config, "--name", "dup"),
                   '"dup"', "already exists")


def test_apikey_on_a_database_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    path = tmp_path / "c.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{blocker / "sub" / "cg.db"}"\n')
    one_line_error(cardgate("apikey", "create", "--config", path, "--name", "x"),
                   "database sqlite:///", str(blocker))


def test_apikey_limits_list_limit_and_revoke(config: Path) -> None:
    from appliance.store.apikeys import verify_api_key
    from appliance.store.service import run_in_database

    created = cardgate("apikey", "create", "--config", config, "--name", "nas",
                       "--scopes", "read", "--rate-per-minute", "120",
                       "--allow-from", "192.168.1.9/24, 10.0.0.1")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    listed = cardgate("apikey", "list", "--config", config)
    assert listed.returncode == 0
    line, = [ln for ln in listed.stdout.splitlines() if ln.startswith("nas\t")]
    assert "\tread\tactive\t" in line
    assert "120 requests/minute, from 192.168.1.0/24, 10.0.0.1/32" in line
    assert key not in listed.stdout and key.split("_")[1] in line  # the prefix, never the key
    changed = cardgate("apikey", "limit", "nas", "--config", config, "--allow-from", "")
    assert changed.returncode == 0, changed.stderr
    assert "120 requests/minute, from anywhere" in changed.stdout
    url = db_url(config)
    row = run_in_database(url, lambda: verify_api_key(key))
    assert (row.rate_per_minute, row.allowed_from) == (120, "")
    revoked = cardgate("apikey", "revoke", "nas", "--config", config)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert run_in_database(url, lambda: verify_api_key(key)) is None
    assert "REVOKED" in cardgate("apikey", "list", "--config", config).stdout


@pytest.mark.parametrize(("args", "needles"), [
    (["create", "--name", "a", "--allow-from", "10.0.0.0/33"], ["--allow-from", "10.0.0.0/33"]),
    (["create", "--name", "a", "--rate-per-minute", "-5"], ["--rate-per-minute", "-5"]),
    (["create", "--name", "a", "--rate-per-minute", "ten"], ["--rate-per-minute", "'ten'"]),
    (["limit", "ghost", "--rate-per-minute", "5"], ['no API key named "ghost"']),
    (["limit", "ghost"], ["--rate-per-minute", "--allow-from"]),
    (["revoke", "ghost"], ['no API key named "ghost"']),
    (["create", "--name", "plc:1"], ["name", "':'"]),
    (["create", "--name", "two words"], ["name", "spaces"]),
])
def test_apikey_bad_limits_are_one_line_and_change_nothing(config: Path, args, needles) -> None:
    one_line_error(cardgate("apikey", args[0], "--config", config, *args[1:]), *needles)
    assert "no API keys" in cardgate("apikey", "list", "--config", config).stdout


# -- config problems ----------------------------------------------------------------------------

def test_run_with_an_unknown_config_key_names_it(config: Path) -> None:
    config.write_text(config.read_text() + "[dispatch]\nper_sim_per_week = 5\n")
    one_line_error(cardgate("run", "--config", config), "dispatch.per_sim_per_week",
                   str(config))


def test_run_with_a_missing_config_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    one_line_error(cardgate("run", "--config", missing), str(missing), "no such config file")


def test_run_with_invalid_toml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[http\nlisten = 1\n")
    one_line_error(cardgate("run", "--config", path), str(path), "TOML")


def test_apikey_with_a_missing_config_file_names_it(tmp_path: Path) -> None:
    one_line_error(cardgate("apikey", "create", "--config", tmp_path / "x.toml"), "x.toml")


def test_run_with_an_unusable_database_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = tmp_path / "c.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{blocker / "cg.db"}"\n'
                    '[modems]\nautodetect = false\n')
    one_line_error(cardgate("run", "--config", path), "database", str(blocker))


def test_run_on_a_busy_port_names_http_listen(config: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config.write_text(config.read_text() + f'[http]\nlisten = "127.0.0.1:{port}"\n')
        result = cardgate("run", "--config", config)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("cardgate: http.listen:") and f"127.0.0.1:{port}" in last
    assert "Traceback" not in result.stderr


# -- bad arguments: argparse would print usage and the error on two lines ------------------------

@pytest.mark.parametrize(("args", "needles"), [
    (["demo", "--modems", "0"], ["--modems", "at least 1"]),
    (["demo", "--modems", "many"], ["--modems", "'many'"]),
    (["demo", "--port", "70000"], ["--port", "70000"]),
    (["demo", "--latency", "-1"], ["--latency"]),
    (["sim"], ["--count", "--dir"]),
    (["sim", "--dir", "/tmp/x"], ["--count"]),
    (["sim", "--count", "0", "--dir", "/tmp/x"], ["--count"]),
    ([], ["required"]),
    (["fly"], ["'fly'"]),
    (["apikey"], ["apikey", "create"]),
    (["apikey", "create", "--bogus"], ["--bogus"]),
    (["run", "--config"], ["--config"]),
])
def test_bad_arguments_are_one_line_exit_2(args: list[str], needles: list[str]) -> None:
    one_line_error(cardgate(*args), *needles)


def test_help_still_works() -> None:
    result = cardgate("--help")
    assert result.returncode == 0
    assert "run" in result.stdout and "apikey" in result.stdout


# -- cardgate sim -------------------------------------------------------------------------------

def test_sim_creates_the_ports_and_stops_on_sigterm(tmp_path: Path) -> None:
    ports = tmp_path / "ports"
    command = [str(CARDGATE)] if CARDGATE.exists() else [sys.executable, "-m", "appliance"]
    proc = subprocess.Popen([*command, "sim", "--count", "2", "--dir", str(ports)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]  # two modems, then "ready"
        assert "2 simulated modem(s) ready" in lines[-1], lines
        for i in (0, 1):
            link = ports / f"modem{i}"
            assert link.is_symlink() and os.path.realpath(link).startswith("/dev/pts/")
            assert str(link) in lines[i]
        answer = _at_roundtrip(ports / "modem0")
        assert "OK" in answer
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert not (ports / "modem0").exists() and not (ports / "modem1").exists()


def _at_roundtrip(path: Path) -> str:
    """Send AT to a simulated port and read until OK (bounded by a deadline, not asserted)."""
    import termios

    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        attrs = termios.tcgetattr(fd)
        attrs[3] &= ~(termios.ECHO | termios.ICANON)
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        os.write(fd, b"AT\r")
        os.set_blocking(fd, False)
        data = b""
        deadline = time.monotonic() + 10
        while b"OK" not in data and time.monotonic() < deadline:
            try:
                data += os.read(fd, 256)
            except BlockingIOError:
                time.sleep(0.02)
        return data.decode(errors="replace")
    finally:
        os.close(fd)
