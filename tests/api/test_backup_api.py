"""`POST /api/v1/backup`: an admin downloads a consistent backup of the running appliance
(the same checked archive as `cardgate backup`), which restores into a fresh folder with the
messages it held; other keys are refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from appliance.backup import DB_MEMBER, read_backup, restore_backup
from tests.api.conftest import running

KEYS = {"full": ["send", "read"], "boss": ["admin"]}


async def test_an_admin_downloads_a_backup_that_restores(tmp_path: Path):
    async with running(tmp_path, keys=KEYS) as gw:
        sent = await gw.post("/api/v1/messages", "full", json={"to": "+8613800138000",
                                                               "text": "备份前的一条通知"})
        assert sent.status_code == 202, sent.text
        refused = await gw.client.post("/api/v1/backup", headers=gw.auth("full"))
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "forbidden"
        body = await gw.client.post("/api/v1/backup", headers=gw.auth("boss"),
                                    json={"password": "x"})
        assert body.status_code == 400, body.text
        assert "password" in body.json()["error"]["message"]  # the unexpected field, named
        got = await gw.client.post("/api/v1/backup", headers=gw.auth("boss"))
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == "application/gzip"
        assert "attachment" in got.headers["content-disposition"]
        assert ".tar.gz" in got.headers["content-disposition"]
        kept = list((tmp_path / "backups").glob("cardgate-backup-*.tar.gz"))
        assert len(kept) == 1 and kept[0].read_bytes() == got.content  # a copy on the box
    archive = tmp_path / "downloaded.tar.gz"
    archive.write_bytes(got.content)
    manifest, members = read_backup(archive)  # every member's sha256 checked
    assert manifest["schema_version"] == int(got.headers["x-cardgate-schema-version"])
    assert DB_MEMBER in members
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    restore_backup(archive, f"sqlite:///{fresh / 'cg.db'}", None)
    with sqlite3.connect(fresh / "cg.db") as db:
        texts = [row[0] for row in db.execute("SELECT text FROM message")]
    assert texts == ["备份前的一条通知"]
