"""TrafficLog: a bounded, timestamped ring of lines both ways, readable on a serial console."""

from __future__ import annotations

import time

import pytest

from appliance.at.traffic import TrafficLog, redact


def test_records_direction_text_and_time() -> None:
    log = TrafficLog()
    before = time.time()
    log.record(">", "AT+CSQ")
    log.record("<", "+CSQ: 17,99")
    lines = log.lines()
    assert [(line.direction, line.text) for line in lines] == [
        (">", "AT+CSQ"),
        ("<", "+CSQ: 17,99"),
    ]
    assert all(before <= line.at <= time.time() for line in lines)
    assert lines[0].format().endswith("> AT+CSQ")


def test_ring_is_bounded_and_keeps_newest() -> None:
    log = TrafficLog(maxlen=3)
    for i in range(10):
        log.record("<", f"line {i}")
    assert [line.text for line in log.lines()] == ["line 7", "line 8", "line 9"]
    assert [line.text for line in log.tail(2)] == ["line 8", "line 9"]
    assert log.tail(0) == []
    assert len(log) == 3


def test_control_characters_are_spelled_out() -> None:
    log = TrafficLog()
    log.record(">", "0011\x1a")
    log.record(">", "\x1b")
    assert [line.text for line in log.lines()] == ["0011<SUB>", "<ESC>"]


def test_rejects_unknown_direction() -> None:
    with pytest.raises(ValueError):
        TrafficLog().record("?", "x")


# -- secrets never reach the log (it is shown to technicians and in the web console) ---------

@pytest.mark.parametrize(
    ("line", "logged"),
    [
        ('AT+CPIN="1234"', 'AT+CPIN="****"'),
        ("AT+CPIN=1234", "AT+CPIN=****"),
        ('at+cpin="1234"', 'at+cpin="****"'),
        ('AT+CPIN="12345678","4321"', 'AT+CPIN="****","****"'),  # PUK and the new PIN
        ('AT+CPIN2="5678"', 'AT+CPIN2="****"'),
        ('AT^CPIN="1234"', 'AT^CPIN="****"'),
        ('AT+CLCK="SC",0,"1234"', 'AT+CLCK="SC",0,"****"'),
        ('AT+CLCK="SC",1,"1234",7', 'AT+CLCK="SC",1,"****",7'),  # the class stays
        ('AT+CPWD="SC","1234","8765"', 'AT+CPWD="SC","****","****"'),
        ('AT+CMEE=1;+CPIN="1234";+CSQ', 'AT+CMEE=1;+CPIN="****";+CSQ'),  # chained commands
        ('AT+CPIN="12,34"', 'AT+CPIN="****"'),  # a comma inside the quotes is still the PIN
        ('AT+CPIN="12', 'AT+CPIN="****"'),  # a line cut short at unplug
    ],
)
def test_pins_puks_and_passwords_are_masked(line: str, logged: str) -> None:
    log = TrafficLog()
    log.record(">", line)
    log.record("<", line)  # a modem with echo on repeats the command back
    assert [entry.text for entry in log.lines()] == [logged, logged]
    assert all("1234" not in entry.format() for entry in log.lines())


@pytest.mark.parametrize(
    "line",
    ["AT+CPIN?", "AT+CPIN=?", "+CPIN: SIM PIN", "+CPIN: READY", 'AT+CLCK="SC",2',
     "+CLCK: 1", "AT+CMGS=23", "0011000B916407281553F80000AA0AE8329BFD4697D9EC37<SUB>"],
)
def test_lines_without_secrets_are_unchanged(line: str) -> None:
    log = TrafficLog()
    log.record(">", line)
    assert log.lines()[0].text == line


def test_redact_is_the_logs_own_rule() -> None:
    assert redact('AT+CPIN="0000"') == 'AT+CPIN="****"'
    assert redact("AT+CSQ") == "AT+CSQ"
