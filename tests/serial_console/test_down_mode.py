"""The console while the appliance is down: it says so, shows the database read-only, and says
how to start the appliance; commands that need it say that instead of failing."""

from __future__ import annotations

import hashlib
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pexpect
import pytest

from appliance.backup import restore_backup
from appliance.serial_console import system
from appliance.serial_console.offline import snapshot
from appliance.store.acceptance import NewMessage, accept_messages
from appliance.store.inbox import receive_part
from appliance.store.service import run_in_database
from appliance.store.sims import list_sims, upsert_modem_and_sim
from tests.serial_console.conftest import login, write_config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


def fill(url: str) -> None:
    def write() -> None:
        upsert_modem_and_sim(imei="861234567890123", manufacturer="Quectel", model="EC20",
                             revision="R1", port="/dev/ttyUSB2", iccid="89860012345678901234",
                             imsi="460001234567890", operator="CHINA MOBILE",
                             operator_code="46000", own_number="", now=NOW)
        accept_messages([NewMessage(recipient="+8613800138000", text="queued one")], now=NOW)
        receive_part(iccid="89860012345678901234", modem="/dev/ttyUSB2",
                     sender="+8613900139000", number="+8613900139000", text="收到，谢谢",
                     smsc_at=NOW, arrived_at=NOW, concat_ref=None, concat_count=1,
                     concat_index=1, smsc=None, pdu=hashlib.sha256(b"x").hexdigest())

    run_in_database(url, write)


def test_down_mode_shows_the_database_and_how_to_start(tmp_path: Path) -> None:
    config = write_config(tmp_path, with_modems=False)
    fill(f"sqlite:///{tmp_path / 'cardgate.db'}")
    env = {**os.environ, "LANG": "C.UTF-8", "TERM": "vt100", "PYTHONPATH": str(ROOT)}
    child = pexpect.spawn(sys.executable, ["-m", "tests.serial_console.down_console",
                                           str(config)], env=env, cwd=str(ROOT),
                          dimensions=(24, 80), encoding="utf-8", timeout=20)
    try:
        child.expect("The appliance is not running")
        child.expect("Start it with 'restart'")
        login(child)
        child.expect("tech@cardgate>")
        child.sendline("modems")
        child.expect("861234567890123")
        child.expect("read from the database file")
        child.sendline("status")
        child.expect("queued 1")
        child.expect("1 received")
        child.sendline("inbox")
        child.expect("收到，谢谢")
        child.sendline("send +8613800138000 hi")
        child.expect("'send' needs the running appliance")
        if not system.has_systemd():  # never restart a real service from a test
            child.sendline("restart")
            child.expect("cardgate run --config")
        child.sendline("backup")
        child.expect(r"Backup written: (\S+\.tar\.gz)")
        assert Path(child.match.group(1)).is_file()
        child.sendline("factory-reset")
        child.expect("Type ERASE to go on:")
        child.sendline("erase")
        child.expect("Nothing erased.")
        assert (tmp_path / "cardgate.db").exists()
        child.sendline("factory-reset")
        child.expect("Type ERASE to go on:")
        child.sendline("ERASE")
        child.expect(r"Erased\. The old database is kept in (\S+\.tar\.gz);")
        kept = Path(child.match.group(1))
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert not (tmp_path / "cardgate.db").exists()
    # What was erased is in the backup it made first.
    restored = tmp_path / "restored"
    restore_backup(kept, f"sqlite:///{restored / 'cardgate.db'}", None)
    assert run_in_database(f"sqlite:///{restored / 'cardgate.db'}",
                           lambda: list_sims()[0]["iccid"]) == "89860012345678901234"


def test_the_offline_view_does_not_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cardgate.db'}"
    fill(url)
    before = (tmp_path / "cardgate.db").read_bytes()
    data = snapshot(url)
    assert data["messages"]["queued"] == 1 and data["inbox"][0]["text"] == "收到，谢谢"
    assert (tmp_path / "cardgate.db").read_bytes() == before
