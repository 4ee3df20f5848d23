"""+CMGS as hardware does it: prompt, PDU, Ctrl-Z or ESC, length checks, faults, the record."""

import asyncio
import dataclasses
from datetime import UTC, datetime

import pytest

from tests.sim.client import FINAL

pdu = pytest.importorskip("appliance.pdu", reason="appliance.pdu (the codec) is not there yet")

TO = "+8613912345678"


async def send(client, part, *, length=None, end=b"\x1a") -> str:
    """One +CMGS exchange; returns everything after the prompt up to the final result."""
    await client.write(f"AT+CMGS={length or part.tpdu_length}\r".encode())
    await client.read_until(b"\r\n> ")
    await client.write(part.pdu.encode() + end)
    return (await client.read_until(FINAL)).decode()


@pytest.fixture
def part():
    return pdu.encode_submit(TO, "Hello from cardgate", request_status_report=True)[0]


async def test_submit_prompts_then_answers_with_a_message_reference(rig, part):
    client = await rig.client()
    first_mr = rig.modem.profile.first_message_reference
    assert await send(client, part) == f"\r\n+CMGS: {first_mr}\r\n\r\nOK\r\n"
    assert await send(client, part) == f"\r\n+CMGS: {(first_mr + 1) % 256}\r\n\r\nOK\r\n"
    accepted = rig.modem.accepted
    assert [a.message_reference for a in accepted] == [first_mr, (first_mr + 1) % 256]
    assert accepted[0].submit.to == TO and accepted[0].submit.text == "Hello from cardgate"
    assert accepted[0].pdu == part.pdu and accepted[0].answered


async def test_message_reference_wraps_at_256(make_rig, part):
    from appliance.sim import make_profile

    rig = make_rig(dataclasses.replace(make_profile(0), first_message_reference=255))
    client = await rig.client()
    assert "+CMGS: 255" in await send(client, part)
    assert "+CMGS: 0" in await send(client, part)


async def test_the_prompt_echoes_when_echo_is_on(rig, part):
    client = rig.open()
    await client.write(f"AT+CMGS={part.tpdu_length}\r".encode())
    assert await client.read_until(b"\r\n> ") == f"AT+CMGS={part.tpdu_length}\r\r\n> ".encode()
    await client.write(part.pdu.encode() + b"\x1a")
    assert (await client.read_until(b"OK\r\n")).startswith(part.pdu.encode())


async def test_esc_aborts_without_sending(rig, part):
    client = await rig.client()
    assert await send(client, part, end=b"\x1b") == "\r\nOK\r\n"
    assert rig.modem.accepted == []


async def test_length_that_does_not_match_the_tpdu_is_cms_304(rig, part):
    client = await rig.client()
    await client.command("AT+CMEE=1")
    assert await send(client, part, length=part.tpdu_length + 1) == "\r\n+CMS ERROR: 304\r\n"
    assert rig.modem.accepted == []


