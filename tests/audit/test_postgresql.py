"""The audit log on PostgreSQL (a fleet's database): the chain, and the trigger that refuses
UPDATE and DELETE. Skipped, with the reason, where no server can be started."""

from __future__ import annotations

import peewee
import pytest

from appliance.audit import Actor, append
from appliance.store import audit as audit_store

pytest_plugins = ["tests.store.pg_server"]  # pg_db (skipped where PostgreSQL cannot run)

ADMIN = Actor("user", "1", "alice", "10.0.0.5", "api")


def test_the_chain_and_the_trigger_on_postgresql(pg_db):
    with pg_db.atomic():
        for i in range(5):
            append(ADMIN, "user.change", f"user:{i}", {"n": i, "名": "张"})
    check = audit_store.verify_chain(batch=2)
    assert check.ok and check.entries == 5
    for sql in ("UPDATE audit_entry SET target = 'x' WHERE seq = 2",
                "DELETE FROM audit_entry WHERE seq = 2"):
        with pytest.raises(peewee.DatabaseError, match="append-only"), pg_db.atomic():
            pg_db.execute_sql(sql)
    pg_db.execute_sql("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_change")
    pg_db.execute_sql("UPDATE audit_entry SET target = 'x' WHERE seq = 3")
    pg_db.execute_sql("ALTER TABLE audit_entry ENABLE TRIGGER audit_entry_no_change")
    check = audit_store.verify_chain()
    assert (check.ok, check.bad_seq) == (False, 3)
