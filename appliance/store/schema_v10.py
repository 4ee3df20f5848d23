"""Migration 10 as frozen SQL: accounts (departments, users, sessions, login throttling), API
keys bound to a user or a department, and the append-only audit log.

Knows: the exact statements of this schema version over the one before, for SQLite and
PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

- `department`: a unit of the organisation (name, and the short name its signature uses);
- `app_user` ("user" is reserved in PostgreSQL): a person who logs in to the web or serial
  console; the password is a salted scrypt hash; `must_change_password` is set for a user an
  administrator created or reset, and cleared by the user's own change;
- `login_attempt`: every login, successful or not (who, from where, why refused);
- `login_lock`: failures in a row per subject (`user:<name>` or `address:<ip>`) and the time
  until which the subject is locked out;
- `user_session`: server-side console sessions; only the SHA-256 of the token is stored;
- `api_key.user_id`, `api_key.department_id`: whom a key's sends count for;
- `audit_entry`: the audit log, one row per event, each chained to the one before by a
  SHA-256 (see appliance/audit). On SQLite, triggers refuse UPDATE and DELETE of its rows; on
  PostgreSQL a trigger function does the same.
"""

from __future__ import annotations

import peewee

from appliance.store.schema_v1 import DIALECTS

STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE "department" (
        "id" {AUTO},
        "name" VARCHAR(64) NOT NULL,
        "short_name" VARCHAR(32) NOT NULL,
        "created_at" {DATETIME} NOT NULL
    )""",
    'CREATE UNIQUE INDEX "department_name" ON "department" ("name")',
    """CREATE TABLE "app_user" (
        "id" {AUTO},
        "name" VARCHAR(64) NOT NULL,
        "display_name" VARCHAR(128) NOT NULL,
        "role" VARCHAR(16) NOT NULL,
        "department_id" INTEGER,
        "disabled" {BOOL} NOT NULL,
        "must_change_password" {BOOL} NOT NULL,
        "password_hash" TEXT NOT NULL,
        "password_changed_at" {DATETIME},
        "created_at" {DATETIME} NOT NULL,
        "last_login_at" {DATETIME},
        FOREIGN KEY ("department_id") REFERENCES "department" ("id")
    )""",
    'CREATE UNIQUE INDEX "app_user_name" ON "app_user" ("name")',
    'CREATE INDEX "app_user_department_id" ON "app_user" ("department_id")',
    """CREATE TABLE "login_attempt" (
        "id" {AUTO},
        "at" {DATETIME} NOT NULL,
        "name" VARCHAR(64) NOT NULL,
        "address" VARCHAR(64) NOT NULL,
        "door" VARCHAR(16) NOT NULL,
        "success" {BOOL} NOT NULL,
        "reason" VARCHAR(32) NOT NULL
    )""",
    'CREATE INDEX "login_attempt_name_at" ON "login_attempt" ("name", "at")',
    """CREATE TABLE "login_lock" (
        "subject" VARCHAR(128) NOT NULL PRIMARY KEY,
        "failures" INTEGER NOT NULL,
        "last_failure_at" {DATETIME} NOT NULL,
        "locked_until" {DATETIME}
    )""",
    """CREATE TABLE "user_session" (
        "id" {AUTO},
        "token_hash" VARCHAR(64) NOT NULL,
        "user_id" INTEGER NOT NULL,
        "address" VARCHAR(64) NOT NULL,
        "door" VARCHAR(16) NOT NULL,
        "created_at" {DATETIME} NOT NULL,
        "last_seen_at" {DATETIME} NOT NULL,
        "expires_at" {DATETIME} NOT NULL,
        "ended_at" {DATETIME},
        FOREIGN KEY ("user_id") REFERENCES "app_user" ("id") ON DELETE CASCADE
    )""",
    'CREATE UNIQUE INDEX "user_session_token_hash" ON "user_session" ("token_hash")',
    'CREATE INDEX "user_session_user_id" ON "user_session" ("user_id")',
    'ALTER TABLE "api_key" ADD COLUMN "user_id" INTEGER',
    'ALTER TABLE "api_key" ADD COLUMN "department_id" INTEGER',
    """CREATE TABLE "audit_entry" (
        "seq" INTEGER NOT NULL PRIMARY KEY,
        "at" {DATETIME} NOT NULL,
        "actor_kind" VARCHAR(16) NOT NULL,
        "actor_id" VARCHAR(64) NOT NULL,
        "actor_name" VARCHAR(128) NOT NULL,
        "address" VARCHAR(64) NOT NULL,
        "door" VARCHAR(16) NOT NULL,
        "action" VARCHAR(64) NOT NULL,
        "target" VARCHAR(255) NOT NULL,
        "detail" TEXT NOT NULL,
        "prev_hash" VARCHAR(64) NOT NULL,
        "hash" VARCHAR(64) NOT NULL
    )""",
    'CREATE INDEX "audit_entry_action" ON "audit_entry" ("action", "seq")',
    'CREATE INDEX "audit_entry_at" ON "audit_entry" ("at")',
)

SQLITE_TRIGGERS: tuple[str, ...] = (
    """CREATE TRIGGER "audit_entry_no_update" BEFORE UPDATE ON "audit_entry"
       BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END""",
    """CREATE TRIGGER "audit_entry_no_delete" BEFORE DELETE ON "audit_entry"
       BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END""",
)

POSTGRESQL_TRIGGERS: tuple[str, ...] = (
    """CREATE FUNCTION "audit_entry_append_only"() RETURNS trigger LANGUAGE plpgsql AS
       $body$ BEGIN RAISE EXCEPTION 'audit_entry is append-only'; END $body$""",
    """CREATE TRIGGER "audit_entry_no_change" BEFORE UPDATE OR DELETE ON "audit_entry"
       FOR EACH ROW EXECUTE FUNCTION "audit_entry_append_only"()""",
)


def statements(dialect: str) -> list[str]:
    """Schema version 10 over version 9 for `dialect` ("sqlite" or "postgresql")."""
    triggers = SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRESQL_TRIGGERS
    return [s.format(**DIALECTS[dialect]) for s in STATEMENTS] + list(triggers)


def apply(db: peewee.Database, dialect: str) -> None:
    for sql in statements(dialect):
        db.execute_sql(sql)
