"""The console's logins through the real accounts, on a pseudo-terminal: a password set by an
administrator (`cardgate user add`, `passwd` at the console) is changed at the first login, in
English and Chinese, with the appliance running and with it down; lockout after repeated wrong
passwords; an administrator or a technician resets another user's password; the audit log
records the console's logins as door "serial"."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pexpect
import pytest

from appliance.accounts.passwords import password_matches
from tests.serial_console.conftest import (
    CARDGATE,
    USERS,
    Rig,
    add_users,
    database_rows,
    login,
    write_config,
)
from tests.serial_console.test_down_mode import down_console

pytestmark = pytest.mark.slow


def user_add(config: Path, name: str, role: str, password: str) -> None:
    """`cardgate user add` as an administrator types it: the password on standard input."""
    done = subprocess.run([CARDGATE, "user", "add", name, "--role", role, "--config",
                           str(config)], input=f"{password}\n{password}\n", text=True,
                          capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert "must change the password at their first login" in done.stdout


def stored(tmp: Path, name: str) -> tuple[str, int]:
    [row] = database_rows(tmp, "SELECT password_hash, must_change_password FROM app_user "
                          "WHERE name = ?", name)
    return row


def last_seq(tmp: Path) -> int:
    return database_rows(tmp, "SELECT coalesce(max(seq), 0) FROM audit_entry")[0][0]


def choose_first_password(child: pexpect.spawn, name: str, zh: bool = False) -> None:
    """The forced change: too short (refused naming the rule), two that differ (asked
    again), then a good one."""
    child.expect(f"{name} 的密码由管理员设置" if zh else
                 f"The password of {name} was set by an administrator")
    child.expect("至少 8 个字符" if zh else "at least 8 characters")
    for first, second in (("short", "short"), ("long-enough-1", "long-enough-2"),
                          (f"{name}-own-pw", f"{name}-own-pw")):
        child.expect(f"{name} 的新密码：" if zh else f"new password for {name}:")
        child.sendline(first)
        child.expect("再输入一次：" if zh else "again:")
        child.sendline(second)
        if first == "short":
            child.expect(("密码未修改：" if zh else "Password not changed: ")
                         + "the password must be at least 8 characters long")
        elif first != second:
            child.expect("两次输入的密码不一致" if zh else "The two passwords differ")
    child.expect(f"{name} 的密码已修改。" if zh else f"Password of {name} changed.")


def old_fails_new_works(spawn, name: str, old: str) -> None:  # noqa: ANN001 - a spawner
    child = spawn()
    login(child, name, old)
    child.expect("wrong user name or password")
    login(child, name, f"{name}-own-pw")
    child.expect(f"{name}@cardgate>")
    assert "set by an administrator" not in child.before  # changed once, for good
    child.sendline("quit")
    child.expect(pexpect.EOF)


def test_a_user_added_by_an_admin_chooses_a_password_at_first_login(rig: Rig) -> None:
    user_add(rig.config_path, "fieldtech", "technician", "given-by-admin")
    seq = last_seq(rig.tmp)
    child = rig.console("en")
    login(child, "fieldtech", "given-by-admin")
    choose_first_password(child, "fieldtech")
    child.expect(r"Logged in as fieldtech \(technician\)")
    child.expect("fieldtech@cardgate>")
    child.sendline("quit")
    child.expect(pexpect.EOF)
    hashed, must_change = stored(rig.tmp, "fieldtech")
    assert password_matches("fieldtech-own-pw", hashed) and must_change == 0
    old_fails_new_works(lambda: rig.console("en"), "fieldtech", "given-by-admin")
    changes = database_rows(rig.tmp, "SELECT actor_name, door FROM audit_entry WHERE seq > ? "
                            "AND action = 'password.change'", seq)
    assert changes == [("fieldtech", "serial")]


def test_passwd_at_the_console_makes_the_user_change_it_in_chinese(rig: Rig) -> None:
    add_users(rig.appliance.config.database.url, {"tech2": ("tech2-old-pw", "technician")})
    admin = rig.console("zh")
    login(admin, "boss")
    admin.expect("boss@cardgate>")
    admin.sendline("passwd tech2")
    admin.expect("tech2 的新密码：")
    admin.sendline("reset-by-boss")
    admin.expect("再输入一次：")
    admin.sendline("reset-by-boss")
    admin.expect("tech2 的密码已修改。")
    admin.sendline("quit")
    admin.expect(pexpect.EOF)
    assert stored(rig.tmp, "tech2")[1] == 1
    child = rig.console("zh")
    login(child, "tech2", "reset-by-boss")
    choose_first_password(child, "tech2", zh=True)
    child.expect("已登录：tech2（technician）")
    child.expect("tech2@cardgate>")
    child.sendline("quit")
    child.expect(pexpect.EOF)
    old_fails_new_works(lambda: rig.console("zh"), "tech2", "reset-by-boss")


def test_an_empty_new_password_logs_out(rig: Rig) -> None:
    add_users(rig.appliance.config.database.url, {"shy": ("shy-first-pw", "technician")},
              must_change_password=True)
    child = rig.console("en")
    login(child, "shy", "shy-first-pw")
    child.expect("new password for shy:")
    child.sendline("")
    child.expect("Bye.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert stored(rig.tmp, "shy")[1] == 1  # still to be changed


def test_a_technician_resets_the_admin_password_which_must_then_be_changed(rig: Rig) -> None:
    # DESIGN.md: the field technician's job includes "reset the admin password".
    child = rig.console("en")
    login(child, "tech")
    child.expect("tech@cardgate>")
    child.sendline("passwd boss")
    child.expect("new password for boss:")
    child.sendline("field-reset-1")
    child.expect("again:")
    child.sendline("field-reset-1")
    child.expect("Password of boss changed.")
    child.expect("tech@cardgate>")
    child.sendline("quit")
    child.expect(pexpect.EOF)
    assert stored(rig.tmp, "boss")[1] == 1  # boss must choose a new one at the next login
    [(actor, door, target)] = database_rows(
        rig.tmp, "SELECT actor_name, door, target FROM audit_entry WHERE action = "
        "'password.reset' ORDER BY seq DESC LIMIT 1")
    assert (actor, door, target) == ("tech", "serial", "user:boss")


def test_an_operator_cannot_use_the_console_to_reset_passwords(rig: Rig) -> None:
    before = stored(rig.tmp, "boss")
    seq = last_seq(rig.tmp)
    child = rig.console("en")
    login(child, "clerk")
    child.expect("the console is for technicians and administrators")
    assert stored(rig.tmp, "boss") == before
    # Refused as a role, not logged in then turned away: no login.success for clerk.
    entries = database_rows(rig.tmp, "SELECT action, detail FROM audit_entry WHERE seq > ? "
                            "AND target = 'user:clerk' ORDER BY seq", seq)
    assert [action for action, _ in entries] == ["login.failure"]
    assert '"reason": "role"' in entries[0][1] or '"reason":"role"' in entries[0][1]


def test_repeated_wrong_passwords_lock_the_user_out(rig: Rig) -> None:
    add_users(rig.appliance.config.database.url, {"unlucky": ("unlucky-pw", "technician")})
    first = rig.console("en")
    for _ in range(3):  # the console's tries per session; the lockout comes at the 5th
        login(first, "unlucky", "guess")
        first.expect("Login failed: wrong user name or password")
    first.expect("Too many failed logins; the console stops.")
    first.expect(pexpect.EOF)
    second = rig.console("en")
    login(second, "unlucky", "guess")
    second.expect("Login failed: wrong user name or password")
    login(second, "unlucky", "guess")
    second.expect(r"Too many failures: try again in (\d+) s\.")
    assert 1 <= int(second.match.group(1)) <= 30
    login(second, "unlucky", "unlucky-pw")  # the right one, while locked out: refused too
    second.expect(r"Too many failures: try again in \d+ s\.")
    second.expect(pexpect.EOF)
    reasons = database_rows(rig.tmp, "SELECT reason FROM login_attempt WHERE name = "
                            "'unlucky' AND door = 'serial' ORDER BY id")
    assert [r for (r,) in reasons] == ["invalid"] * 5 + ["locked"]


def test_logins_are_in_the_audit_log_as_door_serial(rig: Rig) -> None:
    seq = last_seq(rig.tmp)
    child = rig.console("en")
    login(child, "tech", "not-it")
    child.expect("Login failed")
    login(child, "tech")
    child.expect("tech@cardgate>")
    entries = database_rows(rig.tmp, "SELECT action, actor_name, door, address, target FROM "
                            "audit_entry WHERE seq > ? AND action LIKE 'login.%' ORDER BY seq",
                            seq)
    assert [(a, name, door, target) for a, name, door, _, target in entries] == [
        ("login.failure", "tech", "serial", "user:tech"),
        ("login.success", "tech", "serial", "user:tech")]
    assert all(address.startswith("serial:/dev/pts/") for _, _, _, address, _ in entries)


def test_with_the_appliance_down_the_first_password_is_changed_too(tmp_path: Path) -> None:
    """The offline login (DatabaseAuthenticator): the same accounts service on the database
    file, so the same forced change, lockout counting and audit entries."""
    config = write_config(tmp_path, with_modems=False)
    add_users(f"sqlite:///{tmp_path / 'cardgate.db'}", {"tech": USERS["tech"]})
    user_add(config, "nighttech", "technician", "given-by-admin")
    child = down_console(tmp_path, config)
    try:
        child.expect("The appliance is not running")
        login(child, "nighttech", "given-by-admin")
        choose_first_password(child, "nighttech")
        child.expect(r"Logged in as nighttech \(technician\)")
        child.expect("nighttech@cardgate>")
        child.sendline("quit")
        child.expect(pexpect.EOF)
        old_fails_new_works(lambda: down_console(tmp_path, config), "nighttech",
                            "given-by-admin")
    finally:
        child.close(force=True)
    assert stored(tmp_path, "nighttech")[1] == 0
    entries = database_rows(tmp_path, "SELECT action FROM audit_entry WHERE door = 'serial' "
                            "AND actor_name = 'nighttech' ORDER BY seq")
    assert [a for (a,) in entries] == ["login.success", "password.change", "login.failure",
                                       "login.success"]
