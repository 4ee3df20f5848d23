"""The console on a real pseudo-terminal, as a technician uses it, against a running appliance
with simulated modems: login, the tables, `at`, `send`, `passwd`, a wrong command and Ctrl-C,
in English and in Chinese."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import termios

import pexpect
import pytest
from pexpect import fdpexpect

from appliance.accounts.passwords import password_matches
from tests.serial_console.conftest import CARDGATE, Rig, database_rows, login

pytestmark = pytest.mark.slow

PROMPT = "tech@cardgate>"
ESC = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"


def fresh(prompt: str) -> str:
    """A prompt drawn on a new line: after the command's output, not a redraw while typing."""
    return rf"\n{ESC}{prompt}"


def logged_in(rig: Rig, lang: str = "en", user: str = "tech") -> pexpect.spawn:
    child = rig.console(lang)
    login(child, user)
    child.expect(f"{user}@cardgate>")
    return child


def run(child: pexpect.spawn, line: str, prompt: str = PROMPT) -> str:
    """Send a command line; what it printed up to the next prompt."""
    child.sendline(line)
    child.expect(fresh(prompt))
    return child.before


def test_modems_and_sims_tables_fit_80_columns(rig: Rig) -> None:
    child = logged_in(rig)
    out = run(child, "modems")
    assert "CHINA MOBILE" in out and "CHN-UNICOM" in out
    rows = [line for line in out.splitlines() if "modem0" in line or "modem1" in line]
    assert len(rows) == 2 and all("ready" in r and "/1000" in r for r in rows)
    assert all(len(line.rstrip("\r")) <= 80 for line in out.splitlines() if "ready" in line)
    out = run(child, "sims")
    assert out.count("active") == 2 and out.count("0/200  0/1000") == 2


def test_a_wrong_command_names_the_nearest_one(rig: Rig) -> None:
    child = logged_in(rig)
    out = run(child, "modmes")
    assert "Unknown command 'modmes'" in out
    assert "Did you mean 'modems'?" in out
    out = run(child, "at 1")
    assert "usage: at <n> <command>" in out
    out = run(child, "help send")
    assert "send <number> <text>" in out


def _sent(rig: Rig, command: str) -> int:
    """How often `command` went to modem 1 (its raw traffic log)."""
    modem = sorted(rig.appliance.pool.all(), key=lambda s: s.status.port)[0]
    return sum(1 for line in modem.traffic.lines() if line.direction == ">"
               and line.text == command)


def test_at_read_only_passes_a_write_asks_for_confirmation(rig: Rig) -> None:
    child = logged_in(rig)
    before = _sent(rig, "AT+CMGF=0")
    out = run(child, "at 1 AT+CSQ")
    assert "+CSQ:" in out and "OK" in out
    child.sendline("at 1 AT+CMGF=0")
    child.expect("Type YES to send it:")
    child.sendline("no")
    child.expect("Not sent.")
    child.expect(PROMPT)
    child.sendline("at 1 AT+CMGF=0")
    child.expect("Type YES to send it:")
    child.sendline("YES")
    child.expect("OK")
    child.expect(PROMPT)
    # The modem's own traffic log shows what was sent: only the confirmed write.
    assert _sent(rig, "AT+CMGF=0") == before + 1


def test_send_goes_through_intake_and_is_followed_to_its_end(rig: Rig) -> None:
    child = logged_in(rig)
    child.sendline("send +8613800138000 console test 你好")
    child.expect(r"Accepted as message (\d+)")
    message_id = int(child.match.group(1))
    child.expect(rf"Message {message_id}: delivered\.")
    child.expect(PROMPT)
    with sqlite3.connect(rig.tmp / "cardgate.db") as db:
        row = db.execute("SELECT recipient, state, submitter_kind, submitter_id FROM message "
                         "WHERE id = ?", (message_id,)).fetchone()
    assert row == ("+8613800138000", "delivered", "user", "tech")


def test_a_refused_send_says_why(rig: Rig) -> None:
    child = logged_in(rig)
    out = run(child, "send 12 hello")
    assert "Error: to: not a valid phone number: '12'" in out


def test_ctrl_c_stops_following_a_modem(rig: Rig) -> None:
    child = logged_in(rig)
    child.sendline("modem 2")
    child.expect("AT traffic of")
    child.expect("AT\\+CSQ")  # the health poll, live
    child.sendcontrol("c")
    child.expect(r"\(stopped\)")
    child.expect(PROMPT)
    out = run(child, "status")  # the session goes on
    assert "ready of 2" in out


