"""Every benchmark module imports and its fastest mode runs, so benchmarks cannot rot.

Runs each tests/bench/bench_*.py `main(argv)` with `--quick` (tiny sizes, a few seconds each);
figures are printed, never asserted. A module whose `main()` takes no argv is only imported
(its defaults are sized for a real run).
"""

from __future__ import annotations

import importlib

import pytest

from tests.bench.__main__ import discover, load_main, split_args, takes_argv

pytestmark = pytest.mark.slow  # end to end: run with -m 'not slow' for the fast layer

NAMES = discover()


def test_benchmarks_are_found() -> None:
    assert {"at", "driver", "demo_rss", "saturation", "crash", "ingest", "faults"} <= set(NAMES)


def test_runner_splits_names_from_options() -> None:
    assert split_args(["at", "bench_saturation.py", "--quick"]) == (["at", "saturation"],
                                                                     ["--quick"])
    assert split_args(["crash", "--", "--kills", "2"]) == (["crash"], ["--kills", "2"])


@pytest.mark.parametrize("name", NAMES)
def test_benchmark_quick_mode_runs(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    module = importlib.import_module(f"tests.bench.bench_{name}")
    main = load_main(name)
    if main is None or not takes_argv(main):
        pytest.skip(f"{module.__name__}.main takes no argv: imported only")
    result = main(["--quick"])
    assert result in (None, 0)
    assert capsys.readouterr().out.strip()  # it printed its figures
