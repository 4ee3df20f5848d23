"""appliance.memory: glibc takes the fixed mmap threshold (so scrypt's 16 MiB buffers are
unmapped after each check) and the bound on malloc arenas, in `cardgate`'s own process;
`python -m tests.bench demo_rss` and `saturation` show the effect on RSS."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from appliance.memory import keep_large_buffers_out_of_the_heap

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")


@glibc_only
def test_glibc_takes_the_fixed_mmap_threshold():
    assert keep_large_buffers_out_of_the_heap() is True


@glibc_only
def test_threads_of_the_cli_share_two_malloc_arenas():
    # In a fresh process, as `cardgate` does it before any thread starts: eight threads that
    # each allocate and keep C memory then use at most two arenas (glibc's own count, from
    # malloc_info), where they would otherwise get one each.
    probe = """
import ctypes, ctypes.util, os, re, sys, tempfile, threading
from appliance.memory import share_malloc_arenas
if sys.argv[1] == "shared":
    assert share_malloc_arenas()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
kept, started, hold = [], threading.Barrier(8), threading.Event()
def work():
    started.wait()  # all at once: each would take an arena of its own
    kept.append([libc.malloc(4096) for _ in range(64)])
    hold.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
while len(kept) < 8: pass
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile("r") as out:
    stream = ctypes.c_void_p(libc.fopen(out.name.encode(), b"w"))
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(len(re.findall(r'<heap nr="', out.read())))
hold.set()
"""
    def arenas(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", probe, mode], capture_output=True,
                              text=True, timeout=60, check=True)
        return int(done.stdout.strip())

    assert arenas("shared") <= 2
    assert arenas("default") > 2  # the probe does see threads taking arenas of their own
