"""A staged installation, made once per session: `make install DESTDIR=<tmp>` from a wheel of
this checkout, offline (`--no-deps --no-index`: the venv in the stage holds cardgate alone, which
is what the tree, the units and the profiles need; the dependencies are pip's business)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.install.fake_systemd import FakeSystemd

ROOT = Path(__file__).resolve().parents[2]
MAKE_TIMEOUT = 120.0


def make(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args],
                          capture_output=True, text=True, timeout=MAKE_TIMEOUT,
                          env={**os.environ, **env})


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy: an in-tree build would leave build/ in the checkout.
    src = out / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
        ".ruff_cache", "demo-data"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--wheel-dir", str(out), str(src)],
                   check=True, capture_output=True, timeout=MAKE_TIMEOUT)
    (found,) = out.glob("cardgate-*.whl")
    return found


def install_args(destdir: Path, wheel: Path) -> list[str]:
    return ["install", f"DESTDIR={destdir}", f"PACKAGE={wheel}", "PIP_ARGS=--no-deps --no-index"]


@pytest.fixture(scope="session")
def staged(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """The staged tree; tests that change it work on a copy (`stage_copy`)."""
    destdir = tmp_path_factory.mktemp("stage") / "root"
    done = make(*install_args(destdir, wheel))
    assert done.returncode == 0, done.stderr
    return destdir


@pytest.fixture
def stage_copy(staged: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "root"
    subprocess.run(["cp", "-a", str(staged), str(copy)], check=True, timeout=MAKE_TIMEOUT)
    return copy


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    fake = FakeSystemd(tmp_path / "notify")
    yield fake
    fake.close()
