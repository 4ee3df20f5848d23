"""AtParser as a table of raw byte transcripts: begin(...) args, byte chunks, expected events.

Every case is also replayed fed byte by byte and split at every boundary (the events must not
depend on how the serial driver chunks its reads). Transcripts marked "real" are taken from
devices (Huawei E173/E3372 with echo on) or from python-gsmmodem's test/fakemodems.py tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from appliance.at.parser import (
    DEFAULT_URC_PREFIXES,
    MAX_LINE_BYTES,
    AtParser,
    Event,
    FinalKind,
    FinalResult,
    LateAnswer,
    Noise,
    Prompt,
    ResponseLine,
    Urc,
    parse_final,
)

OK = FinalResult(FinalKind.OK, None, "OK")
ERROR = FinalResult(FinalKind.ERROR, None, "ERROR")


@dataclass
class Case:
    id: str
    chunks: list[bytes]
    expected: list[Event]
    begin: tuple[str, dict] | None = None
    payload: str | None = None  # payload_sent() is called right after the Prompt event
    urc_prefixes: frozenset[str] = field(default=DEFAULT_URC_PREFIXES)


def line(text: str) -> ResponseLine:
    return ResponseLine(text)


PDU = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
CMT_PDU = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"

CASES = [
    Case(
        "real-huawei-e173-echo-on-csq",
        [b"AT+CSQ\r\r\n+CSQ: 17,99\r\n\r\nOK\r\n"],
        [line("+CSQ: 17,99"), OK],
        begin=("AT+CSQ", {}),
    ),
    Case(
        "echo-off-csq",
        [b"\r\n+CSQ: 17,99\r\n\r\nOK\r\n"],
        [line("+CSQ: 17,99"), OK],
        begin=("AT+CSQ", {}),
    ),
    Case(
        "echo-compared-case-insensitively",
        [b"at+cgmi\r\r\nhuawei\r\n\r\nOK\r\n"],
        [line("huawei"), OK],
        begin=("AT+CGMI", {}),
    ),
    Case(
        "real-wavecom-cgmi-leading-space",
        [b" WAVECOM MODEM\r\n", b"OK\r\n"],
        [line("WAVECOM MODEM"), OK],
        begin=("AT+CGMI", {}),
    ),
    Case(
        "real-nokia-cgmr-multiline",
        [b"V ICPR72_08w44.1\r\n24-11-08\r\nRM-348\r\n(c) Nokia\r\n11.049\r\nOK\r\n"],
        [line("V ICPR72_08w44.1"), line("24-11-08"), line("RM-348")]
        + [line("(c) Nokia"), line("11.049"), OK],
        begin=("AT+CGMR", {}),
    ),
    Case(
        "real-huawei-e1752-clac-extra-cr",
        [b"&C\r\r\n&D\r\r\n+CSQ\r\r\nOK\r\n"],
        [line("&C"), line("&D"), line("+CSQ"), OK],
        begin=("AT+CLAC", {}),
    ),
    Case(
        "real-huawei-e1752-command-not-support-is-error",
        [b"COMMAND NOT SUPPORT\r\n"],
        [FinalResult(FinalKind.ERROR, None, "COMMAND NOT SUPPORT")],
        begin=("AT+WIND?", {}),
    ),
    Case(
        "cmti-mid-cmgl-is-urc",
        [
            b'AT+CMGL=4\r\r\n+CMGL: 1,1,,23\r\n07911326040000F0\r\n+CMTI: "SM",3\r\n',
            b"+CMGL: 2,1,,23\r\n07911326040000F1\r\n\r\nOK\r\n",
        ],
        [
            line("+CMGL: 1,1,,23"),
            line("07911326040000F0"),
            Urc("+CMTI", '+CMTI: "SM",3'),
            line("+CMGL: 2,1,,23"),
            line("07911326040000F1"),
            OK,
        ],
        begin=("AT+CMGL=4", {"response_prefix": "+CMGL"}),
    ),
    Case(
        "real-huawei-rssi-boot-flood-between-lines",
        [
            b"AT+CGSN\r\r\n^RSSI:17\r\n\r\n^BOOT:20217662,0,0,0,72\r\n",
            b"111111111111111\r\n^RSSI:18\r\n\r\nOK\r\n^BOOT:20217662,0,0,0,72\r\n",
        ],
        [
            Urc("^RSSI", "^RSSI:17"),
            Urc("^BOOT", "^BOOT:20217662,0,0,0,72"),
            line("111111111111111"),
            Urc("^RSSI", "^RSSI:18"),
            OK,
            Urc("^BOOT", "^BOOT:20217662,0,0,0,72"),
        ],
        begin=("AT+CGSN", {}),
    ),
    Case(
        "creg-unsolicited-vs-response",
        [b"\r\n+CREG: 1\r\n\r\n+CREG: 0,1\r\n\r\nOK\r\n"],
        # Without a prefix both look alike; with response_prefix the answer is a response.
        [line("+CREG: 1"), line("+CREG: 0,1"), OK],
        begin=("AT+CREG?", {"response_prefix": "+CREG"}),
    ),
    Case(
        "creg-query-infers-its-response-prefix",
        [b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"],
        [line("+CREG: 0,1"), OK],
        begin=("AT+CREG?", {}),
    ),
    Case(
        "creg-urc-during-other-command",
        [b'\r\n+CREG: 1,"00C3","0010F3D5"\r\n\r\n+CSQ: 20,99\r\n\r\nOK\r\n'],
        [Urc("+CREG", '+CREG: 1,"00C3","0010F3D5"'), line("+CSQ: 20,99"), OK],
        begin=("AT+CSQ", {}),
    ),
    Case(
        "real-cpin-ready-is-response-to-cpin-query",
        [b"AT+CPIN?\r\r\n+CPIN: READY\r\n\r\nOK\r\n"],
        [line("+CPIN: READY"), OK],
        begin=("AT+CPIN?", {}),
    ),
    Case(
        "cms-error-numeric",
        [b"\r\n+CMS ERROR: 500\r\n"],
        [FinalResult(FinalKind.CMS_ERROR, 500, "+CMS ERROR: 500")],
        begin=("AT+CMGS=23", {"expects_prompt": True}),
    ),
    Case(
        "cms-error-verbose-unknown-error",
        [b"\r\n+CMS ERROR: Unknown error\r\n"],
        [FinalResult(FinalKind.CMS_ERROR, 500, "+CMS ERROR: Unknown error")],
        begin=("AT+CMGS=23", {"expects_prompt": True}),
    ),
    Case(
        "cms-error-verbose-invalid-destination",
        [b"\r\n+CMS ERROR: Invalid destination address\r\n"],
        [FinalResult(FinalKind.CMS_ERROR, 195, "+CMS ERROR: Invalid destination address")],
        begin=("AT+CMGS=23", {"expects_prompt": True}),
    ),
    Case(
        "cms-error-verbose-usim-busy",
        [b"+CMS ERROR: SIM busy\r\n"],
        [FinalResult(FinalKind.CMS_ERROR, 314, "+CMS ERROR: SIM busy")],
        begin=("AT+CMGR=1", {}),
    ),
    Case(
        "cme-error-verbose-sim-pin-required",
        [b"\r\n+CME ERROR: SIM PIN required\r\n"],
        [FinalResult(FinalKind.CME_ERROR, 11, "+CME ERROR: SIM PIN required")],
        begin=("AT+CIMI", {}),
    ),
    Case(
        "real-fakemodem-cme-sim-busy-and-device-busy",
        [b"+CME ERROR: 14\r\n"],
        [FinalResult(FinalKind.CME_ERROR, 14, "+CME ERROR: 14")],
        begin=("AT+CSCA?", {}),
    ),
    Case(
        "cme-error-unknown-verbose-text-has-no-code",
        [b"+CME ERROR: flux capacitor melted\r\n"],
        [FinalResult(FinalKind.CME_ERROR, None, "+CME ERROR: flux capacitor melted")],
        begin=("AT+CFUN=1", {}),
    ),
    Case(
        "cmgs-prompt-flow-with-pdu-echo",
        [
            b"AT+CMGS=23\r\r\n> ",
            b"> " + PDU.encode() + b"\x1a\r\n",
            b"+CMGS: 42\r\n\r\nOK\r\n",
        ],
        [Prompt(), line("+CMGS: 42"), OK],
        begin=("AT+CMGS=23", {"expects_prompt": True}),
        payload=PDU,
    ),
    Case(
        "cmgs-prompt-echo-in-same-chunk",
        [b"\r\n> " + PDU.encode() + b"\x1a\r\n+CMGS: 7\r\n\r\nOK\r\n"],
        [Prompt(), line("+CMGS: 7"), OK],
        begin=("AT+CMGS=23", {"expects_prompt": True}),
        payload=PDU,
    ),
    Case(
        "prompt-not-recognised-without-expects-prompt",
        [b"\r\n> hello\r\nOK\r\n"],
        [line("> hello"), OK],
        begin=("AT+FOO", {}),
    ),
    Case(
        "cmt-two-line-urc-idle",
        [b"\r\n+CMT: ,39\r\n" + CMT_PDU.encode() + b"\r\n"],
        [Urc("+CMT", "+CMT: ,39", CMT_PDU)],
    ),
    Case(
        "cds-pdu-mode-two-line-urc",
        [b"\r\n+CDS: 25\r\n", b"07911326040000F006B80B911346610089F6\r\n"],
        [Urc("+CDS", "+CDS: 25", "07911326040000F006B80B911346610089F6")],
    ),
    Case(
        "cds-text-mode-is-one-line",
        [b'+CDS: 6,46,"+31628870634",145,"14/01/23,15:30:00+04"\r\n'],
        [Urc("+CDS", '+CDS: 6,46,"+31628870634",145,"14/01/23,15:30:00+04"')],
    ),
    Case(
        "cmt-two-line-urc-mid-command",
        [b"\r\n+CMT: ,39\r\n" + CMT_PDU.encode() + b"\r\n+CSQ: 9,99\r\nOK\r\n"],
        [Urc("+CMT", "+CMT: ,39", CMT_PDU), line("+CSQ: 9,99"), OK],
        begin=("AT+CSQ", {}),
    ),
    Case(
        "nul-bytes-stripped",
        [b"\x00\x00AT+CSQ\r\r\n+CSQ:\x00 17,99\r\n\x00OK\r\n"],
        [line("+CSQ: 17,99"), OK],
        begin=("AT+CSQ", {}),
    ),
    Case(
        "lone-lf-and-lone-cr",
        [b"+CSQ: 17,99\nOK\r"],
        [line("+CSQ: 17,99"), OK],
        begin=("AT+CSQ", {}),
    ),
    Case(
        "garbage-high-bytes-are-noise",
        [b"\x80\xff\xfe\x91\xa0\r\nOK\r\n"],
        [Noise(b"\x80\xff\xfe\x91\xa0"), OK],
        begin=("AT", {}),
    ),
    Case(
        "latin1-text-decoded-leniently",
        [b'+COPS: 0,0,"Telef\xf3nica"\r\nOK\r\n'],
        [line('+COPS: 0,0,"Telefónica"'), OK],
        begin=("AT+COPS?", {"response_prefix": "+COPS"}),
    ),
    Case(
        "stray-ok-with-no-command-is-noise",
        [b"\r\nOK\r\n"],
        [Noise(b"OK")],
    ),
    Case(
        "idle-unknown-line-is-urc-named-before-colon",
        [b"+FOOBAR: 1,2\r\nCall Ready\r\nRDY\r\n"],
        [Urc("+FOOBAR", "+FOOBAR: 1,2"), Urc("Call Ready", "Call Ready"), Urc("RDY", "RDY")],
    ),
    Case(
        "real-sim800-boot-noise",
        [b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\nCall Ready\r\n\r\nSMS Ready\r\n"],
        [
            Urc("RDY", "RDY"),
            Urc("+CFUN", "+CFUN: 1"),
            Urc("+CPIN", "+CPIN: READY"),
            Urc("Call Ready", "Call Ready"),
            Urc("SMS Ready", "SMS Ready"),
        ],
    ),
    Case(
        "real-ring-clip-idle",
        [b'\r\n+CRING: VOICE\r\n\r\n+CLIP: "+27820001111",145,,,,0\r\n'],
        [Urc("+CRING", "+CRING: VOICE"), Urc("+CLIP", '+CLIP: "+27820001111",145,,,,0')],
    ),
    Case(
        "cmti-not-confused-with-cmt",
        [b'+CMTI: "SM",3\r\n'],
        [Urc("+CMTI", '+CMTI: "SM",3')],
    ),
    Case(
        "final-kinds",
        [b"CONNECT 9600\r\n"],
        [FinalResult(FinalKind.CONNECT, None, "CONNECT 9600")],
        begin=("ATD123", {}),
    ),
    Case(
        "no-carrier",
        [b"NO CARRIER\r\n"],
        [FinalResult(FinalKind.NO_CARRIER, None, "NO CARRIER")],
        begin=("ATD123;", {}),
    ),
    Case(
        "lines-after-final-are-unsolicited",
        [b"OK\r\nHANGUP: 1\r\n"],
        [OK, Urc("HANGUP", "HANGUP: 1")],
        begin=("AT", {}),
    ),
    Case(
        "custom-urc-prefix-from-profile",
        [b'+ZPASR: "UMTS"\r\n+BEARTYPE: "UMTS"\r\nOK\r\n'],
        [Urc("+ZPASR", '+ZPASR: "UMTS"'), line('+BEARTYPE: "UMTS"'), OK],
        begin=("AT+ZPAS?", {"response_prefix": "+BEARTYPE"}),
    ),
]


def run(case: Case, chunks: list[bytes]) -> list[Event]:
    parser = AtParser(case.urc_prefixes)
    if case.begin is not None:
        command, kwargs = case.begin
        parser.begin(command, **kwargs)
    events: list[Event] = []
    for chunk in chunks:
        parser.receive_data(chunk)
        while (event := parser.next_event()) is not None:
            events.append(event)
            if isinstance(event, Prompt) and case.payload is not None:
                parser.payload_sent(case.payload)
    return events


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_transcript_as_chunked(case: Case) -> None:
    assert run(case, case.chunks) == case.expected


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_transcript_byte_by_byte(case: Case) -> None:
    data = b"".join(case.chunks)
    assert run(case, [data[i : i + 1] for i in range(len(data))]) == case.expected


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_transcript_split_at_every_point(case: Case) -> None:
    data = b"".join(case.chunks)
    for cut in range(1, len(data)):
        assert run(case, [data[:cut], data[cut:]]) == case.expected, f"split at {cut}"


def test_flood_without_newline_is_bounded_and_dropped_as_noise() -> None:
    parser = AtParser()
    parser.begin("AT+CSQ")
    noise = 0
    for _ in range(100):
        parser.receive_data(b"A" * 1000)
        while (event := parser.next_event()) is not None:
            assert isinstance(event, Noise)
            noise += len(event.data)
        assert len(parser._buf) <= MAX_LINE_BYTES + 1000
    parser.receive_data(b"\r\n+CSQ: 5,99\r\nOK\r\n")
    events = []
    while (event := parser.next_event()) is not None:
        events.append(event)
    # The tail of the long line is noise; the framing then recovers.
    assert [e for e in events if not isinstance(e, Noise)] == [line("+CSQ: 5,99"), OK]
    assert noise + sum(len(e.data) for e in events if isinstance(e, Noise)) == 100_000


def test_abandoned_command_late_answer_is_noise_until_next_begin() -> None:
    parser = AtParser()
    parser.begin("AT+CMGS=23", expects_prompt=True)
    parser.end()  # timed out, no final seen
    parser.receive_data(b'+CMGS: 12\r\n\r\nOK\r\n+CMTI: "SM",1\r\n')
    events = [parser.next_event() for _ in range(3)]
    assert events == [Noise(b"+CMGS: 12"), Noise(b"OK"), Urc("+CMTI", '+CMTI: "SM",1')]
    parser.begin("AT")  # a new command clears the stale state
    parser.receive_data(b"+CMGS: 12\r\nOK\r\n")
    assert [parser.next_event(), parser.next_event()] == [line("+CMGS: 12"), OK]


def test_idle_after_clean_command_unknown_lines_are_urcs() -> None:
    parser = AtParser()
    parser.begin("AT")
    parser.receive_data(b"OK\r\n")
    assert parser.next_event() == OK
    parser.end()
    parser.receive_data(b"+NEWTHING: 1\r\n")
    assert parser.next_event() == Urc("+NEWTHING", "+NEWTHING: 1")


def test_echo_dropped_only_once() -> None:
    # A response line that happens to repeat the command text is not swallowed twice.
    parser = AtParser()
    parser.begin("ATI")
    parser.receive_data(b"ATI\r\r\nATI\r\nOK\r\n")
    assert [parser.next_event(), parser.next_event()] == [line("ATI"), OK]


@pytest.mark.parametrize(
    ("text", "kind", "code"),
    [
        ("OK", FinalKind.OK, None),
        ("ERROR", FinalKind.ERROR, None),
        ("BUSY", FinalKind.BUSY, None),
        ("NO ANSWER", FinalKind.NO_ANSWER, None),
        ("NO DIALTONE", FinalKind.NO_DIALTONE, None),
        ("+CME ERROR: 515", FinalKind.CME_ERROR, 515),
        ("+CME ERROR:10", FinalKind.CME_ERROR, 10),
        ("+CME ERROR: SIM not inserted", FinalKind.CME_ERROR, 10),
        ("+CMS ERROR: SIM not inserted", FinalKind.CMS_ERROR, 310),
        ("+CMS ERROR: Network out of order", FinalKind.CMS_ERROR, 38),
        ("+CMS ERROR: 304", FinalKind.CMS_ERROR, 304),
    ],
)
def test_parse_final(text: str, kind: FinalKind, code: int | None) -> None:
    assert parse_final(text) == FinalResult(kind, code, text)


@pytest.mark.parametrize("text", ["OKAY", "+CMS: 5", "ERRORS", "+CSQ: 17,99", ""])
def test_parse_final_rejects_lookalikes(text: str) -> None:
    assert parse_final(text) is None


# -- late answers of an abandoned +CMGS: (steps after expect_late_answer("+CMGS"), events) -------
# Steps: ("begin", command, expects_prompt, response_prefix), ("data", bytes), ("payload", pdu),
# ("end",). Noise (the swallowed final of a late answer) is left out of the expected events.
LATE = LateAnswer("+CMGS: 12")
LATE_CASES = [
    pytest.param([("data", b"\r\n+CMGS: 12\r\n\r\nOK\r\n")], [LATE], id="idle"),
    pytest.param(
        [("begin", "AT", False, None), ("data", b"\r\n+CMGS: 12\r\n\r\nOK\r\n\r\nOK\r\n")],
        [LATE, OK], id="just-after-AT-written: AT's own OK still ends AT"),
    pytest.param(
        [("data", b"\r\n+CMGS: 12\r\n"), ("begin", "AT+CSQ", False, "+CSQ"),
         ("data", b"\r\nOK\r\n\r\n+CSQ: 17,99\r\n\r\nOK\r\n")],
        [LATE, line("+CSQ: 17,99"), OK], id="line-before-final-after-the-write"),
    pytest.param(
        [("begin", "AT+CMGS=23", True, "+CMGS"), ("data", b"\r\n+CMGS: 12\r\n\r\nOK\r\n\r\n> "),
         ("payload", "0011"), ("data", b"\r\n+CMGS: 13\r\n\r\nOK\r\n")],
        [LATE, Prompt(), line("+CMGS: 13"), OK], id="before-the-next-prompt"),
    pytest.param(
        [("begin", "AT+CMGS=23", True, "+CMGS"), ("data", b"\r\n> "), ("payload", "0011"),
         ("data", b"\r\n+CMGS: 12\r\n\r\nOK\r\n")],
        [Prompt(), line("+CMGS: 12"), OK], id="after-the-next-prompt-it-is-that-sends"),
    pytest.param(
        [("begin", "AT+CREG?", False, None), ("data", b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"),
         ("end",), ("data", b"\r\n+CMGS: 12\r\n\r\nOK\r\n")],
        [line("+CREG: 0,1"), OK, LATE], id="other-lines-untouched"),
    pytest.param(
        [("data", b"\r\n+CMGS: 12\r\n\r\nOK\r\n\r\n+CMGS: 99\r\n\r\nOK\r\n")],
        [LATE], id="only-one-late-answer"),
]


@pytest.mark.parametrize(("steps", "expected"), LATE_CASES)
def test_late_cmgs_answer(steps: list[tuple], expected: list[Event]) -> None:
    parser = AtParser()
    parser.begin("AT+CMGS=23", expects_prompt=True, response_prefix="+CMGS")
    parser.receive_data(b"\r\n> ")
    parser.payload_sent("0011")
    parser.end()  # abandoned: no answer within the send timeout
    parser.expect_late_answer("+CMGS")
    events: list[Event] = []
    for step in steps:
        if step[0] == "begin":
            parser.begin(step[1], expects_prompt=step[2], response_prefix=step[3])
        elif step[0] == "data":
            parser.receive_data(step[1])
        elif step[0] == "payload":
            parser.payload_sent(step[1])
        else:
            parser.end()
        while (event := parser.next_event()) is not None:
            events.append(event)
    assert [e for e in events if not isinstance(e, Noise)] == [Prompt(), *expected]


def test_payload_cancelled_releases_the_bytes_held_after_the_prompt() -> None:
    parser = AtParser()
    parser.begin("AT+CMGS=23", expects_prompt=True)
    parser.receive_data(b"\r\n> \r\nOK\r\n")  # ESC's answer, held until we say what we wrote
    assert parser.next_event() == Prompt() and parser.next_event() is None
    parser.payload_cancelled()
    assert parser.next_event() == OK
