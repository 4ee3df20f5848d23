"""Benchmark: crash safety — SIGKILL the appliance at random instants while it drains.

Set-up as bench_saturation (appliance and simulator as separate processes, caps lifted). Every
message is accepted first (one request each, a unique recipient and text "bench msg <n>"; one
in ten is three parts long). Then, during the drain, the appliance is SIGKILLed at random
instants (`--kills`, default 10), each time restarted; at the end it runs until nothing is
queued or sending, and what was accepted is compared with what the simulator recorded (its
JSONL lines are fsynced before it answers +CMGS, so they are exactly what "went out").

Definitions (per accepted message; the recipient is unique, so records map to messages):
- lost: not in the database at all, or never reached a final state and no part was recorded;
- duplicated: some part recorded more than once, and the message is NOT marked ambiguous;
- ambiguous: marked `ambiguous` by the recovery after a kill (its +CMGS was in flight);
  counted per kill and per SIM, by PART (a long message whose first part a kill left
  ambiguous settles only after its other parts went, maybe after the next stop: counted by
  message, it showed up in that stop's row) — aim ≤ 1 per modem per kill, 0 per graceful stop;
- ambiguous, never reached a modem: an `ambiguous` PART whose PDU no simulated modem recorded
  (the appliance gave up on a part that provably never left: it could have been resent);
  aim ≤ 1 per 10 kills;
- also shown: sent-but-unrecorded (a `sent` message with a part the modem never took: a
  silent loss), partial (some parts recorded, final, not ambiguous).
Aims: lost 0, duplicated 0. Prints figures; asserts nothing.

Rows (`--rows`, each its own appliance and simulator): "default" 16 modems at 0.2 s +CMGS
latency (the simulator's mixed Huawei/Quectel/SIMCom identities), "slow" 16 modems at 3 s
(many +CMGS in flight at every kill), "sim800" 16 modems at 0.2 s presenting the SIM800
identity (its profile paces commands 50 ms apart, so more time sits between claim and PDU).
`--modems/--messages/--latency/--identity` run one custom row instead.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from appliance.pdu import count_parts
from tests.bench.harness import (
    FINAL,
    LONG_TEXT,
    Rig,
    add_row_options,
    chosen_rows,
    db_ambiguous_parts,
    db_parts,
    db_states,
    post_batches,
    recipient,
    records_by_part,
)

# name: (modems, latency s, identity, messages); quick mode shrinks them.
ROWS = {
    "default": (16, 0.2, "fleet", 2000),
    "slow": (16, 3.0, "fleet", 300),
    "sim800": (16, 0.2, "sim800", 2000),  # the slower profile needs them to see 10 kills
}


def message_text(n: int) -> str:
    if n % 10 == 9:
        return f"bench msg {n} " + LONG_TEXT.format(n=n)
    return f"bench msg {n}"


def wait_settled(rig: Rig, *, stall: float = 30.0, timeout: float = 600.0) -> bool:
    """Until no message is queued or sending (True), or no progress for `stall` s (False)."""
    deadline = time.monotonic() + timeout
    last, last_change = None, time.monotonic()
    while time.monotonic() < deadline:
        states = db_states(rig.db_path)
        open_ = sum(1 for s, _ in states.values() if s not in FINAL)
        if open_ == 0:
            return True
        progress = (open_, rig.record_count())
        if progress != last:
            last, last_change = progress, time.monotonic()
        elif time.monotonic() - last_change > stall:
            return False
        time.sleep(0.5)
    return False


def run(modems: int, messages: int, latency: float, kills: int, seed: int,
        concurrency: int, keep: bool, gap: float = 3.0,
        restart_timeout: float = 20.0, terms: int = 1, identity: str = "fleet") -> dict[str, Any]:
    rng = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix="cardgate-bench-crash-"))
    rig = Rig(folder, modems=modems, latency=latency, identity=identity)
    texts = {recipient(n): message_text(n) for n in range(messages)}
    parts_by_to = {to: count_parts(text).parts for to, text in texts.items()}
    kill_rows: list[dict[str, Any]] = []
    try:
        rig.setup()
        batches = [([to], text) for to, text in texts.items()]
        accepted, _lat, _first = asyncio.run(post_batches(rig, batches,
                                                          concurrency=concurrency))
        drain_start = time.monotonic()
        expected = sum(parts_by_to.values())
        ambiguous_before: set[tuple[int, int]] = set()
        # SIGKILLs (crashes), then SIGTERMs (graceful stops: systemd restarts, upgrades).
        plan = [("kill", k) for k in range(1, kills + 1)] + [("term", k)
                                                              for k in range(1, terms + 1)]
        for how, k in plan:
            time.sleep(rng.uniform(gap / 10, gap))
            recorded = rig.record_count()
            if recorded >= expected or not any(
                    state not in FINAL for state, _ in db_states(rig.db_path).values()):
                break  # drained: nothing left to interrupt
            if how == "kill":
                rig.kill_app()
            else:
                rig.stop_app()
            at = time.monotonic() - drain_start
            states = db_states(rig.db_path)
            in_flight = Counter(sim for s, sim in states.values() if s == "sending")
            restart = rig.start_app(timeout=restart_timeout, partial_ok=True)
            # Recovery ran before the modems were ready: the parts this stop left ambiguous
            # are recorded so now (counted by part: see db_ambiguous_parts).
            ambiguous_now = db_ambiguous_parts(rig.db_path)
            new_keys = set(ambiguous_now) - ambiguous_before
            ambiguous_before = set(ambiguous_now)
            new = Counter(ambiguous_now[key] for key in new_keys)
            kill_rows.append({
                "kill": f"{k}" if how == "kill" else f"TERM{k}", "at": at,
                "recorded": recorded, "sending": sum(in_flight.values()),
                "ambiguous": sum(new.values()), "max_per_sim": max(new.values(), default=0),
                "sims": len(new), "restart": restart, "ready": rig.ready, "parts": new_keys})
        settled = wait_settled(rig, stall=max(30.0, 10 * latency))
        drained_in = time.monotonic() - drain_start
        rig.stop_app()
        states = db_states(rig.db_path)
        parts = db_parts(rig.db_path, [m["id"] for m in accepted])
        records = rig.records()
    finally:
        rig.teardown()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)

    seen: Counter[tuple[str, int]] = Counter(
        {key: len(answers) for key, answers in records_by_part(records).items()})
    tally: Counter[str] = Counter()
    to_of = {m["id"]: m["to"] for m in accepted}
    # An ambiguous part whose PDU no modem ever recorded: it provably never left.
    never_parts = {(mid, index) for mid, rows in parts.items() for index, state, _error in rows
                   if state == "ambiguous" and not seen.get((to_of[mid], index))}
    for k in kill_rows:
        k["never"] = len(never_parts & k.pop("parts"))
    tally["ambiguous parts, never reached a modem"] = len(never_parts)
    tally["ambiguous parts"] = sum(1 for rows in parts.values() for _i, state, _e in rows
                                   if state == "ambiguous")
    for m in accepted:
        to, mid = m["to"], m["id"]
        state = states.get(mid, (None, None))[0]
        counts = [seen.get((to, i), 0) for i in range(1, parts_by_to[to] + 1)]
        tally[f"state {state}"] += 1
        if state is None or (state not in FINAL and not any(counts)):
            tally["lost"] += 1
        if any(c > 1 for c in counts):
            tally["duplicated" if state != "ambiguous" else "ambiguous and resent"] += 1
        if state in ("sent", "delivered") and not all(counts):
            tally["sent but unrecorded"] += 1
        if state in FINAL - {"ambiguous"} and any(counts) and not all(counts):
            tally["partial"] += 1
        if state == "ambiguous":
            tally["ambiguous, modem took it" if all(counts) else "ambiguous, not (all) taken"] += 1
    unknown = {to for to, _ in seen} - set(texts)
    return {"modems": modems, "latency": latency, "identity": identity,
            "messages": len(accepted), "kills": kill_rows, "tally": tally,
            "settled": settled, "drained_in": drained_in, "records": len(records),
            "expected": sum(parts_by_to.values()), "unknown": len(unknown),
            "folder": folder if keep else None}


def report(r: dict[str, Any]) -> None:
    t = r["tally"]
    kills = sum(1 for k in r["kills"] if k["kill"].isdigit())
    print(f"Crash: {kills} SIGKILLs and {len(r['kills']) - kills} SIGTERMs during a "
          f"{r['messages']}-message drain over {r['modems']} simulated modems "
          f"({r['identity']} identity, +CMGS latency {r['latency']} s; 10% three-part)")
    print("  kill   at s  parts recorded  sending at kill  new ambiguous  max/SIM  SIMs  "
          "restart s  modems ready  never reached")
    for k in r["kills"]:
        print(f"  {k['kill']:>5} {k['at']:5.1f}  {k['recorded']:14}  {k['sending']:15}  "
              f"{k['ambiguous']:13}  {k['max_per_sim']:7}  {k['sims']:4}  {k['restart']:9.1f}  "
              f"{k['ready']:5}/{r['modems']:<6}  {k['never']:13}")
    worst = max((k["max_per_sim"] for k in r["kills"] if k["kill"].isdigit()), default=0)
    graceful = sum(k["ambiguous"] for k in r["kills"] if not k["kill"].isdigit())
    print(f"  drained in {r['drained_in']:.1f} s, settled: {r['settled']}; parts recorded "
          f"{r['records']} (non-ambiguous expected ≤ {r['expected']}); unknown recipients "
          f"{r['unknown']}")
    print(f"  lost        : {t['lost']}  (aim 0)")
    print(f"  duplicated  : {t['duplicated']}  (aim 0)")
    print(f"  ambiguous   : {t['state ambiguous']} total, worst {worst} per SIM per kill "
          f"(aim ≤ 1); of them the modem took {t['ambiguous, modem took it']}, "
          f"resent {t['ambiguous and resent']}")
    never = t["ambiguous parts, never reached a modem"]
    print(f"  ambiguous parts whose PDU never reached a modem: {never} of "
          f"{t['ambiguous parts']} ambiguous parts → {never / max(kills, 1) * 10:.1f} per 10 "
          f"kills  (aim ≤ 1)")
    print(f"  ambiguous after graceful stops (SIGTERM rows): {graceful}  (aim 0)")
    print(f"  sent but unrecorded: {t['sent but unrecorded']}, partial: {t['partial']}")
    states = ", ".join(f"{k[6:]} {v}" for k, v in sorted(t.items()) if k.startswith("state "))
    print(f"  final states: {states}")
    if r.get("folder"):
        print(f"  kept: {r['folder']}")


def summary(rows: list[tuple[str, dict[str, Any]]]) -> None:
    print("Crash summary (aims: lost 0, duplicated 0, never reached ≤ 1 per 10 kills)")
    print(f"  {'row':28} {'msgs':>5} {'kills':>5} {'lost':>4} {'dup':>4} {'ambiguous':>9} "
          f"{'took it':>7} {'resent':>6} {'never reached':>13} {'/10 kills':>9} {'drain s':>7}")
    for label, r in rows:
        t = r["tally"]
        kills = sum(1 for k in r["kills"] if k["kill"].isdigit())
        never = t["ambiguous parts, never reached a modem"]
        print(f"  {label:28} {r['messages']:5} {kills:5} {t['lost']:4} {t['duplicated']:4} "
              f"{t['state ambiguous']:9} {t['ambiguous, modem took it']:7} "
              f"{t['ambiguous and resent']:6} {never:13} {never / max(kills, 1) * 10:9.1f} "
              f"{r['drained_in']:7.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_crash", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_row_options(parser, ROWS, identity="fleet")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--terms", type=int, default=1,
                        help="graceful stops (SIGTERM) after the kills, each restarted")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--gap", type=float, default=3.0,
                        help="each kill comes a random gap/10..gap seconds after the restart")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    parser.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    args = parser.parse_args(argv or [])
    rows = [spec for _, spec in chosen_rows(parser, args, ROWS, modems=16, latency=0.2,
                                            messages=2000)]
    if args.quick:  # one tiny row: the smoke test runs the code path, not the figures
        rows = [(2, 0.1, rows[0][2], 60)]
        args.kills, args.gap, args.terms = 1, 0.5, 1
    results = []
    for modems, latency, identity, messages in rows:
        r = run(modems, messages, latency, args.kills, args.seed, args.concurrency, args.keep,
                args.gap, terms=args.terms, identity=identity)
        report(r)
        results.append((f"{latency:g} s, {modems} modems, {identity}", r))
    summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
