"""The audit log on a real SQLite file: the chain verifies, the triggers refuse changes, an
entry edited behind them is found by its seq, exports stream every column."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import peewee
import pytest

from appliance.audit import Actor, append
from appliance.audit.export import chunks
from appliance.store import audit as audit_store
from appliance.store.db import open_database
from appliance.store.migrations import migrate

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = Actor("user", "1", "alice", "10.0.0.5", "api")


@pytest.fixture
def db(tmp_path: Path):
    database = open_database(f"sqlite:///{tmp_path / 'cg.db'}")
    migrate(database)
    yield database
    database.close()


def fill(db: peewee.Database, count: int) -> None:
    with db.atomic():
        for i in range(count):
            append(ADMIN, "rule.create" if i % 2 else "user.change", f"thing:{i}",
                   {"n": i, "名字": "张三", "nested": {"b": 1, "a": [1, 2]}},
                   at=T0 + timedelta(seconds=i))


def test_the_chain_verifies_and_links(db):
    fill(db, 25)
    check = audit_store.verify_chain(batch=7)  # several batches
    assert check.ok and check.entries == 25 and check.bad_seq is None
    rows = audit_store.list_entries(limit=100, ascending=True)
    assert [r["seq"] for r in rows] == list(range(1, 26))
    assert rows[0]["prev_hash"] == audit_store.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(rows, rows[1:], strict=False))
    assert check.last_hash == rows[-1]["hash"]
    assert json.loads(rows[3]["detail"]) == {"n": 3, "名字": "张三",
                                             "nested": {"a": [1, 2], "b": 1}}


def test_an_empty_log_verifies(db):
    check = audit_store.verify_chain()
    assert check.ok and check.entries == 0


@pytest.mark.parametrize("sql", [
    "UPDATE audit_entry SET target = 'x' WHERE seq = 2",
    "DELETE FROM audit_entry WHERE seq = 2",
])
def test_triggers_refuse_update_and_delete(db, sql):
    fill(db, 3)
    with pytest.raises(peewee.IntegrityError, match="append-only"):
        db.execute_sql(sql)
    assert audit_store.verify_chain().ok


def tamper(path: Path, *statements: str) -> None:
    """What someone with the file does: drop the triggers, then edit with raw SQL."""
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER audit_entry_no_update")
    con.execute("DROP TRIGGER audit_entry_no_delete")
    for sql in statements:
        con.execute(sql)
    con.commit()
    con.close()


@pytest.mark.parametrize(("statements", "bad_seq", "why"), [
    (["UPDATE audit_entry SET detail = '{\"n\":99}' WHERE seq = 7"], 7, "edited"),
    (["UPDATE audit_entry SET actor_name = 'mallory' WHERE seq = 12"], 12, "edited"),
    (["UPDATE audit_entry SET at = '2026-03-01 09:00:00.000000' WHERE seq = 3"], 3, "edited"),
    (["DELETE FROM audit_entry WHERE seq = 9"], 10, "missing"),
    # an edit whose hash is recomputed still breaks the link of the next entry
    (["UPDATE audit_entry SET hash = 'f' || substr(hash, 2) WHERE seq = 5"], 5, "edited"),
])
def test_a_tampered_entry_is_named_by_its_seq(db, tmp_path, statements, bad_seq, why):
    fill(db, 15)
    db.close()
    tamper(tmp_path / "cg.db", *statements)
    check = audit_store.verify_chain(batch=4)
    assert not check.ok
    assert check.bad_seq == bad_seq
    assert why in check.reason


def test_a_rehashed_edit_breaks_the_next_link(db, tmp_path):
    fill(db, 6)
    row = audit_store.list_entries(limit=1, since=3, ascending=True)[0]
    forged = {**row, "target": "forged"}
    new_hash = audit_store.entry_hash(row["prev_hash"], forged)
    db.close()
    tamper(tmp_path / "cg.db", f"UPDATE audit_entry SET target = 'forged', hash = '{new_hash}'"
                               " WHERE seq = 4")
    check = audit_store.verify_chain()
    assert (check.ok, check.bad_seq) == (False, 5)
    assert "prev_hash" in check.reason


def test_export_jsonl_keeps_every_column_and_can_be_rechecked(db):
    fill(db, 5)
    text = "".join(chunks("jsonl", [audit_store.entries_after(0, limit=2),
                                    audit_store.entries_after(2, limit=10)]))
    lines = [json.loads(line) for line in text.splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3, 4, 5]
    assert set(lines[0]) == set(audit_store.COLUMNS)
    prev = audit_store.GENESIS
    for e in lines:  # the chain re-checked from the file alone
        entry = {**e, "at": datetime.fromisoformat(e["at"])}
        assert audit_store.entry_hash(prev, entry) == e["hash"]
        prev = e["hash"]


def test_export_csv_has_a_header_and_defuses_formulas(db):
    with db.atomic():
        append(Actor("user", "2", "=HYPERLINK(\"x\")", "", "api"), "user.change", "-1+1", {})
        append(ADMIN, "rule.create", "rule:1", {"k": "v,with,commas"})
    text = "".join(chunks("csv", [audit_store.entries_after(0)]))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(audit_store.COLUMNS)
    assert rows[1][4] == "'=HYPERLINK(\"x\")" and rows[1][8] == "'-1+1"
    assert json.loads(rows[2][9]) == {"k": "v,with,commas"}
    assert len(rows) == 3


def test_filters_and_since(db):
    fill(db, 10)
    assert {r["action"] for r in audit_store.list_entries(action="rule")} == {"rule.create"}
    assert len(audit_store.list_entries(action="rule.create")) == 5
    assert audit_store.list_entries(action="rul") == []
    late = list(audit_store.iter_entries(since_time=T0 + timedelta(seconds=7), batch=2))
    assert [r["seq"] for r in late] == [8, 9, 10]


def test_entries_appended_as_a_group_chain_like_single_ones(db):
    """AuditLog writes the send requests' entries as a group (one read of the chain's end):
    the group continues the chain, and stores what one-by-one appends would have."""
    from appliance.audit import append_many

    fill(db, 3)
    group = [(ADMIN, "message.send", f"message:{i}", {"n": i, "名字": "张三"},
              T0 + timedelta(minutes=i)) for i in range(5)]
    with db.atomic():
        assert append_many(group) == [4, 5, 6, 7, 8]
        assert append_many([]) == []
    fill(db, 1)  # a single append after the group chains to its last entry
    check = audit_store.verify_chain(batch=4)
    assert check.ok and check.entries == 9
    rows = db.execute_sql('SELECT "seq", "target", "detail" FROM "audit_entry" '
                          'WHERE "seq" BETWEEN 4 AND 8 ORDER BY "seq"').fetchall()
    assert [(r[0], r[1], json.loads(r[2])["n"]) for r in rows] == \
        [(4 + i, f"message:{i}", i) for i in range(5)]
