"""Messages from the network: +CMTI/+CMT/+CDS/+CDSI per +CNMI, the store, +CMGR/+CMGL/+CMGD."""

import asyncio
import dataclasses
import re

import pytest

from appliance.sim import make_profile

pdu = pytest.importorskip("appliance.pdu", reason="appliance.pdu (the codec) is not there yet")

SENDER = "+8613800138000"


async def test_injected_sms_is_announced_read_and_deleted(rig):
    client = await rig.client()
    await client.command("AT+CMEE=1")
    await client.command("AT+CNMI=2,1,0,0,0")
    (index,) = rig.modem.inject_sms(SENDER, "你好, cardgate")
    assert await client.read_until(f'\r\n+CMTI: "SM",{index}\r\n'.encode())
    header, body, final = await client.info(f"AT+CMGR={index}")
    assert final == "OK"
    assert header == f"+CMGR: 0,,{rig.modem.tpdu_length(body)}"
    deliver = pdu.decode_pdu(body)
    assert deliver.sender == SENDER and deliver.text == "你好, cardgate"
    assert (await client.info(f"AT+CMGR={index}"))[0].startswith("+CMGR: 1,")  # now read
    assert await client.info(f"AT+CMGD={index}") == ["OK"]
    assert await client.info(f"AT+CMGR={index}") == ["+CMS ERROR: 321"]


async def test_without_cnmi_messages_are_stored_silently(rig):
    client = await rig.client()
    rig.modem.inject_sms(SENDER, "quiet")
    assert await client.command("AT") == "\r\nOK\r\n"  # no +CMTI before the OK
    assert rig.modem.store.used == 1


async def test_messages_stored_before_start_are_listed_by_cmgl_4(rig):
    first = rig.modem.inject_sms(SENDER, "old one", stored_before_start=True)
    second = rig.modem.inject_sms("+8618600000000", "older", stored_before_start=True)
    client = await rig.client()
    await client.command("AT+CNMI=2,1,0,0,0")
    lines = await client.info("AT+CMGL=4")
    headers = [line for line in lines if line.startswith("+CMGL:")]
    assert [int(re.match(r"\+CMGL: (\d+),0,,\d+", h).group(1)) for h in headers] == \
        first + second
    texts = [pdu.decode_pdu(line).text for line in lines[1:-1:2]]
    assert texts == ["old one", "older"]
    assert await client.info("AT+CMGL=0") == ["OK"]  # listing marked them read
    assert len(await client.info("AT+CMGL=1")) == 5


async def test_long_text_arrives_in_parts_each_announced(rig):
    client = await rig.client()
    await client.command("AT+CNMI=2,1,0,0,0")
    indexes = rig.modem.inject_sms(SENDER, "x" * 200, concat_bits=16)
    assert len(indexes) == 2
    for index in indexes:
        await client.read_until(f'+CMTI: "SM",{index}\r\n'.encode())
    parts = [pdu.decode_pdu(rig.modem.store.slots[i].pdu) for i in indexes]
    assert [(p.concat.count, p.concat.index, p.concat.bits) for p in parts] == [(2, 1, 16),
                                                                                (2, 2, 16)]
    assert parts[0].concat.reference == parts[1].concat.reference


async def test_cnmi_mt_2_shows_the_message_directly_without_storing(rig):
    client = await rig.client()
    await client.command("AT+CNMI=2,2,0,0,0")
    assert rig.modem.inject_sms(SENDER, "direct") == [None]
    head = await client.read_until(re.compile(rb"\+CMT: ,(\d+)\r\n[0-9A-F]+\r\n"))
    body = head.decode().split("\r\n")[-2]
    assert pdu.decode_pdu(body).text == "direct"
    assert int(re.search(r"\+CMT: ,(\d+)", head.decode()).group(1)) == \
        rig.modem.tpdu_length(body)
    assert rig.modem.store.used == 0


async def test_status_report_direct_with_ds_1(rig):
    client = await rig.client()
    await client.command("AT+CNMI=2,1,0,1,0")
    assert rig.modem.inject_status_report(42, status=0) is None
    head = await client.read_until(re.compile(rb"\+CDS: (\d+)\r\n[0-9A-F]+\r\n"))
    report = pdu.decode_pdu(head.decode().split("\r\n")[-2])
    assert report.message_reference == 42 and report.delivered


async def test_status_report_stored_with_ds_2(rig):
    client = await rig.client()
    await client.command("AT+CNMI=2,1,0,2,0")
    index = rig.modem.inject_status_report(7, status=0x46)
    await client.read_until(f'\r\n+CDSI: "SM",{index}\r\n'.encode())
    _, body, _ = await client.info(f"AT+CMGR={index}")
    report = pdu.decode_pdu(body)
    assert report.message_reference == 7 and report.failed


