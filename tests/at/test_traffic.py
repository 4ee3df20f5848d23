"""TrafficLog: a bounded, timestamped ring of lines both ways, readable on a serial console."""

from __future__ import annotations

import time

import pytest

from appliance.at.traffic import TrafficLog


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
