"""`cardgate user|department|audit` and `apikey create --user/--department`, run as a script
would: the installed console script in subprocesses, the password on standard input."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from appliance.store.apikeys import find_candidates, key_prefix
from appliance.store.service import run_in_database
from tests.test_cli import CARDGATE, ROOT, TIMEOUT, one_line_error


def cardgate(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(CARDGATE), *map(str, args)], input=stdin, capture_output=True,
                          text=True, timeout=TIMEOUT, cwd=ROOT)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "cardgate.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "cg.db"}"\n', encoding="utf-8")
    return path


def test_user_add_reads_the_password_from_stdin(config, tmp_path):
    ok = cardgate("department", "add", "办公室", "--short", "市政办", "--config", config)
    assert ok.returncode == 0, ok.stderr
    ok = cardgate("user", "add", "alice", "--role", "admin", "--department", "办公室",
                  "--config", config, stdin="pass-word-1\npass-word-1\n")
    assert ok.returncode == 0, ok.stderr
    assert "must change the password" in ok.stdout
    ok = cardgate("user", "add", "bob", "--role", "viewer", "--config", config,
                  stdin="only-one-line\n")
    assert ok.returncode == 0, ok.stderr
    listing = cardgate("user", "list", "--config", config).stdout.splitlines()
    assert [line.split("\t")[:4] for line in listing] == [
        ["alice", "admin", "办公室", "must change password"],
        ["bob", "viewer", "-", "must change password"]]
    stored = sqlite3.connect(tmp_path / "cg.db").execute(
        "SELECT password_hash FROM app_user WHERE name = 'alice'").fetchone()[0]
    assert stored.startswith("scrypt$") and "pass-word-1" not in stored


@pytest.mark.parametrize(("args", "stdin", "needles"), [
    (["--role", "admin"], "pass-word-1\npass-word-2\n", ["the two passwords differ"]),
    (["--role", "admin"], "", ["no password on standard input"]),
    (["--role", "admin"], "short\n", ["at least 8"]),
    (["--role", "admin"], "carol\n", ["at least 8"]),
    (["--role", "admin"], "a-password\na-password\nthird\n", ["two equal lines"]),
    (["--role", "root"], "pass-word-1\n", ["--role", "unknown role 'root'"]),
    (["--role", "admin", "--department", "nowhere"], "pass-word-1\n",
     ['no department named "nowhere"']),
])
def test_user_add_refusals_are_one_line_exit_2(config, args, stdin, needles):
    one_line_error(cardgate("user", "add", "carol", *args, "--config", config, stdin=stdin),
                   *needles)


def test_user_passwd_disable_role_and_audit(config, tmp_path):
    cardgate("user", "add", "dave", "--role", "operator", "--config", config,
             stdin="pass-word-1\n")
    assert cardgate("user", "passwd", "dave", "--config", config,
                    stdin="pass-word-2\npass-word-2\n").returncode == 0
    assert cardgate("user", "role", "dave", "technician", "--config", config).returncode == 0
    assert cardgate("user", "disable", "dave", "--config", config).returncode == 0
    one_line_error(cardgate("user", "enable", "erin", "--config", config), 'no user named "erin"')
    row = sqlite3.connect(tmp_path / "cg.db").execute(
        "SELECT role, disabled, must_change_password FROM app_user").fetchone()
    assert row == ("technician", 1, 1)
    verify = cardgate("audit", "verify", "--config", config)
    assert verify.returncode == 0 and "4 entries" in verify.stdout
    export = cardgate("audit", "export", "--format", "csv", "--config", config).stdout
    actions = [line.split(",")[7] for line in export.splitlines()[1:]]
    assert actions == ["user.create", "password.reset", "user.change", "user.change"]

    con = sqlite3.connect(tmp_path / "cg.db")
    con.execute("DROP TRIGGER audit_entry_no_update")
    con.execute("UPDATE audit_entry SET target = 'user:someone' WHERE seq = 2")
    con.commit()
    con.close()
    broken = cardgate("audit", "verify", "--config", config)
    assert broken.returncode == 1
    assert "BROKEN at entry 2" in broken.stderr and "edited" in broken.stderr


def test_apikey_bound_to_a_user_and_a_department(config, tmp_path):
    cardgate("department", "add", "运维部", "--config", config)
    cardgate("user", "add", "plc", "--role", "operator", "--department", "运维部",
             "--config", config, stdin="pass-word-1\n")
    by_user = cardgate("apikey", "create", "--name", "k1", "--user", "plc", "--config", config)
    by_dept = cardgate("apikey", "create", "--name", "k2", "--department", "运维部",
                       "--config", config)
    assert by_user.returncode == 0 and by_dept.returncode == 0, by_user.stderr + by_dept.stderr
    url = f"sqlite:///{tmp_path / 'cg.db'}"
    user_key = by_user.stdout.splitlines()[-1]
    dept_key = by_dept.stdout.splitlines()[-1]
    (k1,) = run_in_database(url, lambda: find_candidates(key_prefix(user_key)))
    (k2,) = run_in_database(url, lambda: find_candidates(key_prefix(dept_key)))
    assert (k1.user_id, k1.department_id, k1.role) == (1, 1, "operator")
    assert (k2.user_id, k2.department_id, k2.role) == (None, 1, None)
    one_line_error(cardgate("apikey", "create", "--name", "k3", "--user", "nobody",
                            "--config", config), 'no user named "nobody"')
    cardgate("user", "disable", "plc", "--config", config)
    (k1,) = run_in_database(url, lambda: find_candidates(key_prefix(user_key)))
    assert k1.revoked  # a disabled user's keys stop with them
    actions = [line.split(",")[7] for line in cardgate(
        "audit", "export", "--format", "csv", "--config", config).stdout.splitlines()[1:]]
    assert actions.count("apikey.create") == 2