def test_passwd_sets_a_new_password_that_logs_in(rig: Rig) -> None:
    child = logged_in(rig, user="boss")
    child.sendline("passwd clerk")
    child.expect("new password for clerk:")
    child.sendline("n3w-pass")
    child.expect("again:")
    child.sendline("other")
    child.expect("The two passwords differ")
    child.expect("boss@cardgate>")
    child.sendline("passwd clerk")
    child.expect("new password for clerk:")
    child.sendline("n3w-pass")
    child.expect("again:")
    child.sendline("n3w-pass")
    child.expect("Password of clerk changed.")
    child.expect("boss@cardgate>")
    [(stored, must_change)] = database_rows(
        rig.tmp, "SELECT password_hash, must_change_password FROM app_user WHERE name = ?",
        "clerk")
    assert password_matches("n3w-pass", stored) and must_change == 1
    child.sendline("history")  # the passwords are not in the command history
    child.expect("boss@cardgate>")
    child.sendline("quit")
    child.expect("Bye.")
    child.expect(pexpect.EOF)


def test_wrong_passwords_and_other_roles_are_refused(rig: Rig) -> None:
    [(before,)] = database_rows(rig.tmp, "SELECT coalesce(max(id), 0) FROM login_attempt")
    child = rig.console("en")
    login(child, "tech", "wrong")
    child.expect("Login failed: wrong user name or password")
    login(child, "watcher")
    child.expect("watcher': the console is for technicians and administrators")
    login(child, "nobody", "x")
    child.expect("Too many failed logins")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    attempts = database_rows(rig.tmp, "SELECT name, address, door, success, reason FROM "
                             "login_attempt WHERE id > ? ORDER BY id", before)
    assert [(name, ok, reason) for name, _, _, ok, reason in attempts] == [
        # A right password of a role the console does not admit: refused as such, never "ok".
        ("tech", 0, "invalid"), ("watcher", 0, "role"), ("nobody", 0, "invalid")]
    assert all(address.startswith("serial:/dev/pts/") and door == "serial"
               for _, address, door, _, _ in attempts)


def test_in_chinese(rig: Rig) -> None:
    child = rig.console("zh")
    child.expect("技术员控制台")
    login(child)
    child.expect("已登录：tech（technician）")
    child.expect(PROMPT)
    out = run(child, "modems")
    assert "端口" in out and "运营商" in out and "CHINA MOBILE" in out
    out = run(child, "modmes")
    assert "未知命令“modmes”" in out and "您是否想输入“modems”" in out
    child.sendline("at 1 AT+CFUN=1")
    child.expect("输入 YES 确认发送")
    child.sendline("")
    child.expect("未发送。")
    child.expect(PROMPT)
    child.sendline("send +8613800138000 测试短信")
    child.expect(r"已受理，消息编号 (\d+)")
    child.expect(r"消息 \d+：delivered。")
    child.expect(PROMPT)
    child.sendline("logs -f")
    child.expect("admin socket listening")
    child.sendcontrol("c")
    child.expect("（已停止）")
    child.expect(PROMPT)
    out = run(child, "lang en")
    assert "Language: English." in out
    out = run(child, "help at")
    assert "read-only" in out or "only read" in out


def test_the_console_runs_on_a_serial_line_given_with_device(rig: Rig) -> None:
    """`--device TTY`: the console opens that line at 115200 and runs there, not on its own
    terminal; Ctrl-C typed on the line stops a follow (it is no controlling terminal, so no
    SIGINT comes: the console reads the key)."""
    master, slave = os.openpty()
    line = os.ttyname(slave)
    process = subprocess.Popen(
        [CARDGATE, "console", "--config", str(rig.config_path), "--device", line],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(rig.tmp)},
        start_new_session=True)
    child = fdpexpect.fdspawn(master, encoding="utf-8", timeout=20)
    try:
        child.expect(f"technician console on {line}")
        attrs = termios.tcgetattr(slave)
        assert attrs[4] == attrs[5] == termios.B115200
        login(child)
        child.expect(fresh(PROMPT))
        child.sendline("modem 1")
        child.expect("AT traffic of")
        child.send("\x03")  # Ctrl-C
        child.expect(r"\(stopped\)")
        child.expect(PROMPT)
        child.sendline("quit")
        child.expect("Bye.")
        assert process.wait(20) == 0
        assert process.stdout.read() == b""  # nothing went to its own stdout
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(slave)
        os.close(master)


def test_on_a_dumb_terminal_nothing_but_plain_lines(rig: Rig) -> None:
    """TERM=dumb: prompt_toolkit's plain prompt; the output holds no escape sequence at all
    (no cursor addressing, no colour), as a teletype-like terminal needs."""
    child = rig.console("en", term="dumb")
    login(child)
    child.expect(PROMPT)
    assert "s3cret-tech" not in child.before  # the password is not echoed
    out = run(child, "sims")
    assert out.count("active") == 2
    child.sendline("at 1 AT+CFUN=1")
    child.expect("Type YES to send it:")
    child.sendline("")
    child.expect("Not sent.")
    child.expect(PROMPT)
    child.sendline("quit")
    child.expect(pexpect.EOF)
    seen = out + child.before
    assert "\x1b" not in seen
