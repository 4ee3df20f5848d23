"""The store against a real PostgreSQL server (the fleet setup of DESIGN.md "Storage").

The same public functions as the SQLite tests, on a throwaway cluster (tests/store/pg_server.py)
with a fresh database per test; skipped, with the reason, when the server binaries or psycopg2
are missing. What only PostgreSQL can show is tested here too: FOR UPDATE SKIP LOCKED claims
from concurrent connections, migrations racing from two processes, savepoints in group commit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import peewee
import pytest

from appliance.store.apikeys import create_api_key, has_scope, revoke_api_key, verify_api_key
from appliance.store.db import open_database, postgresql_params
from appliance.store.messages import (
    IdempotencyConflict,
    NewMessage,
    NewPart,
    accept_messages,
    add_parts,
    cancel_message,
    claim_messages,
    expire_due,
    get_message,
    next_concat_ref,
    recover_after_crash,
    release_claims_for_sim,
    requeue_message,
    transition_message,
    transition_part,
)
from appliance.store.migrations import MIGRATIONS, SchemaTooNew, migrate, schema_version
from appliance.store.models import ALL_MODELS, ApiKey, Message, MessageEvent, Part, Setting, Sim
from appliance.store.states import InvalidTransition
from appliance.store.writer import Store

pytest_plugins = ["tests.store.pg_server"]  # the server and database fixtures

NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
SIM_A = "89860000000000000001"
SIM_B = "89860000000000000002"
WAIT = 10  # seconds: far above any step here; only a lock wait (a bug) gets near it


def msg(n: int = 1, **kw) -> NewMessage:
    return NewMessage(recipient=f"+86138000000{n:02d}", text=f"text {n}", **kw)


def accept(db, *requests: NewMessage) -> list[int]:
    with db.atomic():
        return accept_messages(list(requests), now=NOW)


def claim(db, sim: str, limit: int = 10, **kw) -> list[int]:
    with db.atomic():
        return [m.id for m in claim_messages(sim, limit, NOW, **kw)]


def claim_with_parts(db, sim: str, n_parts: int) -> int:
    (msg_id,) = accept(db, msg(99))
    assert claim(db, sim, candidate_ids=[msg_id]) == [msg_id]
    with db.atomic():
        add_parts(msg_id, sim, [NewPart(pdu="00", tpdu_length=1, concat_ref=7)] * n_parts)
    return msg_id


def part_states(msg_id: int) -> list[str]:
    return [p["state"] for p in get_message(msg_id)["parts"]]


def raw_query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Through a connection of our own: only committed rows are visible to it."""
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def in_thread(fn, timeout: float = WAIT):
    """Run `fn` on a new thread (so: on its own peewee connection) and return its result."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=timeout)


def lock_timeout(db: peewee.Database) -> None:
    """Bound this thread's lock waits, so a missing SKIP LOCKED fails instead of hanging."""
    db.execute_sql("SET lock_timeout = '5s'")


# -- schema ----------------------------------------------------------------------------------


def test_fresh_database_reaches_the_newest_version(pg_url: str):
    assert postgresql_params(pg_url)["host"] == "127.0.0.1"  # over TCP, as a fleet would
    db = open_database(pg_url)
    assert isinstance(db, peewee.PostgresqlDatabase)
    try:
        assert schema_version(db) == 0
        assert migrate(db) == len(MIGRATIONS)
        assert migrate(db) == len(MIGRATIONS)  # running again is harmless
        assert raw_query(pg_url, "SELECT version FROM schema_version ORDER BY version") == [
            (n,) for n in range(1, len(MIGRATIONS) + 1)]
        assert {m._meta.table_name for m in ALL_MODELS} | {"schema_version"} == set(
            db.get_tables()
        )
    finally:
        db.close()


PG_TYPES = {
    "AUTO": "integer", "INT": "integer", "VARCHAR": "character varying", "TEXT": "text",
    "DATETIME": "timestamp without time zone", "BOOL": "boolean", "FLOAT": "real",
    "BIGINT": "bigint",  # message.content_hash (migration 12)
}


