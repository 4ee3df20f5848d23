"""`python -m tests.bench history [--messages N] [--repeat R]`: the console's history and
replies pages over a database of N messages (default 1,000,000).

Fills the database with tests/bench/console_data.py, starts `cardgate run` on it with two
simulated modems (tests/bench/harness.Rig), logs in as an administrator and times each page R
times (default 15), printing the median and the 90th percentile. The time is the HTTP round
trip on the loopback interface (httpx, one keep-alive connection), so it bounds the server's
time from above by a fraction of a millisecond. Aim (issue 11): every page under 100 ms.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from tests.bench.console_data import fill
from tests.bench.harness import Rig, percentile

USER, PASSWORD = "bench-admin", "Bench-Lantern-4821"


def add_admin(url: str) -> None:
    from appliance.accounts.passwords import hash_password
    from appliance.store import accounts
    from appliance.store.service import run_in_database

    hashed = hash_password(PASSWORD)
    run_in_database(url, lambda: accounts.create_user(USER, "admin", hashed,
                                                      must_change_password=False))


def log_in(base_url: str) -> httpx.Client:
    http = httpx.Client(base_url=base_url, timeout=60.0, headers={"Accept-Language": "zh-CN"})
    form = http.get("/console/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = http.post("/console/login", data={"name": USER, "password": PASSWORD,
                                               "csrf_token": token, "next": "/console/history"})
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"log in failed: {answer.status_code} {answer.text[:200]}")
    return http


def pages(db: Path) -> list[tuple[str, str]]:
    """(name, URL) of the pages to time, from what the database holds."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        sim = con.execute('SELECT "iccid" FROM "sim" ORDER BY "iccid" LIMIT 1').fetchone()[0]
        top = con.execute('SELECT MAX("id") FROM "message"').fetchone()[0]
        number = con.execute('SELECT "recipient" FROM "message" WHERE "id" = ?',
                             (top // 2,)).fetchone()[0]
        campaign = con.execute('SELECT MAX("id") FROM "campaign"').fetchone()[0]
        user = con.execute('SELECT MIN("id") FROM "app_user" WHERE "name" LIKE '
                           "'staff%'").fetchone()[0]
        replier = con.execute('SELECT "number" FROM "reply_thread" ORDER BY "last_inbox_id" '
                              "DESC LIMIT 1").fetchone()[0]
    finally:
        con.close()
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    month = f"since={today - timedelta(days=45)}&until={today - timedelta(days=40)}"
    return [
        ("history, first page", "/console/history"),
        ("history, filtered: state+SIM+dates", f"/console/history?state=failed&sim={sim}&{month}"),
        ("history, filtered: user+campaign",
         f"/console/history?user={user}&campaign={campaign}"),
        ("history, filtered: number", f"/console/history?number={number.replace('+', '%2B')}"),
        ("history, filtered: contact", "/console/history?contact=Contact+19"),
        ("history, deep page (oldest)", f"/console/history?before={1000}"),
        ("history, deep page (middle)", f"/console/history?before={top // 2}"),
        ("history, inbound first page", "/console/history?tab=in"),
        ("replies, thread list", "/console/replies"),
        ("replies, one thread", f"/console/replies/{replier.replace('+', '%2B')}"),
        ("export CSV, one campaign", f"/console/history/export.csv?campaign={campaign}"),
    ]


Result = tuple[str, float, float, float, int]


def server_ms(answer: httpx.Response) -> float:
    found = re.search(r"dur=([0-9.]+)", answer.headers.get("server-timing", ""))
    return float(found.group(1)) if found else float("nan")


def time_pages(http: httpx.Client, urls: list[tuple[str, str]], repeat: int) -> list[Result]:
    """(name, server median, server p90, round-trip median, bytes) per page."""
    out = []
    for name, url in urls:
        http.get(url)  # warm: the first read of a cold page cache is the disk's, not ours
        server, trip = [], []
        size = 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            answer = http.get(url)
            trip.append((time.perf_counter() - t0) * 1000)
            if answer.status_code != 200:
                raise RuntimeError(f"{url}: {answer.status_code} {answer.text[:200]}")
            server.append(server_ms(answer))
            size = len(answer.content)
        out.append((name, statistics.median(server), percentile(server, 0.9),
                    statistics.median(trip), size))
    return out


def run(messages: int, repeat: int, folder: Path) -> list[Result]:
    rig = Rig(folder=folder, modems=2, latency=0.0)
    rig.write_config()
    filled = fill(rig.db_path, messages)
    print(f"filled {rig.db_path}: {filled['messages']:,} outbound, {filled['inbound']:,} "
          f"inbound in {filled['seconds']} s")
    add_admin(f"sqlite:///{rig.db_path}")
    try:
        rig.start_sim()
        rig.start_app(timeout=120.0)
        http = log_in(rig.base_url)
        try:
            return time_pages(http, pages(rig.db_path), repeat)
        finally:
            http.close()
    finally:
        rig.teardown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench history")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="100,000 messages, 5 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.repeat = 100_000, 5
    with tempfile.TemporaryDirectory(prefix="cardgate-bench-history-") as tmp:
        results = run(args.messages, args.repeat, Path(tmp))
    print(f"\nconsole pages over {args.messages:,} messages ({args.repeat} runs each; "
          "server = Server-Timing, trip = HTTP round trip on loopback)")
    print(f"{'page':40s} {'server median':>13s} {'server p90':>10s} {'trip median':>11s} "
          f"{'bytes':>9s}")
    for name, median, p90, trip, size in results:
        print(f"{name:40s} {median:13.1f} {p90:10.1f} {trip:11.1f} {size:9,d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
