"""`python -m tests.bench console [--messages N] [--repeat R] [--streams S]`: the web
console's pages over a database of N messages (default 1,000,000), and the appliance's memory
with S live pages open (default 20).

Fills the database with tests/bench/console_data.py, starts `cardgate run` on it with two
simulated modems (tests/bench/harness.Rig), logs in as an administrator and times each page R
times (default 15): the median and 90th percentile of the server's own time (its
Server-Timing header) and the median HTTP round trip on loopback. Then S clients hold the
console's event stream open (as S open dashboards do) while messages are sent through the
API and every page is read again, and the appliance process's peak RSS (VmHWM) is printed.
Aims (issue 11): every page under 100 ms server time.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from appliance.store.service import create_api_key_sync
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
    biggest = _biggest_campaign(db)
    return [
        ("dashboard", "/console/dashboard"),
        ("dashboard: modems fragment", "/console/dashboard/modems"),
        ("dashboard: figures fragment", "/console/dashboard/figures"),
        ("campaigns list", "/console/campaigns"),
        (f"campaign page ({biggest[1]:,} recipients)", f"/console/campaigns/{biggest[0]}"),
        ("approvals", "/console/approvals"),
        ("compose", "/console/compose"),
        ("contacts", "/console/contacts"),
        ("groups", "/console/groups"),
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


def _biggest_campaign(db: Path) -> tuple[int, int]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute('SELECT "campaign_id", COUNT(*) AS n FROM "message" WHERE '
                           '"campaign_id" IS NOT NULL GROUP BY "campaign_id" ORDER BY n DESC '
                           "LIMIT 1").fetchone()
    finally:
        con.close()


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


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in KiB, from /proc/PID/status."""
    fields = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def hold_streams(base_url: str, cookies: httpx.Cookies, count: int, stop: threading.Event,
                 received: list[int]) -> list[threading.Thread]:
    """`count` clients, each holding the console's event stream open (as an open dashboard
    does) and counting the events it gets, until `stop`."""

    def follow(index: int) -> None:
        with httpx.Client(base_url=base_url, cookies=cookies, timeout=None) as http, \
                http.stream("GET", "/console/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    received[index] += 1
                if stop.is_set():
                    break

    threads = [threading.Thread(target=follow, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads


def load_with_streams(rig: Rig, http: httpx.Client, key: str, urls: list[tuple[str, str]],
                      streams: int, messages: int) -> dict[str, float]:
    """Peak RSS of the appliance while `streams` live pages are open, `messages` messages are
    sent through the API (their states stream to every page) and every page is read again."""
    stop = threading.Event()
    received = [0] * streams
    threads = hold_streams(rig.base_url, http.cookies, streams, stop, received)
    deadline = time.monotonic() + 30
    while sum(1 for t in threads if t.is_alive()) < streams and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    before = rss_kib(rig.app.pid)
    api = {"Authorization": f"Bearer {key}"}
    sent = 0
    while sent < messages:
        batch = [f"+86139{(sent + i) % 100_000_000:08d}" for i in range(min(200, messages - sent))]
        answer = http.post("/api/v1/messages", headers=api,
                           json={"to": batch, "text": f"console bench {sent}"})
        if answer.status_code != 202:
            raise RuntimeError(f"send: {answer.status_code} {answer.text[:200]}")
        sent += len(batch)
    for _, url in urls:
        http.get(url)
    time.sleep(5.0)  # the modems drain; the streams carry the states
    after = rss_kib(rig.app.pid)
    stop.set()
    return {"streams": streams, "events_per_stream": statistics.median(received),
            "rss_before_mb": before[0] / 1024, "rss_after_mb": after[0] / 1024,
            "peak_rss_mb": after[1] / 1024}


def run(messages: int, repeat: int, folder: Path, streams: int) -> tuple[list[Result], dict]:
    rig = Rig(folder=folder, modems=2, latency=0.0)
    rig.write_config()
    filled = fill(rig.db_path, messages)
    print(f"filled {rig.db_path}: {filled['messages']:,} outbound, {filled['inbound']:,} "
          f"inbound in {filled['seconds']} s")
    url = f"sqlite:///{rig.db_path}"
    add_admin(url)
    key = create_api_key_sync(url, "console-bench", ["send", "read"])
    try:
        rig.start_sim()
        rig.start_app(timeout=120.0)
        http = log_in(rig.base_url)
        try:
            urls = pages(rig.db_path)
            results = time_pages(http, urls, repeat)
            memory = load_with_streams(rig, http, key, urls, streams,
                                       messages=max(200, min(2_000, messages // 500)))
            return results, memory
        finally:
            http.close()
    finally:
        rig.teardown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench console")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--quick", action="store_true",
                        help="100,000 messages, 5 repeats, 4 streams")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.repeat, args.streams = 100_000, 5, 4
    with tempfile.TemporaryDirectory(prefix="cardgate-bench-console-") as tmp:
        results, memory = run(args.messages, args.repeat, Path(tmp), args.streams)
    print(f"\nconsole pages over {args.messages:,} messages ({args.repeat} runs each; "
          "server = Server-Timing, trip = HTTP round trip on loopback)")
    print(f"{'page':40s} {'server median':>13s} {'server p90':>10s} {'trip median':>11s} "
          f"{'bytes':>9s}")
    for name, median, p90, trip, size in results:
        print(f"{name:40s} {median:13.1f} {p90:10.1f} {trip:11.1f} {size:9,d}")
    print(f"\nwith {memory['streams']} live pages open (event streams), messages sent and every "
          f"page read again: appliance RSS {memory['rss_before_mb']:.1f} MB before, "
          f"{memory['rss_after_mb']:.1f} MB after, peak {memory['peak_rss_mb']:.1f} MB; "
          f"{memory['events_per_stream']:.0f} events per stream (median)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