async def test_a_full_store_refuses_and_counts_arrivals(make_rig):
    rig = make_rig(dataclasses.replace(make_profile(0), storage_capacity=2))
    client = await rig.client()
    await client.command("AT+CNMI=2,1,0,0,0")
    assert rig.modem.inject_sms(SENDER, "a") == [0]
    assert rig.modem.inject_sms(SENDER, "b") == [1]
    assert rig.modem.inject_sms(SENDER, "c") == [None]
    assert rig.modem.store.refused == 1
    await client.read_until(b'\r\n+CMTI: "SM",1\r\n')
    await client.read_until(f"\r\n{rig.modem.profile.memory_full_urc}\r\n".encode())
    assert await client.info('AT+CPMS="SM"') == ["+CPMS: 2,2,2,2,2,2", "OK"]


async def test_urcs_wait_while_the_prompt_is_open(rig):
    client = await rig.client()
    await client.command("AT+CNMI=2,1,0,0,0")
    part = pdu.encode_submit("+8613912345678", "hi")[0]
    await client.write(f"AT+CMGS={part.tpdu_length}\r".encode())
    await client.read_until(b"\r\n> ")
    (index,) = rig.modem.inject_sms(SENDER, "mid-prompt")
    await client.write(part.pdu.encode() + b"\x1a")
    after = await client.read_until(f'+CMTI: "SM",{index}\r\n'.encode())
    assert after.index(b"+CMGS:") < after.index(b"+CMTI:")


async def test_cmgd_delete_flag_4_empties_the_store(rig):
    client = await rig.client()
    rig.modem.inject_sms(SENDER, "a", stored_before_start=True)
    rig.modem.inject_sms(SENDER, "b", stored_before_start=True)
    assert await client.info("AT+CMGD=0,4") == ["OK"]
    assert await client.info("AT+CMGL=4") == ["OK"]


async def test_cnma_records_acks_when_csms_1_and_errors_when_nothing_waits(rig):
    client = await rig.client()
    assert await client.info("AT+CMEE=1") == ["OK"]
    assert await client.info("AT+CNMA") == ["+CMS ERROR: 340"]  # +CSMS=0: no ack expected
    assert (await client.info("AT+CSMS=1"))[-1] == "OK"
    assert await client.info("AT+CNMI=2,2,0,1,0") == ["OK"]
    assert await client.info("AT+CNMA") == ["+CMS ERROR: 340"]  # nothing shown yet
    rig.modem.inject_sms("+8613800138000", "ack me")
    shown = (await client.read_until(re.compile(rb"\+CMT: [^\r]*\r\n[0-9A-F]+\r\n"))).decode()
    pdu = shown.strip().split("\r\n")[-1]
    assert await client.info("AT+CNMA") == ["OK"]
    assert rig.modem.acknowledged == [pdu]
    assert await client.info("AT+CNMA") == ["+CMS ERROR: 340"]  # each +CMT is acked once


async def test_unacknowledged_cmt_stops_direct_routing(rig):
    client = await rig.client()
    for line in ("AT+CSMS=1", "AT+CNMI=2,2,0,1,0"):
        assert (await client.info(line))[-1] == "OK"
    rig.modem.ack_timeout = 0.1
    rig.modem.inject_sms("+8613800138000", "nobody acks this")
    await client.read_until(re.compile(rb"\+CMT: [^\r]*\r\n[0-9A-F]+\r\n"))
    await asyncio.sleep(0.3)
    assert len(rig.modem.unacknowledged) == 1 and rig.modem.acknowledged == []
    assert rig.modem.cnmi[1] == 0 and rig.modem.cnmi[3] == 0  # TS 27.005 §3.4.1
    assert rig.modem.inject_sms("+8613800138000", "stored now") != [None]


async def test_cnma_2_is_a_negative_ack(rig):
    client = await rig.client()
    for line in ("AT+CSMS=1", "AT+CNMI=2,2,0,1,0"):
        assert (await client.info(line))[-1] == "OK"
    rig.modem.inject_sms("+8613800138000", "refused")
    await client.read_until(re.compile(rb"\+CMT: [^\r]*\r\n[0-9A-F]+\r\n"))
    assert await client.info("AT+CNMA=2") == ["OK"]
    assert len(rig.modem.unacknowledged) == 1 and rig.modem.acknowledged == []


async def test_inject_raw_pdu_stores_or_shows_it_verbatim(rig):
    client = await rig.client()
    assert await client.info("AT+CNMI=2,1,0,2,0") == ["OK"]
    slot = rig.modem.inject_raw_pdu("ZZ" * 5)
    await client.read_until(f'+CMTI: "SM",{slot}'.encode())
    assert await client.info(f"AT+CMGR={slot}") == ["+CMGR: 0,,5", "ZZZZZZZZZZ", "OK"]
    assert await client.info("AT+CNMI=2,2,0,1,0") == ["OK"]
    assert rig.modem.inject_raw_pdu("123", length=99) is None
    await client.read_until(b"+CMT: ,99\r\n123\r\n")


async def test_heard_records_command_lines(rig):
    client = await rig.client()
    await client.info("AT+CSQ")
    assert list(rig.modem.heard)[-2:] == ["ATE0", "AT+CSQ"]
