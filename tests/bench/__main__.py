"""`python -m tests.bench [NAME ...] [--quick | bench options]`: run benchmarks, print figures.

Knows: how to find benchmark modules (tests/bench/bench_*.py with a `main()`), how to pick
them by short name (`at` → bench_at, `saturation` → bench_saturation), and how to call a
`main(argv)` or a plain `main()`. Must not know: what any benchmark measures.

Arguments that start with "-" (and everything after a bare "--") are handed to each selected
module whose `main` takes an argv, e.g. `python -m tests.bench at driver --quick`; a `main()`
without parameters runs with its defaults (sys.argv holding just its name). A benchmark
that fails is reported and the others still run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

PACKAGE = "tests.bench"
PREFIX = "bench_"
HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Short names of every bench_*.py module beside this file, sorted."""
    return sorted(info.name[len(PREFIX):] for info in pkgutil.iter_modules([str(HERE)])
                  if info.name.startswith(PREFIX))


def load_main(name: str) -> Callable[..., object] | None:
    module = importlib.import_module(f"{PACKAGE}.{PREFIX}{name}")
    main = getattr(module, "main", None)
    return main if callable(main) else None


def takes_argv(main: Callable[..., object]) -> bool:
    try:
        return bool(inspect.signature(main).parameters)
    except (TypeError, ValueError):
        return False


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(names, options): bare words are names until an option or "--" starts the options."""
    names: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":
            return names, argv[i + 1:]
        if arg.startswith("-"):
            return names, argv[i:]
        names.append(arg.removeprefix(PREFIX).removesuffix(".py"))
    return names, []


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        print("benchmarks:", " ".join(discover()))
        return 0
    names, options = split_args(argv)
    known = discover()
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; known: {' '.join(known)}", file=sys.stderr)
        return 2
    failed: list[str] = []
    for name in names or known:
        try:
            bench_main = load_main(name)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        if bench_main is None:
            continue
        print(f"=== {PREFIX}{name} {' '.join(options)}".rstrip(), flush=True)
        started = time.perf_counter()
        try:
            if takes_argv(bench_main):
                result = bench_main(list(options))
            else:
                # A main() that parses sys.argv itself must not see the runner's arguments.
                if options:
                    print(f"(options not passed: {PREFIX}{name}.main takes no argv)")
                saved, sys.argv = sys.argv, [f"{PREFIX}{name}"]
                try:
                    result = bench_main()
                finally:
                    sys.argv = saved
            if isinstance(result, int) and result != 0:
                failed.append(name)
        except SystemExit as exc:  # argparse in a bench main
            if exc.code not in (None, 0):
                failed.append(name)
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"--- {PREFIX}{name}: {time.perf_counter() - started:.1f} s wall\n", flush=True)
    if failed:
        print(f"FAILED: {' '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
