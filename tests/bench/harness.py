"""What the appliance benchmarks share: an appliance and its simulated modems as two processes.

Knows: how to write a caps-lifted config, start `cardgate run` and the steerable simulator
(tests/bench/sim_server.py) in one folder, submit messages over HTTP, sample the appliance's
CPU and RSS, read the simulator's JSONL records of transmitted PDUs, and read message and part
states straight from the appliance's SQLite file (read-only queries; the appliance stays the
only writer). Must not know: what any one benchmark measures or how it reports.

Only public doors are used (the CLI, the HTTP API, the database file and the simulator's
records), so the benchmarks keep working while the engine behind them changes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
FINAL = {"sent", "delivered", "failed", "ambiguous", "expired", "cancelled"}

SHORT_TEXT = "Alarm {n}: pump pressure low at station 12, please check"
CHINESE_TEXT = "【告警{n}】三号泵站压力过低，请尽快处理。"
LONG_TEXT = ("Notice {n}: " + "the north substation will be offline for scheduled work " * 6)
OPERATOR_PREFIXES = ("138", "186", "189", "139", "130", "133")


def cardgate_command() -> list[str]:
    """The `cardgate` console script beside this interpreter, or `python -m appliance`."""
    script = Path(sys.executable).with_name("cardgate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "appliance"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def recipient(n: int) -> str:
    """A distinct valid Chinese mobile number per n, spread over the three operators."""
    return f"+86{OPERATOR_PREFIXES[n % len(OPERATOR_PREFIXES)]}{n:08d}"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Sampler:
    """Samples a process's RSS (with its children) and CPU times in a thread."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def high_water(self) -> int:
        """The kernel's peak RSS of the process (VmHWM, bytes) since it started: the true
        peak, where `peak_rss` only sees the moments it samples. 0 where /proc has no such
        line (not Linux)."""
        try:
            with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def cpu(self) -> float:
        """User + system CPU seconds of the process and its (waited-for and live) children."""
        try:
            t = self.proc.cpu_times()
        except psutil.Error:
            return 0.0
        return t.user + t.system + t.children_user + t.children_system

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_rss = max(self.peak_rss, self.rss())
            except psutil.Error:
                return
            self._stop.wait(self.interval)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


