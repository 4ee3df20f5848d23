"""Schema migrations, numbered from day one, each applied once and in order.

Knows: the `schema_version` table, the list of migrations, and how to refuse a database written
by a newer cardgate.
Must not know: the current models (migration 1 is frozen SQL in `schema_v1`, migration 2 in
`schema_v2`; later migrations use `playhouse.migrate` operations or SQL of their own day).

A migration is a function of the database; `migrate()` runs each pending one inside its own
transaction together with the version bump, so a power cut mid-upgrade leaves the file at the
old version or the new one, never between (SQLite and PostgreSQL both have transactional DDL).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import peewee

from appliance.store import (
    schema_v1,
    schema_v2,
    schema_v3,
    schema_v4,
    schema_v5,
    schema_v6,
    schema_v7,
    schema_v8,
    schema_v9,
    schema_v10,
    schema_v11,
    schema_v12,
    schema_v13,
    schema_v14,
    schema_v15,
    schema_v16,
    schema_v17,
    schema_v18,
)

Migration = Callable[[peewee.Database], None]

MIGRATION_LOCK_KEY = 0x63617264_67617465  # "cardgate": the advisory lock migrate() takes
"""PostgreSQL: every migrate() transaction holds this transaction-level advisory lock, so two
gateways of a fleet starting at once on a new database apply each step once (the second waits,
then sees the new version). Concurrent CREATE TABLE IF NOT EXISTS alone is not safe there: it
can fail with a duplicate key in pg_type."""


class SchemaTooNew(RuntimeError):
    """The database was written by a newer cardgate than this one."""


def dialect(db: peewee.Database) -> str:
    if isinstance(db, peewee.SqliteDatabase):
        return "sqlite"
    if isinstance(db, peewee.PostgresqlDatabase):
        return "postgresql"
    raise TypeError(f"unsupported database {type(db).__name__}")


def _unwrap(db: peewee.Database) -> peewee.Database:
    # A DatabaseProxy passes attribute access through, but isinstance() needs the real object.
    return getattr(db, "obj", None) or db


@contextlib.contextmanager
def _exclusive(db: peewee.Database) -> Iterator[None]:
    """A transaction that no other migrate() runs beside: BEGIN IMMEDIATE on SQLite (the write
    lock up front), an advisory lock on PostgreSQL."""
    if isinstance(db, peewee.SqliteDatabase):
        with db.atomic(lock_type="IMMEDIATE"):
            yield
        return
    with db.atomic():
        if isinstance(db, peewee.PostgresqlDatabase):
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        yield


def migration_1_initial_schema(db: peewee.Database) -> None:
    """All tables, with the indexes claiming needs: (state, priority, id) and (sim, state)."""
    for sql in schema_v1.statements(dialect(db)):
        db.execute_sql(sql)


def migration_2_inbound_pdu_hash(db: peewee.Database) -> None:
    """inbound_message.pdu_hash (sha256 hex of the PDU), backfilled, indexed with the SIM: the
    inbound duplicate check becomes an index lookup instead of a scan of the inbox."""
    schema_v2.apply(db, dialect(db))


def migration_3_inbox(db: peewee.Database) -> None:
    """inbox_message (reassembled received messages); inbound_message.inbox_id and modem; the
    parts stored before it become inbox messages, marked handled (history is not answered)."""
    schema_v3.apply(db, dialect(db))


def migration_4_contacts_and_blacklist(db: peewee.Database) -> None:
    """The address book (contacts, numbers, groups, members), the blacklist, and an index of
    outbound messages by recipient for conversation threads (see `schema_v4`)."""
    schema_v4.apply(db, dialect(db))


def migration_5_rules(db: peewee.Database) -> None:
    """The auto-answer rules and the log of their automatic actions (see `schema_v5`)."""
    schema_v5.apply(db, dialect(db))


def migration_6_webhooks(db: peewee.Database) -> None:
    """webhook endpoints and the webhook_delivery queue, plus the deliverer's catch-up cursors
    (see schema_v6)."""
    schema_v6.apply(db, dialect(db))


def migration_7_kannel(db: peewee.Database) -> None:
    """message_option (forced UCS2, message class) and kannel_message (a Kannel sendsms
    request's fields, its dlr-mask/dlr-url and the DLR types fired)."""
    schema_v7.apply(db, dialect(db))


def migration_8_api_key_limits(db: peewee.Database) -> None:
    """api_key.rate_per_minute and api_key.allowed_from (a key's own rate and addresses)."""
    schema_v8.apply(db, dialect(db))


def migration_9_android_webhooks(db: peewee.Database) -> None:
    """webhook.format, webhook.api_key_id, webhook.client_ref (the Android API's endpoints)."""
    schema_v9.apply(db, dialect(db))


def migration_10_accounts_and_audit(db: peewee.Database) -> None:
    """Departments, users, login attempts and locks, console sessions, API keys bound to a
    user or department, and the hash-chained append-only audit log (see schema_v10)."""
    schema_v10.apply(db, dialect(db))


def migration_11_content_policy(db: peewee.Database) -> None:
    """department_signature, forbidden_word and contact_consent: the policy layer's content
    rules and each number's marketing consent (see `schema_v11`)."""
    schema_v11.apply(db, dialect(db))


def migration_13_approval_and_quotas(db: peewee.Database) -> None:
    """Approval of sends, quotas and the prepaid ledger (see `schema_v13`)."""
    schema_v13.apply(db, dialect(db))


def migration_12_submitter_and_dedupe(db: peewee.Database) -> None:
    """message.door/address/api_key_id/user_id/department_id (who submitted it),
    message.content_hash with dedupe's index, and policy_recipient_cap (see schema_v12)."""
    schema_v12.apply(db, dialect(db))


def migration_15_history_and_replies(db: peewee.Database) -> None:
    """Indexes for the console's history filters, and reply_thread (the replies list and its
    unread counts, kept by a trigger on inbox_message; see `schema_v15`)."""
    schema_v15.apply(db, dialect(db))


def migration_14_campaign_control(db: peewee.Database) -> None:
    """campaign.user_id/department_id/state/state_changed_by/state_changed_at (pause, resume,
    cancel by its creator) and the index message(campaign_id, state, id) that counts a
    campaign's progress (see `schema_v14`)."""
    schema_v14.apply(db, dialect(db))


def migration_16_compose_templates_and_schedules(db: peewee.Database) -> None:
    """message_template and send_schedule: the console's compose page (see `schema_v16`)."""
    schema_v16.apply(db, dialect(db))


def migration_17_today_indexes(db: peewee.Database) -> None:
    """message(sent_at) and message(state, final_at): the dashboard's counts of today as
    index range scans (see `schema_v17`)."""
    schema_v17.apply(db, dialect(db))


def migration_18_android_refusals(db: peewee.Database) -> None:
    """android_refusal: the recipients of an Android API message that were left out, with
    why, so its answer lists every recipient (see `schema_v18`)."""
    schema_v18.apply(db, dialect(db))


MIGRATIONS: list[Migration] = [
    migration_1_initial_schema,
    migration_2_inbound_pdu_hash,
    migration_3_inbox,
    migration_4_contacts_and_blacklist,
    migration_5_rules,
    migration_6_webhooks,
    migration_7_kannel,
    migration_8_api_key_limits,
    migration_9_android_webhooks,
    migration_10_accounts_and_audit,
    migration_11_content_policy,
    migration_12_submitter_and_dedupe,
    migration_13_approval_and_quotas,
    migration_14_campaign_control,
    migration_15_history_and_replies,
    migration_16_compose_templates_and_schedules,
    migration_17_today_indexes,
    migration_18_android_refusals,
]


def schema_version(db: peewee.Database) -> int:
    """The version the database is at; 0 for a new, empty one."""
    db = _unwrap(db)
    if "schema_version" not in db.get_tables():
        return 0
    row = db.execute_sql("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: peewee.Database, migrations: Sequence[Migration] | None = None) -> int:
    """Bring the database up to the newest schema; return the version it is now at.

    Raises SchemaTooNew (without touching anything) when the file is newer than this code.
    """
    db = _unwrap(db)
    steps = list(MIGRATIONS if migrations is None else migrations)
    # Take the lock before reading the version (see _exclusive), so two processes starting at
    # once cannot both apply the same migration.
    with _exclusive(db):
        db.execute_sql(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER NOT NULL PRIMARY KEY, applied_at TIMESTAMP NOT NULL "
            "DEFAULT CURRENT_TIMESTAMP)"
        )
    current = schema_version(db)
    if current > len(steps):
        raise SchemaTooNew(
            f"the database is at schema version {current}, but this cardgate knows only up to "
            f"version {len(steps)}: it was written by a newer cardgate. Upgrade cardgate, or "
            f"restore a backup made before the upgrade."
        )
    for number, step in enumerate(steps, start=1):
        if number <= current:
            continue
        with _exclusive(db):
            if schema_version(db) < number:  # else another process got here first
                step(db)
                db.execute_sql(
                    f"INSERT INTO schema_version (version) VALUES ({db.param})", (number,)
                )
        current = number
    return current


__all__ = ["MIGRATIONS", "Migration", "SchemaTooNew", "migrate", "schema_version"]