def test_models_agree_with_the_migrated_schema(pg_db: peewee.Database):
    """Names, types, lengths and NULLs: a model changed without a migration fails here."""
    for model in ALL_MODELS:
        table = model._meta.table_name
        columns = {
            name: (dtype, length, nullable == "YES")
            for name, dtype, length, nullable in pg_db.execute_sql(
                "SELECT column_name, data_type, character_maximum_length, is_nullable "
                "FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = %s", (table,)
            )
        }
        fields = {
            f.column_name: (
                PG_TYPES[f.field_type],
                f.max_length if f.field_type == "VARCHAR" else None,
                f.null,
            )
            for f in model._meta.sorted_fields
        }
        assert columns == fields, model.__name__


def test_indexes_and_foreign_keys_agree_with_the_models(pg_db: peewee.Database):
    for model in ALL_MODELS:
        table = model._meta.table_name
        indexes = {
            (tuple(i.columns), i.unique) for i in pg_db.get_indexes(table)
            if not i.name.endswith("_pkey")
        }
        wanted = {
            (tuple(e.column_name for e in i._expressions), bool(i._unique))
            for i in model._meta.fields_to_index()
        }
        assert indexes == wanted, model.__name__
        fks = {(fk.column, fk.dest_table, fk.dest_column) for fk in pg_db.get_foreign_keys(table)}
        assert fks == {
            (f.column_name, f.rel_model._meta.table_name, f.rel_field.column_name)
            for f in model._meta.refs
        }, model.__name__
    claiming = {tuple(i.columns) for i in pg_db.get_indexes("message")}
    assert ("state", "priority", "id") in claiming and ("sim", "state") in claiming


def test_two_processes_migrating_at_once_apply_each_step_once(pg_url: str):
    """Two gateways of a fleet starting together on a new database."""
    barrier = threading.Barrier(2)

    def start_one() -> int:
        db = open_database(pg_url, bind=False)
        try:
            barrier.wait(WAIT)
            return migrate(db)
        finally:
            db.close()

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = [f.result(timeout=WAIT) for f in [pool.submit(start_one) for _ in range(2)]]
    newest = len(MIGRATIONS)
    assert results == [newest, newest]
    assert raw_query(pg_url, "SELECT version FROM schema_version ORDER BY version") == [
        (n,) for n in range(1, newest + 1)]


@pytest.fixture
def fresh_db(pg_url: str):
    """A database of its own, migrated (for tests that change the schema)."""
    db = open_database(pg_url)
    migrate(db)
    yield db
    db.close()


