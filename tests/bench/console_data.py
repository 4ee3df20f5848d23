"""A console-sized database for benchmarks: N messages (default 1,000,000) over 90 days.

Knows: the tables the console reads (message, inbox_message, sim, campaign, app_user, contact,
contact_number) and a realistic mix for them: mostly delivered, some sent (no report), failed,
expired, cancelled or ambiguous; 8 SIMs, 12 users, 300 campaigns (60% of the messages), 50,000
recipients of whom 2,000 are contacts, one inbound message for every ten outbound.
Must not know: the appliance's services (the rows go in with plain SQL, as fast as SQLite
takes them: executemany in big transactions, the secondary indexes dropped during the fill
and built once at the end, which is several times faster than maintaining them row by row).

`python -m tests.bench.console_data PATH [N]` fills a file by hand; `fill()` for code.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance.store.db import open_database
from appliance.store.migrations import migrate

SIMS = 8
USERS = 12
CAMPAIGNS = 300
RECIPIENTS = 50_000
CONTACTS = 2_000
INBOUND_SHARE = 0.1
DAYS = 90
BATCH = 50_000

# (state, weight): what three months of a busy box look like once the queue is drained. No
# queued, held or sending rows: the appliance would start sending or scheduling them at once,
# and a benchmark of pages must not measure the dispatcher working through a backlog.
STATES = (("delivered", 74.0), ("sent", 12.0), ("failed", 6.0), ("expired", 3.0),
          ("cancelled", 3.0), ("ambiguous", 0.5), ("delivered", 1.5))
ERRORS = {"failed": "+CMS ERROR: 500 (unknown error)", "expired": "expired before sending",
          "cancelled": "cancelled by user", "ambiguous": "+CMGS timed out"}
TEXTS = (
    "【物业】您好，本周六上午9点停水检修，请提前储水。",
    "【学校】家长您好，明天下午家长会请准时参加，回复1确认。",
    "Your verification code is {n}. It expires in 5 minutes.",
    "【仓库】设备 {n} 温度告警：38.5℃，请尽快处理。",
    "Reminder: invoice {n} is due on Friday. Reply STOP to opt out.",
    "【公司】年会通知：12月20日晚6点，地点三楼多功能厅。退订回T",
    "=HYPERLINK(\"http://x\",\"click\") {n}",
    "Meeting moved to 3pm, room {n}.",
)
REPLIES = ("收到", "好的，谢谢", "1", "TD", "请问几点？", "OK thanks", "I'll be late",
           "<b>hi</b> {n}", "退订", "已处理")
OPERATORS = (("China Mobile", "46000"), ("China Unicom", "46001"), ("China Telecom", "46011"))


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def fill(path: str | Path, n: int = 1_000_000, *, seed: int = 11,
         now: datetime | None = None, inbound_share: float = INBOUND_SHARE) -> dict[str, int]:
    """Create (or replace) the SQLite database at `path`, migrated, holding `n` outbound
    messages and about `n * inbound_share` inbound ones spread over the last DAYS days up to
    `now`. Returns what it wrote and how long it took."""
    path = Path(path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = open_database(f"sqlite:///{path}", bind=False)
    migrate(db)
    db.close()
    started = time.monotonic()
    rnd = random.Random(seed)
    now = now or datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    try:
        indexes = _drop_indexes(con, ("message", "inbox_message"))
        con.execute("BEGIN")
        sims, users = _fill_people(con, rnd, start)
        con.execute("COMMIT")
        numbers = [f"+86{rnd.choice((135, 138, 139, 150, 186, 133, 177))}{i:08d}"
                   for i in range(RECIPIENTS)]
        con.execute("BEGIN")
        con.executemany('INSERT INTO "contact" ("id", "name", "note", "fields", "created_at", '
                        '"updated_at") VALUES (?, ?, \'\', \'{}\', ?, ?)',
                        [(i + 1, f"联系人{i + 1:04d} Contact {i + 1}", _stamp(start),
                          _stamp(start)) for i in range(CONTACTS)])
        con.executemany('INSERT INTO "contact_number" ("contact_id", "number") VALUES (?, ?)',
                        [(i + 1, numbers[i * 7]) for i in range(CONTACTS)])
        con.execute("COMMIT")
        inbound = _fill_messages(con, rnd, n, start, now, sims, users, numbers,
                                 inbound_share)
        _restore_indexes(con, indexes)
        # No ANALYZE: the appliance never runs it, so the planner works without statistics
        # here as it does on the box.
    finally:
        con.close()
    return {"messages": n, "inbound": inbound, "seconds": round(time.monotonic() - started, 1)}


def _drop_indexes(con: sqlite3.Connection, tables: tuple[str, ...]) -> list[str]:
    rows = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT "
                       f"NULL AND tbl_name IN ({','.join('?' * len(tables))})",
                       tables).fetchall()
    for name, _ in rows:
        con.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in rows]


def _restore_indexes(con: sqlite3.Connection, indexes: list[str]) -> None:
    con.execute("BEGIN")
    for sql in indexes:
        con.execute(sql)
    con.execute("COMMIT")


def _fill_people(con: sqlite3.Connection, rnd: random.Random,
                 start: datetime) -> tuple[list[str], list[int]]:
    at = _stamp(start)
    sims = [f"898600{rnd.randrange(10**13):013d}F"[:20] for _ in range(SIMS)]
    con.executemany(
        'INSERT INTO "sim" ("iccid", "imsi", "operator", "operator_code", "own_number", "label", '
        '"enabled", "state", "health", "consecutive_failures", "barred_reason", "concat_ref", '
        '"created_at") VALUES (?, ?, ?, ?, ?, ?, 1, \'active\', 1.0, 0, \'\', 0, ?)',
        [(iccid, f"4600{i}{rnd.randrange(10**9):09d}", *OPERATORS[i % 3],
          f"+8613{rnd.randrange(10**9):09d}", f"卡{i + 1}", at) for i, iccid in enumerate(sims)])
    con.executemany(
        'INSERT INTO "app_user" ("name", "display_name", "role", "disabled", '
        '"must_change_password", "password_hash", "created_at") '
        'VALUES (?, ?, ?, 0, 0, \'!\', ?)',
        [(f"staff{i:02d}", f"员工{i:02d}", ("operator", "approver", "viewer")[i % 3], at)
         for i in range(USERS)])
    users = [r[0] for r in con.execute('SELECT "id" FROM "app_user" WHERE "name" LIKE '
                                       "'staff%'")]
    con.executemany('INSERT INTO "campaign" ("id", "name", "created_by", "priority", '
                    '"created_at") VALUES (?, ?, ?, 10, ?)',
                    [(i + 1, f"活动 {i + 1:03d} campaign", f"staff{i % USERS:02d}", at)
                     for i in range(CAMPAIGNS)])
    return sims, users


def _fill_messages(con: sqlite3.Connection, rnd: random.Random, n: int, start: datetime,
                   now: datetime, sims: list[str], users: list[int], numbers: list[str],
                   inbound_share: float) -> int:
    states = [s for s, _ in STATES]
    weights = [w for _, w in STATES]
    span = (now - start).total_seconds()
    step = span / max(1, n)
    out_sql = ('INSERT INTO "message" ("id", "recipient", "text", "state", "priority", '
               '"category", "campaign_id", "submitter_kind", "submitter_id", "client_ref_seq", '
               '"sim", "parts_count", "attempts", "error", "created_at", "updated_at", '
               '"queued_at", "sent_at", "final_at", "door", "user_id", "expires_at") '
               'VALUES (?, ?, ?, ?, 10, ?, ?, ?, ?, 0, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
    in_sql = ('INSERT INTO "inbox_message" ("id", "sim", "modem", "sender", "number", "text", '
              '"smsc_at", "received_at", "parts_total", "parts_received", "partial", '
              '"updated_at", "handled_at") VALUES (?, ?, \'\', ?, ?, ?, ?, ?, 1, 1, 0, ?, ?)')
    inbound = 0
    r = rnd.random
    base = start.astimezone(UTC).replace(tzinfo=None)  # naive UTC, as stored
    for first in range(0, n, BATCH):
        count = min(BATCH, n - first)
        picked = rnd.choices(states, weights, k=count)
        out_rows = []
        in_rows = []
        for k in range(count):
            i = first + k
            at = base + timedelta(seconds=i * step)
            stamp = at.isoformat(" ", "microseconds")
            state = picked[k]
            waiting = state in ("queued", "held")
            sim = None if waiting else sims[int(r() * SIMS)]
            campaign = int(r() * CAMPAIGNS) + 1 if r() < 0.6 else None
            user = users[int(r() * USERS)] if r() < 0.8 else None
            text = TEXTS[int(r() * len(TEXTS))].replace("{n}", str(i))
            # One stamp for every time of the row: the history reads created_at; the others
            # only need to be there (sent/final when the state has them).
            sent = None if waiting else stamp
            final = stamp if state not in ("queued", "held", "sending", "sent") else None
            out_rows.append((
                i + 1, numbers[int(r() * RECIPIENTS)], text, state,
                "marketing" if campaign else "notice", campaign,
                "user" if user else "api_key", str(user or 1), sim,
                2 if len(text) > 70 else 1, ERRORS.get(state, ""), stamp, stamp, stamp, sent,
                final, "console" if user else "api", user, None))
            if r() < inbound_share:
                inbound += 1
                number = numbers[int(r() * RECIPIENTS)]
                text = REPLIES[int(r() * len(REPLIES))].replace("{n}", str(i))
                in_rows.append((inbound, sims[int(r() * SIMS)], number, number, text,
                                stamp, stamp, stamp, stamp))
        con.execute("BEGIN")
        con.executemany(out_sql, out_rows)
        con.executemany(in_sql, in_rows)
        con.execute("COMMIT")
    # Every thread read but the newest 40 numbers' (the replies page shows some unread).
    con.execute('UPDATE "reply_thread" SET "read_upto_id" = "last_inbox_id"')
    con.execute('UPDATE "reply_thread" SET "read_upto_id" = 0 WHERE "number" IN (SELECT '
                '"number" FROM "reply_thread" ORDER BY "last_inbox_id" DESC LIMIT 40)')
    return inbound


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__)
        return 2
    n = int(argv[1]) if len(argv) > 1 else 1_000_000
    print(fill(argv[0], n))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
