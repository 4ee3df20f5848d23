"""The schema as migration 1 created it, frozen as SQL.

Knows: the exact tables and indexes of schema version 1, for SQLite and PostgreSQL.
Must not know: the current models. That is the point: migration 1 must create the same tables
on a new box next year as it did today, whatever the models have become by then; later changes
are later migrations. (The text was generated once from the models of that day, then frozen.)

Dialect placeholders: {AUTO} an auto-increment integer key (SQLite AUTOINCREMENT, so a deleted
message's id is never handed out again: API clients and `inbox?since=<id>` rely on ids only
growing), {DATETIME}, {BOOL}.
"""

from __future__ import annotations

DIALECTS: dict[str, dict[str, str]] = {
    "sqlite": {
        "AUTO": "INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT",
        "DATETIME": "DATETIME",
        "BOOL": "INTEGER",
    },
    "postgresql": {
        "AUTO": "SERIAL NOT NULL PRIMARY KEY",
        "DATETIME": "TIMESTAMP",
        "BOOL": "BOOLEAN",
    },
}

STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE "sim" (
        "iccid" VARCHAR(22) NOT NULL PRIMARY KEY,
        "imsi" VARCHAR(15) NOT NULL,
        "operator" VARCHAR(255) NOT NULL,
        "operator_code" VARCHAR(6) NOT NULL,
        "own_number" VARCHAR(255) NOT NULL,
        "label" VARCHAR(255) NOT NULL,
        "enabled" {BOOL} NOT NULL,
        "state" VARCHAR(16) NOT NULL,
        "health" REAL NOT NULL,
        "rest_until" {DATETIME},
        "consecutive_failures" INTEGER NOT NULL,
        "barred_reason" TEXT NOT NULL,
        "concat_ref" INTEGER NOT NULL,
        "last_seen_at" {DATETIME},
        "created_at" {DATETIME} NOT NULL
    )""",
    """CREATE TABLE "modem" (
        "imei" VARCHAR(17) NOT NULL PRIMARY KEY,
        "manufacturer" VARCHAR(255) NOT NULL,
        "model" VARCHAR(255) NOT NULL,
        "revision" VARCHAR(255) NOT NULL,
        "last_port" VARCHAR(255) NOT NULL,
        "sim" VARCHAR(22),
        "last_seen_at" {DATETIME}
    )""",
    """CREATE TABLE "sim_counter" (
        "id" {AUTO},
        "sim" VARCHAR(22) NOT NULL,
        "window" VARCHAR(8) NOT NULL,
        "window_start" {DATETIME} NOT NULL,
        "count" INTEGER NOT NULL
    )""",
    'CREATE UNIQUE INDEX "sim_counter_sim_window_window_start"'
    ' ON "sim_counter" ("sim", "window", "window_start")',
    """CREATE TABLE "campaign" (
        "id" {AUTO},
        "name" VARCHAR(255) NOT NULL,
        "created_by" VARCHAR(255) NOT NULL,
        "priority" INTEGER NOT NULL,
        "created_at" {DATETIME} NOT NULL
    )""",
    """CREATE TABLE "message" (
        "id" {AUTO},
        "recipient" VARCHAR(20) NOT NULL,
        "text" TEXT NOT NULL,
        "state" VARCHAR(16) NOT NULL,
        "priority" INTEGER NOT NULL,
        "category" VARCHAR(16) NOT NULL,
        "campaign_id" INTEGER,
        "submitter_kind" VARCHAR(16) NOT NULL,
        "submitter_id" VARCHAR(255) NOT NULL,
        "client_ref" VARCHAR(255),
        "client_ref_seq" INTEGER NOT NULL,
        "send_at" {DATETIME},
        "expires_at" {DATETIME},
        "sim" VARCHAR(22),
        "parts_count" INTEGER NOT NULL,
        "attempts" INTEGER NOT NULL,
        "error" TEXT NOT NULL,
        "created_at" {DATETIME} NOT NULL,
        "updated_at" {DATETIME} NOT NULL,
        "queued_at" {DATETIME},
        "sent_at" {DATETIME},
        "final_at" {DATETIME},
        FOREIGN KEY ("campaign_id") REFERENCES "campaign" ("id") ON DELETE SET NULL
    )""",
    'CREATE INDEX "message_campaign_id" ON "message" ("campaign_id")',
    'CREATE INDEX "message_state_priority_id" ON "message" ("state", "priority", "id")',
    'CREATE INDEX "message_sim_state" ON "message" ("sim", "state")',
    'CREATE UNIQUE INDEX "message_submitter_kind_submitter_id_client_ref_client_ref_seq"'
    ' ON "message" ("submitter_kind", "submitter_id", "client_ref", "client_ref_seq")',
    """CREATE TABLE "part" (
        "id" {AUTO},
        "message_id" INTEGER NOT NULL,
        "index" INTEGER NOT NULL,
        "count" INTEGER NOT NULL,
        "concat_ref" INTEGER,
        "pdu" TEXT NOT NULL,
        "tpdu_length" INTEGER NOT NULL,
        "state" VARCHAR(16) NOT NULL,
        "sim" VARCHAR(22),
        "message_reference" INTEGER,
        "attempts" INTEGER NOT NULL,
        "error" TEXT NOT NULL,
        "sent_at" {DATETIME},
        "report_status" INTEGER,
        "report_at" {DATETIME},
        FOREIGN KEY ("message_id") REFERENCES "message" ("id") ON DELETE CASCADE
    )""",
    'CREATE INDEX "part_message_id" ON "part" ("message_id")',
    'CREATE UNIQUE INDEX "part_message_id_index" ON "part" ("message_id", "index")',
    'CREATE INDEX "part_sim_message_reference" ON "part" ("sim", "message_reference")',
    """CREATE TABLE "status_report_record" (
        "id" {AUTO},
        "sim" VARCHAR(22) NOT NULL,
        "message_reference" INTEGER NOT NULL,
        "recipient" VARCHAR(255) NOT NULL,
        "status" INTEGER NOT NULL,
        "received_at" {DATETIME} NOT NULL,
        "part_id" INTEGER,
        "pdu" TEXT NOT NULL,
        FOREIGN KEY ("part_id") REFERENCES "part" ("id") ON DELETE SET NULL
    )""",
    'CREATE INDEX "status_report_record_part_id" ON "status_report_record" ("part_id")',
    """CREATE TABLE "message_event" (
        "id" {AUTO},
        "message_id" INTEGER NOT NULL,
        "at" {DATETIME} NOT NULL,
        "old_state" VARCHAR(16),
        "new_state" VARCHAR(16) NOT NULL,
        "detail" TEXT NOT NULL,
        "sim" VARCHAR(22),
        FOREIGN KEY ("message_id") REFERENCES "message" ("id") ON DELETE CASCADE
    )""",
    'CREATE INDEX "message_event_message_id" ON "message_event" ("message_id")',
    """CREATE TABLE "api_key" (
        "id" {AUTO},
        "name" VARCHAR(255) NOT NULL,
        "prefix" VARCHAR(8) NOT NULL,
        "key_hash" TEXT NOT NULL,
        "scopes" TEXT NOT NULL,
        "created_at" {DATETIME} NOT NULL,
        "last_used_at" {DATETIME},
        "revoked" {BOOL} NOT NULL
    )""",
    'CREATE UNIQUE INDEX "api_key_name" ON "api_key" ("name")',
    'CREATE INDEX "api_key_prefix" ON "api_key" ("prefix")',
    """CREATE TABLE "inbound_message" (
        "id" {AUTO},
        "sim" VARCHAR(22) NOT NULL,
        "sender" VARCHAR(255) NOT NULL,
        "text" TEXT NOT NULL,
        "received_at" {DATETIME} NOT NULL,
        "concat_ref" INTEGER,
        "concat_count" INTEGER NOT NULL,
        "concat_index" INTEGER NOT NULL,
        "smsc" VARCHAR(255),
        "pdu" TEXT NOT NULL,
        "stored_at" {DATETIME} NOT NULL
    )""",
    'CREATE INDEX "inbound_message_sim_sender_concat_ref"'
    ' ON "inbound_message" ("sim", "sender", "concat_ref")',
    """CREATE TABLE "quarantined_pdu" (
        "id" {AUTO},
        "sim" VARCHAR(22) NOT NULL,
        "pdu" TEXT NOT NULL,
        "error" TEXT NOT NULL,
        "at" {DATETIME} NOT NULL
    )""",
    """CREATE TABLE "setting" (
        "key" VARCHAR(255) NOT NULL PRIMARY KEY,
        "value" TEXT NOT NULL
    )""",
)


def statements(dialect: str) -> list[str]:
    """Schema version 1 for `dialect` ("sqlite" or "postgresql"), one statement each."""
    return [s.format(**DIALECTS[dialect]) for s in STATEMENTS]