def test_a_failing_migration_leaves_the_old_version(fresh_db: peewee.Database):
    pg_db = fresh_db

    def broken(db: peewee.Database) -> None:
        db.execute_sql("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        migrate(pg_db, [*MIGRATIONS, broken])
    assert schema_version(pg_db) == len(MIGRATIONS)
    assert "half_done" not in pg_db.get_tables()  # DDL rolled back with the version bump


def test_newer_database_is_refused(fresh_db: peewee.Database):
    pg_db = fresh_db

    def add_note(db: peewee.Database) -> None:
        db.execute_sql("ALTER TABLE message ADD COLUMN note TEXT NOT NULL DEFAULT ''")

    newer = len(MIGRATIONS) + 1
    assert migrate(pg_db, [*MIGRATIONS, add_note]) == newer
    with pytest.raises(SchemaTooNew,
                       match=f"schema version {newer}.*only up to version {newer - 1}"):
        migrate(pg_db, MIGRATIONS)
    assert schema_version(pg_db) == newer


# -- times -----------------------------------------------------------------------------------


def test_times_are_stored_as_utc_and_read_back_aware(pg_db: peewee.Database, pg_shared_url: str):
    shanghai = timezone(timedelta(hours=8))
    seen = datetime(2024, 3, 1, 8, 30, tzinfo=shanghai)
    with pg_db.atomic():
        Sim.create(iccid="1", last_seen_at=seen)
    (stored,) = raw_query(pg_shared_url, "SELECT last_seen_at FROM sim")[0]
    assert stored == datetime(2024, 3, 1, 0, 30)  # naive UTC in a TIMESTAMP column
    back = Sim.get_by_id("1").last_seen_at
    assert back == seen and back.utcoffset() == timedelta(0)
    with pytest.raises(ValueError, match="naive"), pg_db.atomic():
        Sim.create(iccid="2", last_seen_at=datetime(2024, 3, 1, 8, 30))


def test_time_comparisons_follow_time_order(pg_db: peewee.Database):
    base = datetime(2024, 3, 1, tzinfo=UTC)
    with pg_db.atomic():
        Sim.create(iccid="a", rest_until=base + timedelta(seconds=1))
        Sim.create(iccid="b", rest_until=base + timedelta(microseconds=500))
    due = [s.iccid for s in Sim.select().where(Sim.rest_until <= base + timedelta(seconds=0.9))]
    assert due == ["b"]


# -- acceptance ------------------------------------------------------------------------------


def test_accepted_messages_are_queued_with_an_event(pg_db: peewee.Database):
    ids = accept(pg_db, msg(1), msg(2, hold=True))
    first, second = get_message(ids[0]), get_message(ids[1])
    assert (first["state"], second["state"]) == ("queued", "held")
    assert first["queued_at"] == NOW and second["queued_at"] is None
    assert [(e["old_state"], e["new_state"]) for e in first["events"]] == [(None, "queued")]


def test_client_ref_makes_a_retry_return_the_same_ids(pg_db: peewee.Database):
    request = [msg(1, client_ref="r-1", submitter_kind="api_key", submitter_id="7"),
               msg(2, client_ref="r-1", submitter_kind="api_key", submitter_id="7")]
    first = accept(pg_db, *request)
    assert accept(pg_db, *request) == first and len(set(first)) == 2
    assert Message.select().count() == 2
    other = accept(pg_db, msg(1, client_ref="r-1", submitter_kind="api_key", submitter_id="8"))
    assert other[0] not in first
    with pytest.raises(IdempotencyConflict, match="r-1"):
        accept(pg_db, NewMessage("+8613800000001", "different", client_ref="r-1",
                                 submitter_kind="api_key", submitter_id="7"))


def test_many_messages_in_one_acceptance(pg_db: peewee.Database):
    ids = accept(pg_db, *(msg(n % 100) for n in range(250)))  # events inserted in chunks
    assert ids == sorted(ids) and len(set(ids)) == 250
    assert MessageEvent.select().count() == 250


def test_a_retry_racing_the_original_on_another_process_gets_the_same_ids(
    pg_db: peewee.Database,
):
    request = msg(1, client_ref="race", submitter_kind="api_key", submitter_id="7")
    with pg_db.atomic():
        (first,) = accept_messages([request], now=NOW)
        # The other gateway process: its insert waits for our uncommitted row.
        pool = concurrent.futures.ThreadPoolExecutor(1)

        def retry() -> list[int]:
            with pg_db.atomic():
                return accept_messages([request], now=NOW)

        other = pool.submit(retry)
        with pytest.raises(concurrent.futures.TimeoutError):
            other.result(timeout=0.3)  # blocked on the unique index
    try:
        assert other.result(timeout=WAIT) == [first]
    finally:
        pool.shutdown()


# -- claiming --------------------------------------------------------------------------------


def test_claim_takes_ready_messages_by_priority_then_age(pg_db: peewee.Database):
    low, high, later, expired, normal = accept(
        pg_db, msg(1, priority=0), msg(2, priority=9),
        msg(3, send_at=NOW + timedelta(minutes=5)),
        msg(4, expires_at=NOW - timedelta(seconds=1)), msg(5, priority=0),
    )
    assert claim(pg_db, SIM_A, limit=2) == [high, low]
    assert claim(pg_db, SIM_B) == [normal]
    claimed = get_message(high)
    assert claimed["state"] == "sending" and claimed["sim"] == SIM_A and claimed["attempts"] == 1
    assert claimed["events"][-1]["sim"] == SIM_A
    assert get_message(later)["state"] == get_message(expired)["state"] == "queued"


def test_claim_honours_candidates_filters_and_holds(pg_db: peewee.Database):
    alert, notice, otp, held = accept(pg_db, msg(1, category="alert"), msg(2),
                                      msg(3, category="otp"), msg(4, hold=True))
    assert claim(pg_db, SIM_A, candidate_ids=[notice]) == [notice]
    assert claim(pg_db, SIM_A, candidate_ids=[]) == []
    assert claim(pg_db, SIM_A, where=Message.category == "otp") == [otp]
    assert claim(pg_db, SIM_B) == [alert]
    assert claim(pg_db, SIM_B) == []
    with pg_db.atomic():
        transition_message(held, "queued", "approved")
    assert claim(pg_db, SIM_B) == [held]


def test_claims_skip_rows_another_connection_holds(pg_db: peewee.Database):
    """SKIP LOCKED: a second gateway neither waits for nor takes what the first is claiming."""
    ids = accept(pg_db, *(msg(n) for n in range(10)))
    with pg_db.atomic():
        mine = [m.id for m in claim_messages(SIM_A, 4, NOW)]  # locked until we commit

        def other_gateway() -> list[int]:
            lock_timeout(pg_db)
            return claim(pg_db, SIM_B, limit=10)

        theirs = in_thread(other_gateway)
    assert mine == ids[:4]
    assert theirs == ids[4:]  # at once, without the rows we held
    assert claim(pg_db, SIM_B) == []
    sims = Counter(Message.select(Message.sim).tuples())
    assert sims == {(SIM_A,): 4, (SIM_B,): 6}


def test_concurrent_claimers_never_claim_a_message_twice(pg_db: peewee.Database):
    total, claimers = 300, 6
    accept(pg_db, *(msg(n % 100, priority=n % 3) for n in range(total)))
    barrier = threading.Barrier(claimers)

    def claimer(n: int) -> list[int]:
        lock_timeout(pg_db)
        barrier.wait(WAIT)
        got: list[int] = []
        while batch := claim(pg_db, f"8986000000000000{n:04d}", limit=3):
            got += batch
        pg_db.close()
        return got

    with concurrent.futures.ThreadPoolExecutor(claimers) as pool:
        results = list(pool.map(claimer, range(claimers), timeout=WAIT))
    claimed = [i for r in results for i in r]
    assert len(claimed) == len(set(claimed)) == total
    assert sum(1 for r in results if r) > 1  # they really ran side by side
    assert Message.select().where(Message.attempts != 1).count() == 0
    events = MessageEvent.select().where(MessageEvent.new_state == "sending")
    assert events.count() == total
    # Each message's event names the SIM that holds it.
    assert all(e.sim == e.message.sim for e in events)


# -- giving work back, crash recovery --------------------------------------------------------


def test_release_unsent_and_half_sent(pg_db: peewee.Database):
    unsent = claim_with_parts(pg_db, SIM_A, 2)
    half = claim_with_parts(pg_db, SIM_A, 2)
    first = get_message(half)["parts"][0]["id"]
    with pg_db.atomic():
        transition_part(first, "sending")
        transition_part(first, "sent", message_reference=42)
        counts = release_claims_for_sim(SIM_A, "modem unplugged", now=NOW)
    assert counts == {"requeued": 1, "pinned": 1, "ambiguous": 0}
    info = get_message(unsent)
    assert info["state"] == "queued" and info["sim"] is None and info["parts"] == []
    assert (get_message(half)["state"], get_message(half)["sim"]) == ("queued", SIM_A)
    assert part_states(half) == ["sent", "pending"]
    assert claim(pg_db, SIM_B) == [unsent]  # the pinned one must leave through SIM A
    assert claim(pg_db, SIM_A) == [half]


def test_requeue_after_a_transient_error(pg_db: peewee.Database):
    msg_id = claim_with_parts(pg_db, SIM_A, 1)
    part = get_message(msg_id)["parts"][0]["id"]
    with pg_db.atomic():
        transition_part(part, "sending")
        transition_part(part, "pending", error="+CMS ERROR: 38")
        assert requeue_message(msg_id, "+CMS ERROR: 38") == "requeued"
    assert claim(pg_db, SIM_B) == [msg_id]
    assert get_message(msg_id)["attempts"] == 2


def crash_scene(db) -> tuple[int, int, int]:
    untouched = claim_with_parts(db, SIM_A, 2)
    half = claim_with_parts(db, SIM_A, 2)
    in_flight = claim_with_parts(db, SIM_B, 2)
    p_half = get_message(half)["parts"][0]["id"]
    p_first, p_flight = (p["id"] for p in get_message(in_flight)["parts"])
    with db.atomic():
        transition_part(p_half, "sending")
        transition_part(p_half, "sent", message_reference=1)
        transition_part(p_first, "sending")
        transition_part(p_first, "sent", message_reference=2)
        transition_part(p_flight, "sending")  # +CMGS written, then the power went
    return untouched, half, in_flight


def test_recover_after_crash_marks_the_in_flight_part_ambiguous(pg_db: peewee.Database):
    untouched, half, in_flight = crash_scene(pg_db)
    with pg_db.atomic():
        counts = recover_after_crash(now=NOW)
    assert counts == {"requeued": 1, "pinned": 1, "ambiguous": 1}
    assert (get_message(untouched)["state"], get_message(untouched)["sim"]) == ("queued", None)
    assert (get_message(half)["state"], get_message(half)["sim"]) == ("queued", SIM_A)
    info = get_message(in_flight)
    assert info["state"] == "ambiguous" and "restart" in info["error"]
    assert part_states(in_flight) == ["sent", "ambiguous"]
    assert in_flight not in claim(pg_db, SIM_B)
    last = MessageEvent.select().where(MessageEvent.message == in_flight).order_by(
        MessageEvent.id.desc()).get()
    assert (last.old_state, last.new_state) == ("sending", "ambiguous")


def test_recover_with_resend_puts_the_in_flight_part_back(pg_db: peewee.Database):
    _, _, in_flight = crash_scene(pg_db)
    with pg_db.atomic():
        assert recover_after_crash(resend_ambiguous=True, now=NOW)["ambiguous"] == 0
    info = get_message(in_flight)
    assert (info["state"], info["sim"]) == ("queued", SIM_B)
    assert part_states(in_flight) == ["sent", "pending"]


# -- transition tables, expiry, cancellation, references -------------------------------------


def test_forbidden_transitions_change_nothing(pg_db: peewee.Database):
    msg_id = claim_with_parts(pg_db, SIM_A, 1)
    part = get_message(msg_id)["parts"][0]["id"]
    with pytest.raises(InvalidTransition, match="sending to cancelled"), pg_db.atomic():
        cancel_message(msg_id)
    with pytest.raises(InvalidTransition, match="part cannot go from pending to sent"), \
            pg_db.atomic():
        transition_part(part, "sent")
    with pg_db.atomic():
        transition_message(msg_id, "sent")
        with pytest.raises(InvalidTransition, match="sent to queued"):
            requeue_message(msg_id, "no")
    info = get_message(msg_id)
    assert info["state"] == "sent" and part_states(msg_id) == ["pending"]
    assert [e["new_state"] for e in info["events"]] == ["queued", "sending", "sent"]


def test_expire_cancel_and_concat_refs(pg_db: peewee.Database):
    soon, later, queued = accept(pg_db, msg(1, expires_at=NOW + timedelta(minutes=1)),
                                 msg(2, expires_at=NOW + timedelta(hours=1)), msg(3))
    with pg_db.atomic():
        assert expire_due(NOW + timedelta(minutes=2)) == [soon]
        cancel_message(queued)
    assert get_message(soon)["state"] == "expired" and get_message(soon)["final_at"]
    assert get_message(later)["state"] == "queued"
    assert get_message(queued)["state"] == "cancelled"
    with pg_db.atomic():
        Sim.create(iccid=SIM_A, concat_ref=254)
        assert [next_concat_ref(SIM_A) for _ in range(3)] == [255, 1, 2]
    msg_id = claim_with_parts(pg_db, SIM_A, 1)
    with pytest.raises(ValueError, match="not claimed by SIM"), pg_db.atomic():
        add_parts(msg_id, SIM_B, [NewPart(pdu="00", tpdu_length=1)])
    assert Part.select().where(Part.message == msg_id).count() == 1


# -- API keys --------------------------------------------------------------------------------


def test_api_keys(pg_db: peewee.Database, pg_shared_url: str):
    with pg_db.atomic():
        key = create_api_key("nas", ["send"])
        other = create_api_key("erp", ["admin"])
    rows = raw_query(pg_shared_url, "SELECT name, prefix, key_hash, scopes, revoked FROM api_key")
    assert key not in repr(rows) and key[12:] not in repr(rows)
    assert ("nas", key[3:11]) in {r[:2] for r in rows}
    found = verify_api_key(key)
    assert found is not None and found.name == "nas" and has_scope(found, "send")
    assert has_scope(verify_api_key(other), "read")
    assert verify_api_key(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    with pytest.raises(ValueError, match='"nas" already exists'), pg_db.atomic():
        create_api_key("nas", ["read"])
    with pg_db.atomic():
        assert revoke_api_key("nas")
    assert verify_api_key(key) is None and verify_api_key(other) is not None
    assert ApiKey.get(ApiKey.name == "nas").revoked is True  # a real BOOLEAN


# -- the writer thread -----------------------------------------------------------------------


@pytest.fixture
async def store(pg_db: peewee.Database):
    s = Store(pg_db)
    await s.start()
    yield s
    await s.stop()


def accept_one(n: int):
    return lambda: accept_messages([NewMessage(f"+86138{n:08d}", f"message {n}")])[0]


def count_committed(url: str, table: str = "message") -> int:
    return raw_query(url, f"SELECT COUNT(*) FROM {table}")[0][0]


async def test_concurrent_writes_share_few_transactions(store: Store, pg_shared_url: str):
    ids = await asyncio.gather(*(store.write(accept_one(n)) for n in range(500)))
    assert len(set(ids)) == 500
    assert count_committed(pg_shared_url) == 500  # all committed when the last write() returned
    assert store.stats.transactions < 500 / 5, store.stats
    assert store.stats.largest_batch > 1


async def test_a_database_error_in_one_job_does_not_abort_the_batch(
    store: Store, pg_shared_url: str
):
    """On PostgreSQL an error aborts the whole transaction unless it is inside a savepoint."""
    await store.write(lambda: Setting.create(key="k", value="1"))

    def bad_python():
        Setting.create(key="half", value="written before the error")
        raise RuntimeError("job failed")

    jobs = [store.write(accept_one(n)) for n in range(20)]
    jobs.insert(5, store.write(lambda: Setting.create(key="k", value="2")))  # duplicate key
    jobs.insert(12, store.write(bad_python))
    results = await asyncio.gather(*jobs, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert [type(e) for e in errors] == [peewee.IntegrityError, RuntimeError]
    assert count_committed(pg_shared_url) == 20
    assert raw_query(pg_shared_url, "SELECT key, value FROM setting") == [("k", "1")]
    assert await store.read(lambda: Message.select().count()) == 20


async def test_readers_cannot_write(store: Store):
    with pytest.raises(peewee.DatabaseError, match="read-only"):
        await store.read(lambda: Setting.create(key="from a reader", value=""))


async def test_stop_finishes_queued_jobs(pg_db: peewee.Database, pg_shared_url: str):
    s = Store(pg_db)
    await s.start()
    pending = [asyncio.ensure_future(s.write(accept_one(n))) for n in range(50)]
    await asyncio.sleep(0)
    await s.stop()
    assert len(set(await asyncio.gather(*pending))) == 50
    assert count_committed(pg_shared_url) == 50


def test_run_sync_write_without_a_loop(pg_db: peewee.Database, pg_shared_url: str):
    s = Store(pg_db)
    s.run_sync_write(accept_one(3))
    assert count_committed(pg_shared_url) == 1 and s.stats.transactions == 1
    with pytest.raises(ZeroDivisionError):
        s.run_sync_write(lambda: 1 / 0)
    s.run_sync_write(accept_one(4))  # the connection is still usable after the failure
    assert count_committed(pg_shared_url) == 2


def test_upgrade_to_version_2_keeps_inbound_rows_and_fills_their_hash(pg_url: str):
    import hashlib

    db = open_database(pg_url, bind=False)
    try:
        assert migrate(db, MIGRATIONS[:1]) == 1
        db.execute_sql(
            "INSERT INTO inbound_message (sim, sender, text, received_at, concat_ref,"
            " concat_count, concat_index, smsc, pdu, stored_at) VALUES"
            " ('8986A', '+8613900000001', 'hi', '2024-05-01 08:00:00', NULL, 1, 1, NULL,"
            " '0791AB', '2024-05-01 08:00:01')")
        assert migrate(db) == len(MIGRATIONS) >= 2
        rows = db.execute_sql("SELECT text, pdu_hash FROM inbound_message").fetchall()
        assert rows == [("hi", hashlib.sha256(b"0791AB").hexdigest())]
        indexes = {tuple(i.columns) for i in db.get_indexes("inbound_message")}
        assert ("sim", "pdu_hash") in indexes
    finally:
        db.close()
