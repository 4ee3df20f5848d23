"""`python -m tests.bench contacts [--contacts N] [--repeat R]`: the address book's console
pages over N contacts (default 100,000), and a confirmed import of a 100,000-row CSV.

Fills a migrated SQLite file with N contacts (one number each, half of them in 20 groups),
starts `cardgate run` on it (tests/bench/harness.Rig), logs in as an administrator and times
each page R times (default 15): median and 90th percentile of the Server-Timing header, and
the HTTP round trip. Aim (issue 11): every page under 100 ms. Then times an import of
`--import-rows` rows (upload, preview, confirm until done) through the console's own pages.
"""

from __future__ import annotations

import argparse
import random
import re
import sqlite3
import tempfile
import time
from pathlib import Path

from appliance.contacts.tabular import write_csv
from appliance.store.db import open_database
from appliance.store.migrations import migrate
from tests.bench.bench_console import Result, add_admin, log_in, time_pages
from tests.bench.harness import Rig

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


def fill(path: Path, n: int, seed: int = 7) -> None:
    db = open_database(f"sqlite:///{path}", bind=False)
    migrate(db)
    db.close()
    rnd = random.Random(seed)
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("BEGIN")
        con.executemany('INSERT INTO "contact_group" ("id", "name", "note", "created_at") '
                        "VALUES (?, ?, '', '2026-01-01 00:00:00.000000')",
                        [(g, f"分组{g}") for g in range(1, 21)])
        con.executemany('INSERT INTO "contact" ("id", "name", "note", "fields", "created_at", '
                        '"updated_at") VALUES (?, ?, \'\', \'{}\', \'2026-01-01 00:00:00.000000\','
                        " '2026-01-01 00:00:00.000000')",
                        [(i, rnd.choice(SURNAMES) + rnd.choice(SURNAMES) + str(i))
                         for i in range(1, n + 1)])
        con.executemany('INSERT INTO "contact_number" ("contact_id", "number") VALUES (?, ?)',
                        [(i, f"+86138{i:08d}") for i in range(1, n + 1)])
        con.executemany('INSERT INTO "group_member" ("group_id", "contact_id") VALUES (?, ?)',
                        [(i % 20 + 1, i) for i in range(1, n + 1, 2)])
        con.execute("COMMIT")
    finally:
        con.close()


def pages(n: int) -> list[tuple[str, str]]:
    return [
        ("contacts, first page", "/console/contacts"),
        ("contacts, deep page (keyset)", f"/console/contacts?after={n // 2}"),
        ("contacts, search by name", "/console/contacts?q=%E7%8E%8B%E6%9D%8E"),
        ("contacts, search by number", "/console/contacts?q=138+0001+2345"),
        ("contacts, one group", "/console/contacts?group=2"),
        ("groups, list with counts", "/console/groups"),
        ("group page", "/console/groups/2"),
        ("contact page", f"/console/contacts/{n // 3}"),
    ]


def time_import(http, rows: int) -> dict[str, float]:  # noqa: ANN001
    data = write_csv(["姓名", "手机号", "分组", "城市"],
                     [[f"导入{i}", f"139{i:08d}", f"导入组{i % 5}", "杭州"] for i in range(rows)])
    csrf = re.search(r'name="csrf_token" value="([^"]+)"',
                     http.get("/console/contacts/import").text).group(1)
    t0 = time.perf_counter()
    r = http.post("/console/contacts/import", data={"csrf_token": csrf},
                  files={"file": ("bench.csv", data, "text/csv")})
    mapping = r.headers["location"]
    t1 = time.perf_counter()
    form = {"csrf_token": csrf, "role-0": "name", "role-1": "number", "role-2": "group",
            "role-3": "field"}
    http.post(mapping, data=form)
    http.get(mapping + "/preview")
    t2 = time.perf_counter()
    http.post(mapping + "/confirm", data={"csrf_token": csrf, "existing": "skip"})
    while 'id="result"' not in http.get(mapping + "/done").text:
        time.sleep(0.5)
    t3 = time.perf_counter()
    return {"upload": t1 - t0, "preview": t2 - t1, "confirm to done": t3 - t2}


def run(n: int, repeat: int, import_rows: int,
        folder: Path) -> tuple[list[Result], dict[str, float]]:
    rig = Rig(folder=folder, modems=1, latency=0.0)
    rig.write_config()
    fill(rig.db_path, n)
    add_admin(f"sqlite:///{rig.db_path}")
    try:
        rig.start_sim()
        rig.start_app(timeout=120.0)
        http = log_in(rig.base_url)
        try:
            results = time_pages(http, pages(n), repeat)
            timings = time_import(http, import_rows) if import_rows else {}
            return results, timings
        finally:
            http.close()
    finally:
        rig.teardown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench contacts")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10,000 contacts, 5 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.contacts, args.repeat, args.import_rows = 10_000, 5, 5_000
    with tempfile.TemporaryDirectory(prefix="cardgate-bench-contacts-") as tmp:
        results, timings = run(args.contacts, args.repeat, args.import_rows, Path(tmp))
    print(f"\naddress book pages over {args.contacts:,} contacts ({args.repeat} runs each)")
    print(f"{'page':34s} {'server median':>13s} {'server p90':>10s} {'trip median':>11s} "
          f"{'bytes':>9s}")
    for name, median, p90, trip, size in results:
        print(f"{name:34s} {median:13.1f} {p90:10.1f} {trip:11.1f} {size:9,d}")
    if timings:
        print(f"\nimport of {args.import_rows:,} rows: " + ", ".join(
            f"{k} {v:.1f} s" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