async def test_a_pdu_that_is_not_a_submit_is_cms_304(rig):
    client = await rig.client()
    await client.command("AT+CMEE=1")
    deliver = pdu.encode_deliver(TO, "not a submit", datetime.now(UTC))[0]
    bogus = dataclasses.replace(pdu.encode_submit(TO, "x")[0], pdu=deliver,
                                tpdu_length=len(deliver) // 2 - 1 - int(deliver[:2], 16))
    assert await send(client, bogus) == "\r\n+CMS ERROR: 304\r\n"


async def test_fail_next_sends_gives_the_code_then_recovers(rig, part):
    client = await rig.client()
    await client.command("AT+CMEE=1")
    rig.modem.fail_next_sends(38, count=2)
    assert await send(client, part) == "\r\n+CMS ERROR: 38\r\n"
    await client.command("AT+CMEE=2")
    assert await send(client, part) == "\r\n+CMS ERROR: Network out of order\r\n"
    assert "+CMGS:" in await send(client, part)
    assert len(rig.modem.accepted) == 1


async def test_swallowed_send_is_recorded_but_never_answered(rig, part):
    client = await rig.client()
    rig.modem.swallow_next_sends()
    await client.write(f"AT+CMGS={part.tpdu_length}\r".encode())
    await client.read_until(b"\r\n> ")
    await client.write(part.pdu.encode() + b"\x1a")
    # The modem handles input in order: had it answered the submit, that answer would come
    # before the OK of this AT.
    assert await client.command("AT") == "\r\nOK\r\n"
    (accepted,) = rig.modem.accepted
    assert not accepted.answered and accepted.submit.text == "Hello from cardgate"


async def test_not_registered_is_cms_331(rig, part):
    client = await rig.client()
    await client.command("AT+CMEE=1")
    rig.modem.deregister()
    assert await send(client, part) == "\r\n+CMS ERROR: 331\r\n"


async def test_multipart_parts_are_recorded_with_their_concat(rig):
    client = await rig.client()
    parts = pdu.encode_submit(TO, "长" * 100, reference=9)
    assert len(parts) == 2
    for p in parts:
        assert "+CMGS:" in await send(client, p)
    concats = [(a.submit.concat.reference, a.submit.concat.count, a.submit.concat.index)
               for a in rig.modem.accepted]
    assert concats == [(9, 2, 1), (9, 2, 2)]
    assert "".join(a.submit.text for a in rig.modem.accepted) == "长" * 100


async def test_auto_status_report_follows_an_accepted_submit(rig, part):
    client = await rig.client()
    await client.command("AT+CNMI=2,1,0,1,0")
    rig.modem.auto_status_report = 0.01
    answer = await send(client, part)
    mr = int(answer.split("+CMGS: ")[1].split("\r")[0])
    head = await client.read_until(b"\r\n+CDS: ")
    assert head.endswith(b"+CDS: ")
    body = (await client.read_until(b"\r\n")) + (await client.read_until(b"\r\n"))
    report = pdu.decode_pdu(body.decode().split("\r\n")[1])
    assert report.message_reference == mr and report.status == 0
    assert report.recipient == TO


async def test_text_mode_submits_are_refused(rig, part):
    client = await rig.client()
    await client.command("AT+CMEE=1")
    await client.command("AT+CMGF=1")
    assert await client.info(f"AT+CMGS={part.tpdu_length}") == ["+CMS ERROR: 302"]


async def test_late_answer_is_recorded_at_once_and_answered_after_the_delay(make_rig, part,
                                                                            tmp_path):
    from appliance.sim.record import read_jsonl

    record = tmp_path / "sent.jsonl"
    rig = make_rig(record_path=record)
    client = await rig.client()
    rig.modem.answer_late_next_sends(3600.0)  # never within this test
    await client.write(f"AT+CMGS={part.tpdu_length}\r".encode())
    await client.read_until(b"\r\n> ")
    await client.write(part.pdu.encode() + b"\x1a")
    async with asyncio.timeout(10):  # a guard against a hang only
        while not rig.modem.accepted:
            await asyncio.sleep(0.01)
    await client._fill()
    # Transmitted and durably recorded (the PDU reached the modem) although unanswered.
    (accepted,) = rig.modem.accepted
    assert accepted.pdu == part.pdu and accepted.answered
    (line,) = read_jsonl(record)
    assert line["pdu"] == part.pdu and line["mr"] == accepted.message_reference
    assert b"+CMGS" not in client.buffer


async def test_commands_written_while_a_late_answer_is_due_are_answered_after_it(rig, part):
    client = await rig.client()
    rig.modem.answer_late_next_sends(0.2, count=1)
    mr = rig.modem.profile.first_message_reference
    await client.write(f"AT+CMGS={part.tpdu_length}\r".encode())
    await client.read_until(b"\r\n> ")
    await client.write(part.pdu.encode() + b"\x1a" + b"AT+CSQ\r")
    answers = (await client.read_until(b"+CSQ")).decode()
    answers += (await client.read_until(FINAL)).decode()
    # The late answer comes first, complete, then the command's own answer.
    assert f"\r\n+CMGS: {mr}\r\n\r\nOK\r\n\r\n+CSQ" in answers
    # Only the next send was late: the one after it is answered as usual.
    assert await send(client, part) == f"\r\n+CMGS: {(mr + 1) % 256}\r\n\r\nOK\r\n"


def test_answer_late_refuses_a_negative_delay(rig):
    with pytest.raises(ValueError, match="delay"):
        rig.modem.answer_late_next_sends(-1.0)

async def test_fault_rates_fail_and_swallow_submits_at_random_repeatably(make_rig, part):
    """set_fault_rates: a failed submit is answered +CMS ERROR and not recorded; a swallowed one
    is recorded unanswered; the same seed gives the same sequence."""
    outcomes = []
    for _ in range(2):
        rig = make_rig()
        client = await rig.client()
        await client.command("AT+CMEE=1")
        rig.modem.set_fault_rates(fail_rate=0.3, fail_code=500, swallow_rate=0.2, seed=7)
        seen = []
        for _ in range(40):
            await client.write(f"AT+CMGS={part.tpdu_length}\r".encode())
            await client.read_until(b"\r\n> ")
            # Input is handled in order: the submit's answer, if any, comes before +CGMI's.
            await client.write(part.pdu.encode() + b"\x1aAT+CGMI\r")
            marker = rig.modem.profile.manufacturer.encode() + b"\r\n\r\nOK\r\n"
            answer = (await client.read_until(marker)).decode()
            seen.append("fail" if "+CMS ERROR: 500" in answer
                        else "sent" if "+CMGS:" in answer else "swallowed")
        counts = rig.modem.fault_counts
        assert counts == {"failed": seen.count("fail"), "swallowed": seen.count("swallowed")}
        assert counts["failed"] > 0 and counts["swallowed"] > 0 and "sent" in seen
        accepted = rig.modem.accepted
        assert len(accepted) == seen.count("sent") + seen.count("swallowed")
        assert [a.answered for a in accepted] == [s == "sent" for s in seen if s != "fail"]
        outcomes.append(seen)
    assert outcomes[0] == outcomes[1]


async def test_fault_rates_off_by_default_and_queued_faults_come_first(rig, part):
    client = await rig.client()
    await client.command("AT+CMEE=1")
    assert rig.modem.fault_counts == {"failed": 0, "swallowed": 0}
    rig.modem.set_fault_rates(fail_rate=1.0, fail_code=38)
    rig.modem.fail_next_sends(21)
    assert "+CMS ERROR: 21" in await send(client, part)
    assert "+CMS ERROR: 38" in await send(client, part)
    rig.modem.set_fault_rates()
    assert "+CMGS:" in await send(client, part)
    assert rig.modem.fault_counts == {"failed": 0, "swallowed": 0}


@pytest.mark.parametrize("kwargs", [{"fail_rate": 1.5}, {"swallow_rate": -0.1},
                                    {"fail_rate": float("nan")},
                                    {"fail_rate": 0.6, "swallow_rate": 0.6},
                                    {"fail_rate": 0.1, "fail_code": 600}])
def test_fault_rates_refuse_nonsense(kwargs):
    from appliance.sim import SimulatedModem, make_profile

    modem = SimulatedModem.__new__(SimulatedModem)  # no event loop needed to validate
    modem.profile = make_profile(0)
    with pytest.raises(ValueError, match="fail_rate|swallow_rate|fail_code"):
        modem.set_fault_rates(**kwargs)
