"""Migration 14 as frozen SQL: campaigns that can be paused, resumed and cancelled, and whose
progress is counted from an index (issue 11, item 4).

Knows: the exact statements of this schema version over the one before, for SQLite and
PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

- `campaign.user_id`, `campaign.department_id`: who created it (the console's user), so the
  creator (or an admin) may pause, resume or cancel it; NULL on campaigns made before.
- `campaign.state`: active / paused / cancelled (finished is read from its messages);
  `state_changed_by`, `state_changed_at`: who paused, resumed or cancelled it last, and when.
- index (campaign_id, state, id) on message: a campaign's progress is a GROUP BY state over
  its own index entries only (no scan of the message table), and its recipients of one state
  are keyset-paged from the same index.
- index (user_id, id) on campaign: "my campaigns", newest first.
- `approval.submitter_seen_at`: when its submitter saw the decision (NULL: not yet), so the
  console can show the submitter a count of decisions they have not seen; indexed with the
  submitting user.
"""

from __future__ import annotations

import peewee

from appliance.store.schema_v1 import DIALECTS

STATEMENTS: tuple[str, ...] = (
    'ALTER TABLE "campaign" ADD COLUMN "user_id" INTEGER',
    'ALTER TABLE "campaign" ADD COLUMN "department_id" INTEGER',
    """ALTER TABLE "campaign" ADD COLUMN "state" VARCHAR(16) NOT NULL DEFAULT 'active'""",
    """ALTER TABLE "campaign" ADD COLUMN "state_changed_by" VARCHAR(255) NOT NULL DEFAULT ''""",
    'ALTER TABLE "campaign" ADD COLUMN "state_changed_at" {DATETIME}',
    'CREATE INDEX "message_campaign_id_state_id" ON "message" ("campaign_id", "state", "id")',
    'CREATE INDEX "campaign_user_id_id" ON "campaign" ("user_id", "id")',
    'ALTER TABLE "approval" ADD COLUMN "submitter_seen_at" {DATETIME}',
    'CREATE INDEX "approval_user_id_submitter_seen_at" ON "approval" ("user_id", '
    '"submitter_seen_at")',
)


def statements(dialect: str) -> list[str]:
    """Schema version 14 over the one before for `dialect` ("sqlite" or "postgresql")."""
    return [s.format(**DIALECTS[dialect]) for s in STATEMENTS]


def apply(db: peewee.Database, dialect: str) -> None:
    for sql in statements(dialect):
        db.execute_sql(sql)
