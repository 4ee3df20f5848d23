"""AtChannel over a real pseudo-terminal: a scripted fake modem answers on the master side."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from appliance.at import (
    AtChannel,
    AtCommandFailed,
    AtTimeout,
    ChannelClosed,
    FinalKind,
    PayloadCancelled,
    TrafficLog,
    Urc,
    open_channel,
)
from appliance.at.traffic import mask_pdu
from tests.at.conftest import PtyRig, wait_until
from tests.at.fakemodem import PROMPT, table

CSQ = {"AT+CSQ": b"\r\n+CSQ: 17,99\r\n\r\nOK\r\n"}
PDU = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
GUARD = 10  # seconds: only to turn a hang into a failure, never a timing assertion


@pytest.mark.parametrize("echo", [False, True], ids=["echo-off", "echo-on"])
async def test_command_returns_its_lines_and_final(rig: PtyRig, echo: bool) -> None:
    channel, modem = await rig.connect(table(CSQ), modem_kwargs={"echo": echo})
    response = await asyncio.wait_for(channel.command("AT+CSQ"), GUARD)
    assert response.lines == ["+CSQ: 17,99"]
    assert response.values("+CSQ") == ["17,99"]
    assert response.final.kind is FinalKind.OK
    assert bytes(modem.received) == b"AT+CSQ\r"


async def test_urc_mid_response_goes_to_on_urc_not_lines(rig: PtyRig) -> None:
    urcs: list[Urc] = []
    script = table({"AT+CMGL=4": b'\r\n+CMGL: 1,1,,23\r\nABCD\r\n+CMTI: "SM",3\r\n\r\nOK\r\n'})
    channel, _ = await rig.connect(script, on_urc=urcs.append)
    response = await asyncio.wait_for(channel.command("AT+CMGL=4", response_prefix="+CMGL"), GUARD)
    assert response.lines == ["+CMGL: 1,1,,23", "ABCD"]
    assert urcs == [Urc("+CMTI", '+CMTI: "SM",3')]


async def test_idle_urcs_are_delivered(rig: PtyRig) -> None:
    urcs: list[Urc] = []
    _, modem = await rig.connect(table({}), on_urc=urcs.append)
    modem.write(b'\r\n+CMTI: "SM",4\r\n\r\n+CDS: 25\r\n07911326040000F0\r\n')
    await wait_until(lambda: len(urcs) == 2)
    assert urcs == [
        Urc("+CMTI", '+CMTI: "SM",4'),
        Urc("+CDS", "+CDS: 25", "07911326040000F0"),
    ]


async def test_failing_urc_listener_does_not_stop_the_channel(rig: PtyRig) -> None:
    def broken(urc: Urc) -> None:
        raise RuntimeError("listener bug")

    script = table({"AT+CSQ": b'\r\n+CMTI: "SM",1\r\n+CSQ: 3,99\r\nOK\r\n'})
    channel, _ = await rig.connect(script, on_urc=broken)
    response = await asyncio.wait_for(channel.command("AT+CSQ"), GUARD)
    assert response.lines == ["+CSQ: 3,99"]


async def test_error_finals_raise_when_checked(rig: PtyRig) -> None:
    script = table(
        {
            "AT+CMGS=23": b"\r\n+CMS ERROR: 500\r\n",
            "AT+CIMI": b"\r\n+CME ERROR: SIM PIN required\r\n",
            "AT+WIND?": b"\r\nERROR\r\n",
        }
    )
    channel, _ = await rig.connect(script)
    with pytest.raises(AtCommandFailed) as failed:
        await asyncio.wait_for(channel.command("AT+CMGS=23", payload=PDU), GUARD)
    assert failed.value.cms_error == 500 and failed.value.cme_error is None
    with pytest.raises(AtCommandFailed) as failed:
        await asyncio.wait_for(channel.command("AT+CIMI"), GUARD)
    assert failed.value.cme_error == 11 and failed.value.command == "AT+CIMI"
    response = await asyncio.wait_for(channel.command("AT+WIND?", check=False), GUARD)
    assert response.final.kind is FinalKind.ERROR


@pytest.mark.parametrize("echo", [False, True], ids=["echo-off", "echo-on"])
async def test_prompt_then_payload_and_ctrl_z(rig: PtyRig, echo: bool) -> None:
    channel, modem = await rig.connect(
        table({"AT+CMGS=23": PROMPT}),
        modem_kwargs={
            "echo": echo,
            "echo_pdu": echo,
            "on_pdu": lambda pdu: b"\r\n+CMGS: 42\r\n\r\nOK\r\n",
        },
    )
    response = await asyncio.wait_for(channel.command("AT+CMGS=23", payload=PDU), GUARD)
    assert bytes(modem.received) == b"AT+CMGS=23\r" + PDU.encode() + b"\x1a"
    assert modem.pdus == [PDU]
    assert response.lines == ["+CMGS: 42"]
    assert response.values("+CMGS") == ["42"]


async def test_prompt_timeout_writes_esc_and_never_the_payload(rig: PtyRig) -> None:
    channel, modem = await rig.connect(table({"AT+CMGS=23": None}))
    with pytest.raises(AtTimeout) as timed_out:
        await asyncio.wait_for(
            channel.command("AT+CMGS=23", payload=PDU, prompt_timeout=0.2), GUARD
        )
    assert timed_out.value.payload_written is False
    await wait_until(lambda: modem.escapes == 1)
    assert bytes(modem.received) == b"AT+CMGS=23\r\x1b"
    assert PDU.encode() not in modem.received


async def test_no_answer_after_payload_is_ambiguous(rig: PtyRig) -> None:
    channel, modem = await rig.connect(
        table({"AT+CMGS=23": PROMPT}), modem_kwargs={"on_pdu": lambda pdu: None}
    )
    with pytest.raises(AtTimeout) as timed_out:
        await asyncio.wait_for(channel.command("AT+CMGS=23", payload=PDU, timeout=0.2), GUARD)
    assert timed_out.value.payload_written is True
    assert modem.pdus == [PDU]


async def test_timeout_then_resync_with_at_probe(rig: PtyRig) -> None:
    channel, modem = await rig.connect(table({"AT+HANG": None, **CSQ}))
    with pytest.raises(AtTimeout) as timed_out:
        await asyncio.wait_for(channel.command("AT+HANG", timeout=0.2), GUARD)
    assert timed_out.value.command == "AT+HANG"
    response = await asyncio.wait_for(channel.command("AT+CSQ"), GUARD)
    assert response.lines == ["+CSQ: 17,99"]
    assert modem.commands == ["AT+HANG", "AT", "AT+CSQ"]


async def test_resync_discards_late_answer_of_the_timed_out_command(rig: PtyRig) -> None:
    answered_probe = False

    def script(command: str) -> bytes | None:
        nonlocal answered_probe
        if command == "AT+SLOW":
            return None
        if command == "AT" and not answered_probe:
            answered_probe = True
            # The late answer to AT+SLOW lands just before the probe's own OK.
            return b"\r\n+SLOW: 1\r\n\r\nOK\r\n\r\nOK\r\n"
        return CSQ.get(command, b"\r\nOK\r\n")

    channel, modem = await rig.connect(script)
    with pytest.raises(AtTimeout):
        await asyncio.wait_for(channel.command("AT+SLOW", timeout=0.2), GUARD)
    response = await asyncio.wait_for(channel.command("AT+CSQ"), GUARD)
    assert response.lines == ["+CSQ: 17,99"]
    assert modem.commands == ["AT+SLOW", "AT", "AT", "AT+CSQ"]


async def test_failed_resync_still_lets_the_next_command_through(rig: PtyRig) -> None:
    channel, modem = await rig.connect(
        table({"AT+CSQ": CSQ["AT+CSQ"]}, default=None), resync_timeout=0.1
    )
    with pytest.raises(AtTimeout):
        await asyncio.wait_for(channel.command("AT+HANG", timeout=0.2), GUARD)
    response = await asyncio.wait_for(channel.command("AT+CSQ"), GUARD)
    assert response.lines == ["+CSQ: 17,99"]
    assert modem.commands == ["AT+HANG", "AT", "AT", "AT", "AT+CSQ"]


async def test_cancelled_caller_leaves_the_channel_usable(rig: PtyRig) -> None:
    channel, modem = await rig.connect(table({"AT+HANG": None, **CSQ}))
    task = asyncio.create_task(channel.command("AT+HANG", timeout=60))
    await asyncio.wait_for(modem.got_command.wait(), GUARD)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    response = await asyncio.wait_for(channel.command("AT+CSQ"), GUARD)
    assert response.lines == ["+CSQ: 17,99"]
    assert modem.commands == ["AT+HANG", "AT", "AT+CSQ"]


async def test_priority_overtakes_then_fifo(rig: PtyRig) -> None:
    release = asyncio.Event()
    channel, modem = await rig.connect(table({"AT+HOLD": None}))

    async def hold() -> None:
        await channel.command("AT+HOLD", timeout=GUARD)

    def on_hold_seen(command: str) -> bytes | None:
        if command == "AT+HOLD":
            asyncio.get_running_loop().create_task(answer_when_released())
            return None
        return b"\r\nOK\r\n"

    async def answer_when_released() -> None:
        await release.wait()
        modem.write(b"\r\nOK\r\n")

    modem.script = on_hold_seen
    holder = asyncio.create_task(hold())
    await asyncio.wait_for(modem.got_command.wait(), GUARD)
    tasks = []
    for command, priority in [("AT+A", 0), ("AT+B", 0), ("AT+C", 10), ("AT+D", 5)]:
        tasks.append(asyncio.create_task(channel.command(command, priority=priority)))
        await wait_until(partial(lambda n: channel.waiting == n, len(tasks)))
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, *tasks), GUARD)
    assert modem.commands == ["AT+HOLD", "AT+C", "AT+D", "AT+A", "AT+B"]


async def test_concurrent_callers_are_serialised(rig: PtyRig) -> None:
    outstanding = 0
    overlaps = 0
    loop = asyncio.get_running_loop()
    channel_modem: list = []

    def script(command: str) -> bytes | None:
        nonlocal outstanding, overlaps
        outstanding += 1
        overlaps += outstanding > 1
        n = command.removeprefix("AT+X=")

        def answer() -> None:
            nonlocal outstanding
            outstanding -= 1
            channel_modem[0].write(f"\r\n+X: {n}\r\n\r\nOK\r\n".encode())

        loop.call_soon(answer)  # answer on a later loop turn, as a real modem would
        return None

    channel, modem = await rig.connect(script)
    channel_modem.append(modem)
    responses = await asyncio.wait_for(
        asyncio.gather(*(channel.command(f"AT+X={i}") for i in range(20))), GUARD
    )
    assert [r.lines for r in responses] == [[f"+X: {i}"] for i in range(20)]
    assert overlaps == 0
    assert modem.commands == [f"AT+X={i}" for i in range(20)]


async def test_unplug_fails_current_and_later_commands_at_once(rig: PtyRig) -> None:
    channel, modem = await rig.connect(table({"AT+HANG": None}))
    current = asyncio.create_task(channel.command("AT+HANG", timeout=60))
    queued = asyncio.create_task(channel.command("AT+CSQ", timeout=60))
    await asyncio.wait_for(modem.got_command.wait(), GUARD)
    modem.unplug()
    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(current, GUARD)  # guard only: a hang would fail here
    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(queued, GUARD)
    assert channel.closed and channel.close_reason
    with pytest.raises(ChannelClosed):
        await channel.command("AT")
    await asyncio.wait_for(channel.wait_closed(), GUARD)


async def test_close_fails_command_in_flight(rig: PtyRig) -> None:
    channel, modem = await rig.connect(table({"AT+HANG": None}))
    current = asyncio.create_task(channel.command("AT+HANG", timeout=60))
    await asyncio.wait_for(modem.got_command.wait(), GUARD)
    await channel.close()
    with pytest.raises(ChannelClosed) as closed:
        await asyncio.wait_for(current, GUARD)
    assert "closed by caller" in closed.value.reason
    await asyncio.wait_for(channel.wait_closed(), GUARD)


async def test_traffic_log_records_both_directions(rig: PtyRig) -> None:
    traffic = TrafficLog()
    channel, _ = await rig.connect(
        table({"AT+CMGS=23": PROMPT, **CSQ}),
        modem_kwargs={"on_pdu": lambda pdu: b"\r\n+CMGS: 42\r\n\r\nOK\r\n"},
        traffic=traffic,
    )
    await asyncio.wait_for(channel.command("AT+CSQ"), GUARD)
    await asyncio.wait_for(channel.command("AT+CMGS=23", payload=PDU), GUARD)
    assert [(line.direction, line.text) for line in traffic.lines()] == [
        (">", "AT+CSQ"),
        ("<", "+CSQ: 17,99"),
        ("<", "OK"),
        (">", "AT+CMGS=23"),
        ("<", "> "),
        # The PDU carries the message text (one-time codes too): the ring keeps its head only.
        (">", mask_pdu(PDU) + "<SUB>"),
        ("<", "+CMGS: 42"),
        ("<", "OK"),
    ]


async def test_min_interval_holds_back_the_next_command(rig: PtyRig) -> None:
    channel, modem = await rig.connect(table(CSQ), min_interval=3600)
    await asyncio.wait_for(channel.command("AT+CSQ"), GUARD)
    paced = asyncio.create_task(channel.command("AT+CSQ"))
    await asyncio.sleep(0.1)  # an hour's pacing cannot have elapsed: nothing may be written
    assert modem.commands == ["AT+CSQ"] and not paced.done()
    paced.cancel()
    with pytest.raises(asyncio.CancelledError):
        await paced


async def test_open_channel_on_missing_port_raises_channel_closed() -> None:
    with pytest.raises(ChannelClosed) as closed:
        await open_channel("/dev/does-not-exist-cardgate")
    assert "/dev/does-not-exist-cardgate" in closed.value.reason


async def test_command_on_unconnected_channel_raises_channel_closed() -> None:
    channel = AtChannel(name="nowhere")
    with pytest.raises(ChannelClosed):
        await channel.command("AT")


@pytest.mark.parametrize("prompt_given", [False, True], ids=["before-prompt", "after-pdu"])
async def test_unplug_during_cmgs_says_whether_the_pdu_may_have_left(
    rig: PtyRig, prompt_given: bool
) -> None:
    channel, modem = await rig.connect(
        table({"AT+CMGS=23": PROMPT if prompt_given else None}),
        modem_kwargs={"on_pdu": lambda pdu: None},
    )
    sending = asyncio.create_task(channel.command("AT+CMGS=23", payload=PDU, timeout=60))
    if prompt_given:
        await wait_until(lambda: modem.pdus == [PDU])
    else:
        await asyncio.wait_for(modem.got_command.wait(), GUARD)
    modem.unplug()
    with pytest.raises(ChannelClosed) as closed:
        await asyncio.wait_for(sending, GUARD)
    assert closed.value.payload_written is prompt_given


async def test_first_command_right_after_open_is_written(rig: PtyRig) -> None:
    # No sleep between open_channel() and the first command (connection_made is call_soon'd).
    channel, modem = await rig.connect(table(CSQ))
    response = await asyncio.wait_for(channel.command("AT+CSQ"), GUARD)
    assert response.lines == ["+CSQ: 17,99"] and modem.commands == ["AT+CSQ"]


async def test_pin_is_masked_in_the_traffic_log_and_errors_but_sent_in_full(
    rig: PtyRig,
) -> None:
    traffic = TrafficLog()
    channel, modem = await rig.connect(
        table({'AT+CPIN="1234"': b"\r\n+CME ERROR: 16\r\n", 'AT+CPIN="4321"': None}),
        modem_kwargs={"echo": True},
        traffic=traffic,
    )
    with pytest.raises(AtCommandFailed) as refused:
        await asyncio.wait_for(channel.command('AT+CPIN="1234"'), GUARD)
    with pytest.raises(AtTimeout) as unanswered:
        await asyncio.wait_for(channel.command('AT+CPIN="4321"', timeout=0.2), GUARD)
    assert b'AT+CPIN="1234"\r' in modem.received  # the modem still gets the real PIN
    texts = [line.text for line in traffic.lines()]
    assert '<' in [line.direction for line in traffic.lines()]  # the echo was logged too
    assert not any("1234" in text or "4321" in text for text in texts), texts
    # Errors end up in logs and in a modem's state reason: no PIN there either.
    for exc in (refused.value, unanswered.value):
        assert "1234" not in str(exc) and "4321" not in str(exc)
        assert exc.command.startswith('AT+CPIN="****"')


async def test_resync_tries_and_timeout_per_command(rig: PtyRig) -> None:
    channel, modem = await rig.connect(
        table({"AT+CFUN=1,1": b"\r\nOK\r\n"}, default=None), resync_timeout=30
    )
    with pytest.raises(AtTimeout):
        await asyncio.wait_for(channel.command("AT+HANG", timeout=0.2), GUARD)
    # A caller that knows the modem is hung: one short probe, not 3 x 30 s.
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(
        channel.command("AT+CFUN=1,1", resync_tries=1, resync_timeout=0.1), GUARD
    )
    assert loop.time() - started < 5
    assert modem.commands == ["AT+HANG", "AT", "AT+CFUN=1,1"]


async def test_resync_tries_zero_sends_no_probe_and_stale_answer_is_dropped(
    rig: PtyRig,
) -> None:
    def script(command: str) -> bytes | None:
        if command == "AT+SLOW":
            return None
        return b"\r\nOK\r\n"

    channel, modem = await rig.connect(script)
    with pytest.raises(AtTimeout):
        await asyncio.wait_for(channel.command("AT+SLOW", timeout=0.2), GUARD)
    modem.write(b"\r\n+SLOW: 1\r\n\r\nOK\r\n")  # the late answer, before the next command
    await asyncio.sleep(0.1)
    response = await asyncio.wait_for(channel.command("AT", resync_tries=0), GUARD)
    assert response.lines == [] and response.ok
    assert modem.commands == ["AT+SLOW", "AT"]
    # The next command gets the full resync again only after another abandoned command.
    await asyncio.wait_for(channel.command("AT"), GUARD)
    assert modem.commands == ["AT+SLOW", "AT", "AT"]


# -- the prompt hook, pacing, late answers, probe ---------------------------------------------


async def test_before_payload_runs_at_the_open_prompt_before_the_pdu(rig: PtyRig) -> None:
    channel, modem = await rig.connect(
        table({"AT+CMGS=23": PROMPT}),
        modem_kwargs={"on_pdu": lambda pdu: b"\r\n+CMGS: 42\r\n\r\nOK\r\n"},
    )
    seen: list[bytes] = []

    async def commit() -> None:
        await asyncio.sleep(0.05)  # a commit takes a while; the prompt stays open
        seen.append(bytes(modem.received))

    response = await asyncio.wait_for(
        channel.command("AT+CMGS=23", payload=PDU, before_payload=commit), GUARD
    )
    assert seen == [b"AT+CMGS=23\r"]  # the command was out, not a byte of the PDU
    assert modem.pdus == [PDU] and response.values("+CMGS") == ["42"]


async def test_before_payload_that_raises_escapes_and_sends_nothing(rig: PtyRig) -> None:
    channel, modem = await rig.connect(table({"AT+CMGS=23": PROMPT, **CSQ}))

    async def commit() -> None:
        raise OSError("database is locked")

    with pytest.raises(PayloadCancelled) as cancelled:
        await asyncio.wait_for(
            channel.command("AT+CMGS=23", payload=PDU, before_payload=commit, prompt_timeout=0.2),
            GUARD,
        )
    assert isinstance(cancelled.value.__cause__, OSError)
    assert bytes(modem.received) == b"AT+CMGS=23\r\x1b"
    assert modem.pdus == [] and modem.escapes == 1
    # This fake says nothing to ESC, so the next command resynchronises first.
    assert cancelled.value.modem_answered is False
    response = await asyncio.wait_for(channel.command("AT+CSQ"), GUARD)
    assert response.lines == ["+CSQ: 17,99"]
    assert modem.commands == ["AT+CMGS=23", "AT", "AT+CSQ"]


async def test_the_pdu_after_the_prompt_is_not_paced(rig: PtyRig) -> None:
    channel, modem = await rig.connect(
        table({"AT+CMGS=23": PROMPT, **CSQ}),
        modem_kwargs={"on_pdu": lambda pdu: b"\r\n+CMGS: 42\r\n\r\nOK\r\n"},
    )
    await asyncio.wait_for(channel.command("AT+CSQ"), GUARD)  # an exchange has just ended
    decisions: list[float] = []

    async def at_prompt() -> None:
        # From here on an hour's command_interval: had the PDU been paced (from the end of
        # AT+CSQ or from the AT+CMGS line just written), the send would hang.
        channel.min_interval = 3600
        decisions.append(channel.pace_delay(asyncio.get_running_loop().time()))

    response = await asyncio.wait_for(
        channel.command("AT+CMGS=23", payload=PDU, before_payload=at_prompt), GUARD
    )
    assert modem.pdus == [PDU] and response.values("+CMGS") == ["42"]
    assert decisions and decisions[0] > 3000  # a command line would have been held back...
    # ...not the PDU, written at once after the prompt.
    assert bytes(modem.received).endswith(b"AT+CMGS=23\r" + PDU.encode() + b"\x1a")


def test_pace_delay_counts_from_the_last_command_line_written() -> None:
    channel = AtChannel(min_interval=0.05)
    assert channel.pace_delay(100.0) == 0.0  # nothing sent yet
    channel._last_command_at = 100.0
    assert channel.pace_delay(100.01) == pytest.approx(0.04)
    assert channel.pace_delay(100.05) == 0.0
    assert AtChannel().pace_delay(0.0) == 0.0  # no interval in the profile


def _unanswered_cmgs(replies: dict[str, bytes | None]):
    return table({"AT+CMGS=23": PROMPT, **CSQ, **replies})  # type: ignore[dict-item]


async def _ambiguous_send(channel: AtChannel, late: list[str], **kwargs) -> None:
    with pytest.raises(AtTimeout) as timed_out:
        await asyncio.wait_for(
            channel.command("AT+CMGS=23", payload=PDU, timeout=0.2, response_prefix="+CMGS",
                            on_late_answer=late.append, **kwargs),
            GUARD,
        )
    assert timed_out.value.payload_written


async def test_late_answer_while_idle_is_passed_on(rig: PtyRig) -> None:
    channel, modem = await rig.connect(
        _unanswered_cmgs({}), modem_kwargs={"on_pdu": lambda pdu: None}
    )
    late: list[str] = []
    await _ambiguous_send(channel, late)
    modem.write(b"\r\n+CMGS: 12\r\n\r\nOK\r\n")
    await wait_until(lambda: late == ["+CMGS: 12"])
    response = await asyncio.wait_for(channel.command("AT+CSQ"), GUARD)
    assert response.lines == ["+CSQ: 17,99"]


async def test_late_answer_just_after_the_next_command_is_not_its_answer(rig: PtyRig) -> None:
    # The late "+CMGS: 12" + OK lands right after "AT+CSQ" was written (no resync probe
    # asked for): AT+CSQ must get its own answer, and the late one must reach its sender.
    channel, modem = await rig.connect(
        _unanswered_cmgs({"AT+CSQ": b"\r\n+CMGS: 12\r\n\r\nOK\r\n" + CSQ["AT+CSQ"]}),
        modem_kwargs={"on_pdu": lambda pdu: None},
    )
    late: list[str] = []
    await _ambiguous_send(channel, late)
    response = await asyncio.wait_for(channel.command("AT+CSQ", resync_tries=0), GUARD)
    assert response.lines == ["+CSQ: 17,99"] and response.ok
    assert late == ["+CMGS: 12"]


async def test_late_answer_during_the_resync_probe_takes_one_probe(rig: PtyRig) -> None:
    channel, modem = await rig.connect(
        _unanswered_cmgs({"AT": b"\r\n+CMGS: 12\r\n\r\nOK\r\n\r\nOK\r\n"}),
        modem_kwargs={"on_pdu": lambda pdu: None},
    )
    late: list[str] = []
    await _ambiguous_send(channel, late)
    response = await asyncio.wait_for(channel.command("AT+CSQ"), GUARD)
    assert response.lines == ["+CSQ: 17,99"] and late == ["+CMGS: 12"]
    assert modem.commands == ["AT+CMGS=23", "AT", "AT+CSQ"]  # the probe's OK was clean


async def test_late_answer_before_the_next_prompt_belongs_to_the_earlier_send(
    rig: PtyRig,
) -> None:
    sends = 0

    def script(command: str) -> bytes | None:
        nonlocal sends
        if command.startswith("AT+CMGS"):
            sends += 1
            return PROMPT if sends == 1 else b"\r\n+CMGS: 12\r\n\r\nOK\r\n" + PROMPT
        return b"\r\nOK\r\n"

    answers = iter([None, b"\r\n+CMGS: 13\r\n\r\nOK\r\n"])
    channel, modem = await rig.connect(script, modem_kwargs={"on_pdu": lambda _: next(answers)})
    late: list[str] = []
    await _ambiguous_send(channel, late)
    response = await asyncio.wait_for(
        channel.command("AT+CMGS=23", payload=PDU, response_prefix="+CMGS", resync_tries=0),
        GUARD,
    )
    assert response.values("+CMGS") == ["13"] and late == ["+CMGS: 12"]
    assert modem.pdus == [PDU, PDU]


async def test_late_answer_after_its_window_is_dropped_but_still_not_misread(
    rig: PtyRig,
) -> None:
    channel, modem = await rig.connect(
        _unanswered_cmgs({"AT+CSQ": b"\r\n+CMGS: 12\r\n\r\nOK\r\n" + CSQ["AT+CSQ"]}),
        modem_kwargs={"on_pdu": lambda pdu: None},
    )
    late: list[str] = []
    await _ambiguous_send(channel, late, late_answer_window=0.0)
    await asyncio.sleep(0.01)
    response = await asyncio.wait_for(channel.command("AT+CSQ", resync_tries=0), GUARD)
    assert response.lines == ["+CSQ: 17,99"] and late == []


async def test_probe_tells_an_answering_modem_from_a_silent_one(rig: PtyRig) -> None:
    answering = True
    channel, modem = await rig.connect(
        lambda command: b"\r\nOK\r\n" if answering else None
    )
    assert await asyncio.wait_for(channel.probe(timeout=1.0), GUARD) is True
    answering = False
    assert await asyncio.wait_for(channel.probe(timeout=0.2), GUARD) is False
    assert modem.commands == ["AT", "AT"]  # one bare AT each, no resync probes before
