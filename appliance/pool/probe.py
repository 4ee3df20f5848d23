"""Which of a stick's ttys answers AT: bounded probing of candidate ports.

Knows: sending a bare `AT` and waiting for `OK`, within bounded tries and time.
Must not know: profiles, SIMs, the pool's bookkeeping.

A USB stick exposes several ttys (diagnostics, GPS/NMEA, PPP, AT); where no profile says which
interface carries AT, each candidate is asked and the first one that answers `OK` is kept. A port
that is silent, answers garbage or cannot be opened simply loses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from appliance.at import AtError, open_channel

log = logging.getLogger(__name__)


async def answers_at(path: str, *, baudrate: int = 115200, tries: int = 3,
                     timeout: float = 1.0) -> bool:
    """True when the port answers a bare AT with OK within `tries` attempts."""
    try:
        # No resync probes between tries: each try is itself a bare AT, and a silent port
        # would otherwise cost resync_tries x resync_timeout more per try.
        channel = await open_channel(path, baudrate, resync_tries=0)
    except (AtError, OSError) as exc:
        log.debug("probe %s: cannot open: %s", path, exc)
        return False
    try:
        for _ in range(tries):
            try:
                await channel.command("AT", timeout=timeout)
                return True
            except AtError as exc:
                log.debug("probe %s: %s", path, exc)
                if channel.closed:
                    return False
        return False
    finally:
        await channel.close()


async def find_at_port(paths: Sequence[str], *, baudrate: int = 115200, tries: int = 3,
                       timeout: float = 1.0) -> str | None:
    """The first of `paths` (in their order) that answers AT; all are asked at once."""
    results = await asyncio.gather(
        *(answers_at(p, baudrate=baudrate, tries=tries, timeout=timeout) for p in paths))
    for path, ok in zip(paths, results, strict=True):
        if ok:
            return path
    return None
