"""appliance.memory: glibc takes the fixed mmap threshold (so scrypt's 16 MiB buffers are
unmapped after each check); `python -m tests.bench demo_rss` shows the effect on RSS."""

from __future__ import annotations

import platform

import pytest

from appliance.memory import keep_large_buffers_out_of_the_heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_the_fixed_mmap_threshold():
    assert keep_large_buffers_out_of_the_heap() is True
