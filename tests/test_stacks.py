"""`kill -USR1` / `kill -USR2` make a running appliance write its threads' and its asyncio
tasks' stacks to stderr (appliance.stacks): the evidence when a process will not stop."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

from tests.ports import free_port


def test_a_running_demo_tells_its_stacks_on_signals(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "appliance", "demo", "--modems", "1",
                             "--port", str(port), "--data", str(tmp_path / "d"),
                             "--latency", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        for line in proc.stdout:  # type: ignore[union-attr]
            if "web console:" in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGUSR2)
        time.sleep(0.5)
        proc.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert re.search(r"--- \d+ asyncio task\(s\) ---", err), err[-3000:]
    assert "Thread 0x" in err and "most recent call first" in err, err[-3000:]
