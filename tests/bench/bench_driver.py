"""Benchmark: CPU milliseconds per SMS sent through the full driver, zero simulated latency.

The simulator runs in a SEPARATE process (`python -m appliance.sim --count 1 --latency 0`), so
the CPU figure (time.process_time of this process) is the driver's alone: encode_submit, then
Modem.send_part (AT+CMGS, the prompt, the PDU, +CMGS: <mr>) through AtChannel and
pyserial-asyncio-fast. Wall-clock rate is printed too; it includes the simulator's fsync of
every record. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from appliance.modem.driver import Modem
from appliance.modem.profile import load_profiles
from appliance.modem.state import ModemState
from appliance.pdu import encode_submit

SHORT = "Alarm: pump 3 pressure low at station 12, please check"
CHINESE = "【告警】三号泵站压力过低，请尽快处理。"
LONG = ("Maintenance notice: " + "the north substation will be offline for scheduled work " * 6)


def start_simulator(folder: Path, count: int = 1, latency: float = 0.0) -> subprocess.Popen:
    """`python -m appliance.sim` in its own process; returns once its ports exist."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.sim", "--count", str(count), "--dir", str(folder),
         "--latency", str(latency)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "ready" in line:
            break
    else:
        raise RuntimeError("simulator exited before it was ready")
    return proc


def stop_simulator(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def drive(port: str, messages: int, text: str) -> dict[str, float]:
    generic = next(p for p in load_profiles() if p.is_generic)
    modem = await Modem.open(port, generic, command_timeout=5.0, send_timeout=10.0)
    try:
        state = await modem.initialize()
        if state is not ModemState.READY:
            raise RuntimeError(f"modem not ready: {state} {modem.state_reason}")
        for i in range(min(20, messages)):  # warm-up
            for part in encode_submit(f"+8613800{i:06d}", text):
                await modem.send_part(part.pdu, part.tpdu_length)
        parts = 0
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        cpu0, t0 = time.process_time(), time.perf_counter()
        for i in range(messages):
            for part in encode_submit(f"+8613900{i:06d}", text, reference=i):
                await modem.send_part(part.pdu, part.tpdu_length)
                parts += 1
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        await modem.close()
    return {
        "messages": messages, "parts": parts, "elapsed": elapsed, "cpu": cpu,
        "user": usage1.ru_utime - usage0.ru_utime, "sys": usage1.ru_stime - usage0.ru_stime,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_driver", description=__doc__)
    parser.add_argument("--messages", type=int, default=1000, help="messages per text kind")
    parser.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    args = parser.parse_args(argv or [])
    messages = 10 if args.quick else args.messages
    kinds = [("short GSM-7", SHORT), ("Chinese UCS2", CHINESE), ("3-part GSM-7", LONG)]

    with tempfile.TemporaryDirectory(prefix="cardgate-bench-driver-") as folder:
        sim = start_simulator(Path(folder))
        try:
            results = [(label, asyncio.run(drive(str(Path(folder) / "modem0"), messages, text)))
                       for label, text in kinds]
        finally:
            stop_simulator(sim)

    print(f"Driver CPU per SMS (Modem.send_part via AtChannel; simulator in another process, "
          f"latency 0; pid {os.getpid()})")
    for label, r in results:
        per_msg = r["cpu"] / r["messages"] * 1e3
        per_part = r["cpu"] / r["parts"] * 1e3
        print(f"  {label:13}: {per_msg:6.3f} ms CPU/SMS, {per_part:6.3f} ms CPU/part "
              f"(user {r['user']:.2f} s, sys {r['sys']:.2f} s), "
              f"{r['messages'] / r['elapsed']:7,.0f} SMS/s wall "
              f"({r['messages']} SMS, {r['parts']} parts)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