@dataclass
class Rig:
    """A simulator and an appliance as two processes sharing one folder."""

    folder: Path
    modems: int = 16
    latency: float = 0.2
    status_report: bool = False
    log_level: str = "WARNING"
    identity: str = "fleet"  # what the modems say they are: see sim_server.IDENTITIES
    send_timeout: float | None = None  # [modems] send_timeout; None: the appliance's default
    port: int = field(default_factory=free_port)
    sim: subprocess.Popen | None = None
    app: subprocess.Popen | None = None
    key: str = ""
    starts: int = 0
    ready: int = 0
    _sim_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ports_dir(self) -> Path:
        return self.folder / "ports"

    @property
    def config_path(self) -> Path:
        return self.folder / "cardgate.toml"

    @property
    def db_path(self) -> Path:
        return self.folder / "cardgate.db"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        self.config_path.write_text(f"""
[http]
listen = "127.0.0.1:{self.port}"

[database]
url = "sqlite:///{self.db_path}"

[modems]
autodetect = false
ports = ["{self.ports_dir}/modem*"]
poll_interval = 30.0
{f"send_timeout = {self.send_timeout}" if self.send_timeout is not None else ""}

[dispatch]
per_sim_per_minute = 0
per_sim_per_hour = 0
per_sim_per_day = 0
per_sim_per_month = 0
status_report = {"true" if self.status_report else "false"}

[quiet_hours]
enabled = false  # benchmarks measure throughput at any hour (dedupe stays on: its cost counts)

[log]
level = "{self.log_level}"

[admin]
socket = "{self.db_path.parent / 'admin.sock'}"
""", encoding="utf-8")

    def start_sim(self) -> None:
        """The simulator (tests/bench/sim_server.py) in its own process, steerable through
        `sim_command`; returns once its ports exist."""
        self.ports_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / "sim.log", "w")  # noqa: SIM115 - lives with the process
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        self.sim = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.sim_server", "--count", str(self.modems),
             "--dir", str(self.ports_dir), "--latency", str(self.latency),
             "--identity", self.identity],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env,
            cwd=ROOT)
        assert self.sim.stdout is not None
        line = self.sim.stdout.readline()
        if "ready" not in line:
            raise RuntimeError(f"simulator exited: see {self.folder / 'sim.log'}")

    def sim_command(self, op: str, **args: Any) -> dict[str, Any]:
        """One command to the simulator (faults, counts, unplug, replug); its answer."""
        assert self.sim is not None and self.sim.stdin is not None and self.sim.stdout
        with self._sim_lock:
            self.sim.stdin.write(json.dumps({"op": op, **args}) + "\n")
            self.sim.stdin.flush()
            answer = json.loads(self.sim.stdout.readline() or "{}")
        if not answer.get("ok"):
            raise RuntimeError(f"simulator refused {op} {args}: {answer.get('error', answer)}")
        return answer

    def set_fault_rates(self, **rates: Any) -> None:
        """SimulatedModem.set_fault_rates on every modem (no arguments: faults off)."""
        self.sim_command("faults", **rates)

    def profiles(self) -> Counter[str]:
        """How many ready modems the appliance runs with each modem profile (GET /modems)."""
        body = httpx.get(f"{self.base_url}/api/v1/modems", headers=self.headers(),
                         timeout=10).json()
        return Counter(str(m.get("profile") or "?") for m in body.get("modems", [])
                       if m.get("state") != "gone")

    def create_key(self) -> str:
        out = subprocess.run(
            [*cardgate_command(), "apikey", "create", "--config", str(self.config_path),
             "--scopes", "send,read", "--name", f"bench-{os.getpid()}"],
            check=True, capture_output=True, text=True).stdout
        self.key = out.strip().splitlines()[-1].strip()
        return self.key

    def start_app(self, timeout: float = 60.0, *, partial_ok: bool = False) -> float:
        """Start `cardgate run` and wait until every modem is ready; returns seconds taken.

        With `partial_ok`, a start where some modems never come up within `timeout` is
        accepted once the HTTP API answers (`self.ready` tells how many did)."""
        t0 = time.perf_counter()
        self.starts += 1
        log = open(self.folder / f"app-{self.starts}.log", "w")  # noqa: SIM115
        self.app = subprocess.Popen(
            [*cardgate_command(), "run", "--config", str(self.config_path)],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        self.ready = -1
        while time.monotonic() < deadline:
            if self.app.poll() is not None:
                raise RuntimeError(f"appliance exited {self.app.returncode}: see {log.name}")
            try:
                health = httpx.get(f"{self.base_url}/api/v1/health", timeout=2).json()
                self.ready = health["modems"]["ready"]
                if self.ready >= self.modems:
                    return time.perf_counter() - t0
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        if partial_ok and self.ready >= 0:
            return time.perf_counter() - t0
        raise RuntimeError(f"appliance not ready in {timeout}s: see {log.name}")

    def setup(self) -> Rig:
        self.write_config()
        self.start_sim()
        self.create_key()
        self.start_app()
        return self

    def kill_app(self) -> None:
        if self.app is not None and self.app.poll() is None:
            self.app.send_signal(signal.SIGKILL)
            self.app.wait()

    def stop_app(self) -> None:
        if self.app is not None and self.app.poll() is None:
            self.app.terminate()
            try:
                self.app.wait(20)
            except subprocess.TimeoutExpired:
                self.kill_app()

    def teardown(self) -> None:
        self.stop_app()
        if self.sim is not None and self.sim.poll() is None:
            if self.sim.stdin is not None:
                self.sim.stdin.close()
            self.sim.terminate()
            try:
                self.sim.wait(10)
            except subprocess.TimeoutExpired:
                self.sim.kill()
                self.sim.wait()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def records(self) -> list[dict[str, Any]]:
        """Every PDU the simulated modems took (one JSON line each), in file order."""
        out = []
        for path in sorted(self.ports_dir.glob("modem*.jsonl")):
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        try:
                            out.append(json.loads(line))
                        except ValueError:  # a line being written right now
                            pass
        return out

    def record_count(self) -> int:
        total = 0
        for path in self.ports_dir.glob("modem*.jsonl"):
            with open(path, "rb") as handle:
                total += sum(1 for _ in handle)
        return total

    def wait_for_records(self, expected: int, *, stall: float = 30.0,
                         poll: float = 0.25) -> int:
        """Wait until `expected` parts are recorded or nothing new comes for `stall` s."""
        last, last_change = -1, time.monotonic()
        while True:
            count = self.record_count()
            if count >= expected:
                return count
            if count != last:
                last, last_change = count, time.monotonic()
            elif time.monotonic() - last_change > stall:
                return count
            if self.app is not None and self.app.poll() is not None:
                return count
            time.sleep(poll)


async def post_batches(rig: Rig, batches: list[tuple[list[str], str]], *,
                       concurrency: int = 4) -> tuple[list[dict], list[float], float]:
    """POST each (recipients, text); returns (accepted messages, latencies, first accept time).

    Accepted messages are {"id", "to", "text"}; the first accept time is time.time() of the
    first 202 answer.
    """
    accepted: list[dict] = []
    latencies: list[float] = []
    first = [0.0]
    queue: asyncio.Queue = asyncio.Queue()
    for item in batches:
        queue.put_nowait(item)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            to, text = queue.get_nowait()
            t0 = time.perf_counter()
            resp = await client.post("/api/v1/messages", json={"to": to, "text": text})
            latencies.append(time.perf_counter() - t0)
            if resp.status_code != 202:
                raise RuntimeError(f"POST answered {resp.status_code}: {resp.text[:300]}")
            if not first[0]:
                first[0] = time.time()
            for m in resp.json()["messages"]:
                accepted.append({"id": m["id"], "to": m["to"], "text": text})

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=rig.base_url, headers=rig.headers(), timeout=120,
                                 limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return accepted, latencies, first[0]


def saturation_batches(messages: int, batch: int, *,
                       first: int = 0) -> list[tuple[list[str], str]]:
    """80% short, 10% Chinese, 10% three-part; one text per batch (a request's text is shared
    by its recipients), every recipient distinct (recipient(first) onwards)."""
    n_chinese = messages // 10
    n_long = messages // 10
    n_short = messages - n_chinese - n_long
    batches: list[tuple[list[str], str]] = []
    n = first
    for kind, count in (("short", n_short), ("chinese", n_chinese), ("long", n_long)):
        template = {"short": SHORT_TEXT, "chinese": CHINESE_TEXT, "long": LONG_TEXT}[kind]
        done = 0
        while done < count:
            size = min(batch, count - done)
            batches.append(([recipient(n + i) for i in range(size)],
                            template.format(n=len(batches))))
            n += size
            done += size
    # Interleave kinds so the mix reaches the dispatcher mixed, not short-first.
    random.Random(1).shuffle(batches)
    return batches


def expected_parts(batches: list[tuple[list[str], str]]) -> int:
    from appliance.pdu import count_parts

    return sum(len(to) * count_parts(text).parts for to, text in batches)




def db_states(db: Path) -> dict[int, tuple[str, str | None]]:
    """{message id: (state, sim)} read straight from the appliance's SQLite file."""
    con = sqlite3.connect(str(db), timeout=30)
    try:
        return {mid: (state, sim) for mid, state, sim in
                con.execute("SELECT id, state, sim FROM message")}
    finally:
        con.close()


def db_ambiguous_parts(db: Path) -> dict[tuple[int, int], str | None]:
    """{(message id, part index): sim} of every part recorded ambiguous. By part, not by
    message: a long message whose first part a kill left ambiguous settles (as ambiguous)
    only once its other parts have gone, which may be after the next kill or stop."""
    con = sqlite3.connect(str(db), timeout=30)
    try:
        return {(mid, index): sim for mid, index, sim in con.execute(
            'SELECT message_id, "index", sim FROM part WHERE state = \'ambiguous\'')}
    finally:
        con.close()


def db_parts(db: Path, ids: list[int]) -> dict[int, list[tuple[int, str, str]]]:
    """{message id: [(part index, state, error), ...]} for the given messages."""
    con = sqlite3.connect(str(db), timeout=30)
    out: dict[int, list[tuple[int, str, str]]] = {}
    try:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = con.execute(
                f"SELECT message_id, \"index\", state, error FROM part WHERE message_id IN "
                f"({','.join('?' * len(chunk))}) ORDER BY message_id, \"index\"", chunk)
            for mid, index, state, error in rows:
                out.setdefault(mid, []).append((index, state, error or ""))
    finally:
        con.close()
    return out


def open_messages(db: Path, ids: set[int]) -> Counter[str]:
    """States of the given messages that are not final yet (queued, held, sending)."""
    return Counter(state for mid, (state, _sim) in db_states(db).items()
                   if mid in ids and state not in FINAL)


def records_by_part(records: list[dict[str, Any]]) -> dict[tuple[str, int], list[bool]]:
    """{(recipient, part index): [answered?, ...]}: every time a modem took that part."""
    seen: dict[tuple[str, int], list[bool]] = {}
    for r in records:
        key = (r["to"], r["concat"][2] if r["concat"] else 1)
        seen.setdefault(key, []).append(bool(r.get("answered", True)))
    return seen


def add_row_options(parser: Any, rows: dict[str, Any], *, identity: str) -> None:
    """The options that choose a benchmark's rows: named rows, or one custom row."""
    parser.add_argument("--rows", default=",".join(rows),
                        help=f"comma-separated rows among {', '.join(rows)}")
    parser.add_argument("--modems", type=int, help="one custom row: modems")
    parser.add_argument("--messages", type=int, help="one custom row: messages")
    parser.add_argument("--latency", type=float, help="one custom row: +CMGS latency")
    parser.add_argument("--identity", default=identity, choices=("fleet", "sim800", "generic"),
                        help="one custom row: what the modems say they are")


def chosen_rows(parser: Any, args: Any, rows: dict[str, Any], *, modems: int, latency: float,
                messages: int) -> list[tuple[str, Any]]:
    """(name, (modems, latency, identity, messages)) for the rows asked for (add_row_options):
    one custom row when any of its numbers is given, else the named ones."""
    if any(v is not None for v in (args.modems, args.messages, args.latency)):
        return [("custom", (args.modems or modems, args.latency or latency, args.identity,
                            args.messages or messages))]
    unknown = set(args.rows.split(",")) - set(rows)
    if unknown:
        parser.error(f"unknown row(s) {', '.join(sorted(unknown))}; known: {', '.join(rows)}")
    return [(name, rows[name]) for name in args.rows.split(",")]
