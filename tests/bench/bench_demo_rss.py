"""Benchmark: peak RSS of `cardgate demo --modems 8` (the appliance and its simulated modems).

Starts the demo as a subprocess on a free port and a temporary data folder, waits until
/api/v1/health reports every modem ready, then samples RSS (psutil: the process and its
children) for a few seconds while sending messages through the API. Prints the RSS at ready
and the peak, in MB. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from tests.bench.harness import Sampler, cardgate_command, free_port, recipient

KEY_LINE = re.compile(r"API key \(admin\):\s*(\S+)")


def run(modems: int, seconds: float, messages: int, latency: float) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="cardgate-bench-demo-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [*cardgate_command(), "demo", "--modems", str(modems), "--port", str(port),
         "--data", str(folder / "data"), "--latency", str(latency)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "CARDGATE_LOG": "WARNING"})
    key: list[str] = []

    def read_output() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if (m := KEY_LINE.search(line)) is not None:
                key.append(m.group(1))

    threading.Thread(target=read_output, daemon=True).start()
    try:
        t0 = time.perf_counter()
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"demo exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("demo not ready in 90 s")
            try:
                health = httpx.get(f"{base}/api/v1/health", timeout=2).json()
                if health["modems"]["ready"] >= modems and key:
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        ready_in = time.perf_counter() - t0
        sampler = Sampler(proc.pid, interval=0.1)
        at_ready = sampler.rss()
        sampler.start()
        headers = {"Authorization": f"Bearer {key[0]}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            per_request = max(1, messages // 10)
            for b in range(10):
                to = [recipient(b * per_request + i) for i in range(per_request)]
                text = "你好 cardgate demo" if b % 3 == 0 else f"demo bench message {b}"
                resp = client.post("/api/v1/messages", json={"to": to, "text": text})
                resp.raise_for_status()
                time.sleep(seconds / 10)
        sampler.stop()
        return {"ready_in": ready_in, "at_ready": at_ready, "peak": sampler.peak_rss,
                "modems": modems, "messages": per_request * 10, "seconds": seconds}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_demo_rss", description=__doc__)
    parser.add_argument("--modems", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0, help="sampling time")
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.5, help="the demo's default")
    parser.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    args = parser.parse_args(argv or [])
    if args.quick:
        args.modems, args.seconds, args.messages, args.latency = 2, 0.5, 10, 0.05
    r = run(args.modems, args.seconds, args.messages, args.latency)
    print(f"cardgate demo --modems {r['modems']}: ready in {r['ready_in']:.1f} s")
    print(f"  RSS at ready : {r['at_ready'] / 2**20:6.1f} MB (process and children)")
    print(f"  peak RSS     : {r['peak'] / 2**20:6.1f} MB over {r['seconds']:.0f} s while "
          f"{r['messages']} messages were sent")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
