"""Property tests: no byte sequence from a modem can crash the parser or hang the channel."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.at import AtError, AtParser, Event, FinalResult, Noise, Prompt, ResponseLine, Urc
from appliance.at.parser import MAX_LINE_BYTES
from tests.at.conftest import PtyRig

# Bytes biased towards what matters for framing: terminators, prompts, URC and final prefixes.
_TOKENS = st.sampled_from(
    [b"\r", b"\n", b"\r\n", b"> ", b"\x1a", b"\x00", b"OK", b"ERROR", b"+CMS ERROR: ", b"+CMT: ,3",
     b"+CMTI: \"SM\",1", b"^RSSI:9", b"AT", b"+CSQ: 1,99", b"\xff\xfe", b"RING"]
)  # fmt: skip
_CHUNK = st.one_of(st.binary(max_size=64), st.lists(_TOKENS, max_size=12).map(b"".join))

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("data"), _CHUNK),
        st.tuples(st.just("begin"), st.sampled_from(["AT", "AT+CSQ", "AT+CMGS=23", "AT+CREG?"])),
        st.tuples(st.just("payload"), st.text(max_size=20)),
        st.tuples(st.just("end"), st.none()),
    ),
    max_size=40,
)


@given(_OPS)
@settings(max_examples=400, deadline=None)
def test_parser_never_raises_and_stays_bounded(ops: list[tuple[str, object]]) -> None:
    parser = AtParser()
    for op, arg in ops:
        if op == "data":
            assert isinstance(arg, bytes)
            parser.receive_data(arg)
        elif op == "begin":
            parser.begin(str(arg), expects_prompt=arg == "AT+CMGS=23")
        elif op == "payload":
            parser.payload_sent(str(arg))
        else:
            parser.end()
        while (event := parser.next_event()) is not None:
            assert isinstance(event, FinalResult | ResponseLine | Urc | Prompt | Noise)
        assert len(parser._buf) <= 2 * MAX_LINE_BYTES


@given(st.lists(st.binary(max_size=256), max_size=20))
@settings(max_examples=200, deadline=None)
def test_parser_events_reassemble_from_any_chunking(chunks: list[bytes]) -> None:
    # Chunk boundaries never change the events (serial reads split anywhere).
    data = b"".join(chunks)

    def events(parts: list[bytes]) -> list[Event]:
        parser = AtParser()
        parser.begin("AT+CSQ")
        out: list[Event] = []
        for part in parts:
            parser.receive_data(part)
            while (event := parser.next_event()) is not None:
                out.append(event)
        return out

    if len(data) <= MAX_LINE_BYTES:  # beyond that, overflow noise is cut where the buffer fills
        assert events(chunks) == events([data])


async def _random_modem_session(garbage: list[bytes], add_ok: bool, with_payload: bool) -> None:
    rig = PtyRig()
    replies = iter(garbage)

    def script(command: str) -> bytes | None:
        reply = next(replies, b"")
        return reply + (b"\r\nOK\r\n" if add_ok else b"")

    try:
        channel, modem = await rig.connect(script, resync_timeout=0.05, resync_tries=2)
        for command in ("AT+CMGS=23" if with_payload else "AT+CSQ", "AT"):
            try:
                await asyncio.wait_for(
                    channel.command(
                        command,
                        timeout=0.1,
                        prompt_timeout=0.1,
                        payload="0011" if command == "AT+CMGS=23" else None,
                    ),
                    10,  # a hang fails the test with TimeoutError, which is not an AtError
                )
            except AtError:
                pass
    finally:
        await rig.close()


@given(
    garbage=st.lists(st.one_of(st.binary(max_size=200), _CHUNK), min_size=1, max_size=6),
    add_ok=st.booleans(),
    with_payload=st.booleans(),
)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_channel_survives_random_modem_bytes(
    garbage: list[bytes], add_ok: bool, with_payload: bool
) -> None:
    asyncio.run(_random_modem_session(garbage, add_ok, with_payload))


_LINE_PIECES = st.sampled_from(
    ["+CMT", "+CMTI", "+CDS", "+CDSI", ":", " ", "I", "Call Ready", "SMS Ready", "sms ready",
     "^rssi", "^RSSI", "RING", "RINGING", "+CREG", "1", ",", "PB DONE", "PB", "DONE", "x"]
)  # fmt: skip


@given(st.lists(_LINE_PIECES, max_size=6).map("".join))
@settings(max_examples=500, deadline=None)
def test_urc_name_matches_the_prefix_rule(line: str) -> None:
    # The parser's one-regex URC lookup gives what the plain rule gives: the longest known
    # prefix (case-insensitive) that the line starts with, followed by ':', ' ' or its end.
    from appliance.at.parser import DEFAULT_URC_PREFIXES, _has_prefix

    expected = next(
        (p for p in sorted(DEFAULT_URC_PREFIXES, key=len, reverse=True) if _has_prefix(line, p)),
        None,
    )
    assert AtParser()._urc_name(line) == expected
