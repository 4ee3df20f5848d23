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


# -- message content never reaches the log (one-time codes included) ----------------------------

def _user_data_hex(pdu: str) -> str:
    """The hex after the kept head: what must not appear in the log."""
    return pdu[24:]


def test_outgoing_pdu_after_the_prompt_keeps_its_head_and_hides_the_text() -> None:
    from appliance.pdu import decode_submit, encode_submit

    [part] = encode_submit("+8613800138000", "Your code is 493817")
    log = TrafficLog()
    log.record(">", f"AT+CMGS={part.tpdu_length}")
    log.record("<", "> ")
    log.record(">", part.pdu + "\x1a")
    log.record("<", "> " + part.pdu + "\x1a")  # a modem with echo on repeats it after the prompt
    texts = [line.text for line in log.lines()]
    octets = len(part.pdu) // 2
    assert texts[2] == f"{part.pdu[:24]}…({octets} octets)<SUB>"
    assert texts[3] == f"> {part.pdu[:24]}…({octets} octets)<SUB>"
    assert decode_submit(part.pdu).to == "+8613800138000"
    assert "683108108300F0" in texts[2]  # the destination address is kept for debugging
    dump = "\n".join(texts)
    assert _user_data_hex(part.pdu) not in dump and "493817" not in dump


@pytest.mark.parametrize("header", ["+CMT: ,{n}", "+CMGR: 0,,{n}", "+CMGL: 3,1,,{n}",
                                    "+CDS: {n}"])
def test_incoming_pdu_bodies_are_masked_and_their_headers_kept(header: str) -> None:
    from datetime import UTC, datetime

    from appliance.pdu import encode_deliver

    [pdu] = encode_deliver("+8613900000001", "验证码 493817", datetime(2026, 1, 2, tzinfo=UTC))
    log = TrafficLog()
    log.record("<", header.format(n=len(pdu) // 2 - 8))
    log.record("<", pdu)
    log.record("<", pdu.lower())
    head, body, lower = (line.text for line in log.lines())
    assert head == header.format(n=len(pdu) // 2 - 8)
    assert body == f"{pdu[:24]}…({len(pdu) // 2} octets)"
    assert lower == f"{pdu.lower()[:24]}…({len(pdu) // 2} octets)"
    assert _user_data_hex(pdu) not in body + lower


def test_cancelled_pdu_is_masked_too() -> None:
    log = TrafficLog()
    log.record(">", "0011000D91683108108300F00008AA0C4F60597DFF0C4E16754C\x1b")
    assert log.lines()[0].text == "0011000D91683108108300F0…(26 octets)<ESC>"


@pytest.mark.parametrize("line", [
    "0011<SUB>",                    # short: nothing to hide
    "89860012345678901234",         # a bare ICCID answer (20 digits) stays readable
    "89860012345678901234F",
    "867530012345678",              # IMEI
    "+CSQ: 17,99",
    "+CMGS: 12",
    "OK",
    "AT+CMGS=26",
    "0011000D91683108108300F0 and words",  # not a hex-only line
])
def test_lines_that_are_not_pdus_are_unchanged(line: str) -> None:
    log = TrafficLog()
    log.record("<", line)
    assert log.lines()[0].text == line


def test_pin_redaction_still_applies_beside_pdu_masking() -> None:
    log = TrafficLog()
    log.record(">", 'AT+CPIN="1234"')
    log.record("<", "0011000D91683108108300F00008AA0C4F60597DFF0C4E16754C")
    assert [line.text for line in log.lines()] == [
        'AT+CPIN="****"', "0011000D91683108108300F0…(26 octets)"]


def test_since_gives_what_came_after_a_count_even_past_the_ring() -> None:
    log = TrafficLog(maxlen=3)
    log.record(">", "AT")
    seen = log.recorded
    assert log.since(seen) == []
    log.record("<", "OK")
    assert [line.text for line in log.since(seen)] == ["OK"]
    for n in range(5):
        log.record(">", f"AT+N{n}")
    assert log.recorded == 7
    assert [line.text for line in log.since(seen)] == ["AT+N2", "AT+N3", "AT+N4"]  # the ring


async def test_follow_gives_the_backlog_then_new_lines() -> None:
    import asyncio

    from appliance.at.traffic import follow

    log = TrafficLog(maxlen=10)
    for n in range(4):
        log.record(">", f"AT+OLD{n}")
    done = False
    got: list[str] = []

    async def read() -> None:
        async for line in follow(log, 2, poll=0.01, until=lambda: done):
            got.append(line.text if line else "(idle)")

    task = asyncio.create_task(read())
    await asyncio.sleep(0.05)
    log.record("<", "+CSQ: 20,99")
    await asyncio.sleep(0.05)
    done = True
    await asyncio.wait_for(task, 1)
    assert got == ["AT+OLD2", "AT+OLD3", "+CSQ: 20,99"]


async def test_follow_says_when_it_has_been_idle() -> None:
    from appliance.at.traffic import follow

    log = TrafficLog(maxlen=10)
    log.record(">", "AT")
    stream = follow(log, 5, poll=0.01, idle=0.03)
    assert (await anext(stream)).text == "AT"
    assert await anext(stream) is None  # nothing new for 0.03 s: a keep-alive
    log.record("<", "OK")
    assert (await anext(stream)).text == "OK"
    await stream.aclose()
