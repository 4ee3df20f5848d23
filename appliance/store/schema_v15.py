"""Migration 15 as frozen SQL: the console's history and replies (issue 11, items 6 and 7).

Knows: the exact statements of this schema version over the one before, for SQLite and
PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

- indexes (state, id), (sim, id), (user_id, id) on `message`: the history's filters by state,
  SIM and user read a page newest first straight from an index (keyset paging by id) instead
  of sorting every matching row. (campaign_id) already serves the campaign filter on SQLite,
  where every index ends with the rowid; (recipient, id) the number filter.
- `reply_thread`: one row per number that ever wrote to us: the id of its newest inbox message
  (`last_inbox_id`, what the replies list is ordered by) and the newest one the console has
  shown (`read_upto_id`: the unread count is the number's inbox messages after it, an index
  range on inbox_message (number, id)). A trigger on inbox_message keeps `last_inbox_id` in
  the same transaction as the inbox row, whoever writes it; the threads of messages already
  stored start as read (history is not news).
"""

from __future__ import annotations

import peewee

STATEMENTS: tuple[str, ...] = (
    'CREATE INDEX "message_state_id" ON "message" ("state", "id")',
    'CREATE INDEX "message_sim_id" ON "message" ("sim", "id")',
    'CREATE INDEX "message_user_id_id" ON "message" ("user_id", "id")',
    """CREATE TABLE "reply_thread" (
        "number" VARCHAR(255) NOT NULL PRIMARY KEY,
        "last_inbox_id" INTEGER NOT NULL,
        "read_upto_id" INTEGER NOT NULL
    )""",
    'CREATE INDEX "reply_thread_last_inbox_id" ON "reply_thread" ("last_inbox_id")',
    'INSERT INTO "reply_thread" ("number", "last_inbox_id", "read_upto_id") '
    'SELECT "number", MAX("id"), MAX("id") FROM "inbox_message" GROUP BY "number"',
)

_TRIGGER = {
    "sqlite": (
        """CREATE TRIGGER "reply_thread_on_inbox" AFTER INSERT ON "inbox_message"
        BEGIN
            INSERT INTO "reply_thread" ("number", "last_inbox_id", "read_upto_id")
            VALUES (NEW."number", NEW."id", 0)
            ON CONFLICT ("number") DO UPDATE
            SET "last_inbox_id" = MAX("last_inbox_id", excluded."last_inbox_id");
        END""",
    ),
    "postgresql": (
        """CREATE FUNCTION "reply_thread_note"() RETURNS trigger AS $$
        BEGIN
            INSERT INTO "reply_thread" ("number", "last_inbox_id", "read_upto_id")
            VALUES (NEW."number", NEW."id", 0)
            ON CONFLICT ("number") DO UPDATE
            SET "last_inbox_id" = GREATEST("reply_thread"."last_inbox_id",
                                           EXCLUDED."last_inbox_id");
            RETURN NEW;
        END
        $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER "reply_thread_on_inbox" AFTER INSERT ON "inbox_message"
        FOR EACH ROW EXECUTE FUNCTION "reply_thread_note"()""",
    ),
}


def statements(dialect: str) -> list[str]:
    """Schema version 15 over the one before for `dialect` ("sqlite" or "postgresql")."""
    return [*STATEMENTS, *_TRIGGER[dialect]]


def apply(db: peewee.Database, dialect: str) -> None:
    for sql in statements(dialect):
        db.execute_sql(sql)
