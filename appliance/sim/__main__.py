"""`python -m appliance.sim --count N --dir DIR [--latency S]`: the simulator without the CLI.

Knows: its own three options. Must not know: anything but how to call run_sim.
"""

from __future__ import annotations

import argparse
import sys

from .fleet import run_sim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.sim",
                                     description="Simulated GSM modems on pseudo-terminals.")
    parser.add_argument("--count", type=int, default=2, help="how many modems (default 2)")
    parser.add_argument("--dir", required=True, help="directory for modemN symlinks and records")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per +CMGS answer")
    args = parser.parse_args(argv)
    return run_sim(args.count, args.dir, args.latency)


if __name__ == "__main__":
    sys.exit(main())
