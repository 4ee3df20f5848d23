"""Migration 11 as frozen SQL: the content rules of the policy layer (signatures per
department, the forbidden-word list) and each number's marketing consent.

Knows: the exact statements of this schema step over the one before, for SQLite and
PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

- `department_signature`: a department's 【signature】 (the text inside the brackets) and its
  placement (NULL: the box default). Keyed by the department's integer id with no foreign key:
  the department table is another step's, and a signature row outliving its department is
  harmless (no message names that department any more).
- `forbidden_word`: the editable list; `normalized` is the word as the matcher sees it (NFKC,
  case-folded, without spaces, punctuation or symbols) and is UNIQUE, so "发票" and "发 票" are
  one entry.
- `contact_consent`: one row per number (the address book's stored form: E.164), not per
  contact: consent is given by whoever holds the number, and a number can be on file before
  any contact names it (a 订阅 reply). `source`: imported / reply / staff; `detail` says more
  (the keyword replied, the user).
"""

from __future__ import annotations

import peewee

from appliance.store.schema_v1 import DIALECTS

STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE "department_signature" (
        "department_id" INTEGER NOT NULL PRIMARY KEY,
        "signature" VARCHAR(16) NOT NULL,
        "placement" VARCHAR(8),
        "updated_at" {DATETIME} NOT NULL
    )""",
    """CREATE TABLE "forbidden_word" (
        "id" {AUTO},
        "word" VARCHAR(100) NOT NULL,
        "normalized" VARCHAR(100) NOT NULL,
        "created_at" {DATETIME} NOT NULL
    )""",
    'CREATE UNIQUE INDEX "forbidden_word_normalized" ON "forbidden_word" ("normalized")',
    """CREATE TABLE "contact_consent" (
        "id" {AUTO},
        "number" VARCHAR(32) NOT NULL,
        "state" VARCHAR(16) NOT NULL,
        "source" VARCHAR(16) NOT NULL,
        "detail" TEXT NOT NULL,
        "at" {DATETIME} NOT NULL
    )""",
    'CREATE UNIQUE INDEX "contact_consent_number" ON "contact_consent" ("number")',
)


def statements(dialect: str) -> list[str]:
    """This step for `dialect` ("sqlite" or "postgresql"), one statement each."""
    return [s.format(**DIALECTS[dialect]) for s in STATEMENTS]


def apply(db: peewee.Database, dialect: str) -> None:
    for sql in statements(dialect):
        db.execute_sql(sql)
