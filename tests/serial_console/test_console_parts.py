"""The console's parts from tables: command words, read-only AT commands, the two message
catalogues, 80-column rendering and hostile text, the language choice, the [admin] config."""

from __future__ import annotations

import string

import pytest

from appliance.admin_socket.at_commands import check_syntax, is_read_only
from appliance.config import ConfigError, config_from_dict
from appliance.serial_console import commands
from appliance.serial_console.messages import EN, ZH, language_from
from appliance.serial_console.tables import bars, cut, render, safe, width, wrap

NEAREST = [
    ("modmes", "modems"), ("mdoem", "modem"), ("stauts", "status"), ("sned", "send"),
    ("inbx", "inbox"), ("pswd", "passwd"), ("factory", "factory-reset"), ("hlep", "help"),
    ("exti", "quit"), ("xyzzy", None),
]


@pytest.mark.parametrize(("typed", "meant"), NEAREST)
def test_the_nearest_command_is_suggested(typed: str, meant: str | None) -> None:
    assert commands.nearest(typed) == meant


SPLITS = [
    ("send +8613800138000 hello  there", "send", ["+8613800138000", "hello  there"]),
    ("at 2 AT+COPS?", "at", ["2", "AT+COPS?"]),
    ("at 2 AT+CMGF=0; +CSQ", "at", ["2", "AT+CMGF=0; +CSQ"]),
    ("modem 3", "modem", ["3"]),
    ("restart", "restart", []),
    ("logs -f", "logs", ["-f"]),
]


@pytest.mark.parametrize(("line", "name", "args"), SPLITS)
def test_arguments_are_split_as_each_command_takes_them(line: str, name: str,
                                                        args: list[str]) -> None:
    assert commands.split(line, commands.BY_NAME[name]) == args


@pytest.mark.parametrize("line", ["send +86138", "modem", "modem 1 2", "at 1", "passwd",
                                  "status now"])
def test_a_wrong_number_of_words_is_a_usage_error(line: str) -> None:
    with pytest.raises(commands.UsageError):
        commands.split(line, commands.lookup(line.split()[0]))


READ_ONLY = [
    ("AT+CSQ", True), ("at+csq", True), (" AT+CREG? ", True), ("AT+COPS?", True),
    ("ATI", True), ("AT+CGSN", True), ("AT+CIMI", True), ("AT+CCID", True), ("AT+CPIN?", True),
    ("AT+CNMI=?", True), ("AT^SYSINFO", True), ("AT", True),
    ("AT+CMGF=0", False), ("AT+CFUN=1,1", False), ("ATZ", False), ("AT&F", False),
    ("AT+CSQ;+CFUN=0", False), ("AT+CMGL=4", False), ("AT+CMGR=1", False),
    ("AT+CPIN=1234", False), ("AT+CMGD=1,4", False), ("ATD10086;", False), ("CSQ", False),
]


@pytest.mark.parametrize(("command", "read_only"), READ_ONLY)
def test_only_commands_that_read_pass_without_confirming(command: str, read_only: bool) -> None:
    assert is_read_only(command) is read_only


@pytest.mark.parametrize(("command", "why"), [
    ("CSQ", "starts with AT"), ("AT+CMGS=20\x1a", "control characters"),
    ("AT" + "X" * 300, "longer than 200"),
])
def test_commands_that_cannot_pass_at_all(command: str, why: str) -> None:
    assert why in (check_syntax(command) or "")


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_both_languages_have_every_message_with_the_same_placeholders() -> None:
    assert set(EN) == set(ZH)
    for key in EN:
        assert _fields(EN[key]) == _fields(ZH[key]), key
    for command in commands.COMMANDS:
        assert f"help_{command.name}" in EN


@pytest.mark.parametrize(("configured", "env", "lang"), [
    ("zh", {"LANG": "C"}, "zh"), ("en", {"LANG": "zh_CN.UTF-8"}, "en"),
    ("", {"LANG": "zh_CN.UTF-8"}, "zh"), ("", {"LANG": "en_US.UTF-8"}, "en"),
    ("", {"LC_ALL": "zh_TW.UTF-8", "LANG": "C"}, "zh"), ("", {}, "en"),
])
def test_the_language_comes_from_the_config_else_the_locale(configured: str, env: dict,
                                                             lang: str) -> None:
    assert language_from(configured, env) == lang


def test_hostile_text_cannot_drive_the_terminal() -> None:
    assert safe("hi\x1b[2J\x07there\r\nnext") == "hi<1B>[2J<07>there  next"
    assert safe("\x9b31m") == "<9B>31m"  # the 8-bit CSI too


def test_tables_fit_80_columns_with_chinese_text() -> None:
    rows = [[1, "调制解调器" * 6, "中国移动", "x" * 50], [2, "a", "b", "c"]]
    lines = render(["#", "名称", "运营商", "内容"], rows)
    assert all(width(line) <= 80 for line in lines)
    assert "~" in lines[2]
    assert width("中国") == 4 and cut("中国移动", 5) == "中国~"
    assert bars(3) == "###.." and bars(None) == "....." and bars(9) == "#####"


def test_help_lines_wrap_within_80_columns_in_both_languages() -> None:
    for catalogue in (EN, ZH):
        for command in commands.COMMANDS:
            lines = wrap("  " + catalogue[f"help_{command.name}"], indent="      ")
            assert all(width(line) <= 80 for line in lines)
            assert "".join(line.strip() for line in lines).replace(" ", "") == \
                catalogue[f"help_{command.name}"].replace(" ", "")


@pytest.mark.parametrize(("admin", "named"), [
    ({"socket": "admin.sock"}, "admin.socket: must be an absolute path"),
    ({"socket": "/" + "x" * 120}, "at most 107 bytes"),
    ({"lang": "fr"}, 'admin.lang: must be "zh", "en" or ""'),
    ({"sockt": "/run/x"}, "sockt"),
])
def test_admin_config_errors_name_the_key(admin: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        config_from_dict({"admin": admin})
