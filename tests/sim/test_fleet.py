"""A fleet in a directory, its JSONL records, and `python -m appliance.sim` as a process."""

import os
import signal
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import serial

from appliance.sim import SimFleet, read_jsonl
from tests.sim.client import FINAL, Client

pdu = pytest.importorskip("appliance.pdu", reason="appliance.pdu (the codec) is not there yet")
ROOT = Path(__file__).resolve().parents[2]


async def _send(client: Client, part) -> str:
    await client.write(f"AT+CMGS={part.tpdu_length}\r".encode())
    await client.read_until(b"\r\n> ")
    await client.write(part.pdu.encode() + b"\x1a")
    return (await client.read_until(FINAL)).decode()


async def test_fleet_makes_symlinks_to_distinct_modems(tmp_path):
    async with SimFleet(3, tmp_path) as fleet:
        imeis = set()
        for index in range(3):
            link = tmp_path / f"modem{index}"
            assert os.path.realpath(link) == fleet.ports[index].path
            client = Client(str(link))
            try:
                (imei, ok) = [x for x in (await client.command("AT+CGSN")).split("\r\n")
                              if x and not x.startswith("AT")]
                assert ok == "OK"
                imeis.add(imei)
            finally:
                client.close()
        assert imeis == {m.profile.imei for m in fleet.modems} and len(imeis) == 3
        assert len(fleet.describe()) == 3
    assert not any(os.path.lexists(tmp_path / f"modem{i}") for i in range(3))


async def test_every_accepted_pdu_is_on_disk_before_the_answer(tmp_path):
    async with SimFleet(1, tmp_path) as fleet:
        modem = fleet.modems[0]
        client = Client(str(tmp_path / "modem0"))
        try:
            parts = pdu.encode_submit("+8613912345678", "记录" * 40, reference=5)
            with mock.patch("appliance.sim.record.os.fsync", wraps=os.fsync) as fsync:
                answer = await _send(client, parts[0])
                records = read_jsonl(tmp_path / "modem0.jsonl")  # read right at the answer
                assert fsync.call_count == 1
            modem.swallow_next_sends()
            await client.write(f"AT+CMGS={parts[1].tpdu_length}\r".encode())
            await client.read_until(b"\r\n> ")
            await client.write(parts[1].pdu.encode() + b"\x1a")
            await client.command("AT")  # processed after the swallowed submit
        finally:
            client.close()
        (first,) = records
        assert f"\r\n+CMGS: {first['mr']}\r\n" in answer
        assert first["imei"] == modem.profile.imei and first["iccid"] == modem.profile.iccid
        assert first["to"] == "+8613912345678" and first["concat"] == [5, 2, 1]
        assert first["pdu"] == parts[0].pdu and first["answered"] is True
        assert first["text"] == parts[0].text
        second = read_jsonl(tmp_path / "modem0.jsonl")[1]
        assert second["answered"] is False and second["concat"] == [5, 2, 2]


def test_python_m_appliance_sim_runs_until_sigterm(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "appliance.sim", "--count", "2", "--dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        assert "ready" in lines[2], lines
        for index in range(2):
            link = tmp_path / f"modem{index}"
            assert os.path.realpath(link).startswith("/dev/pts/")
            assert f"{link} -> " in lines[index] and "IMEI" in lines[index]
        with serial.Serial(str(tmp_path / "modem1"), timeout=10) as port:
            port.write(b"AT\r")
            assert port.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not os.path.lexists(tmp_path / "modem0")
    assert not os.path.lexists(tmp_path / "modem1")
