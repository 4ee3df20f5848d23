"""What a running appliance is doing, on request: `kill -USR1 <pid>` writes the stack of every
thread to stderr (the journal), even when the event loop is stuck in a blocking call;
`kill -USR2 <pid>` writes the stack of every asyncio task (what each coroutine awaits), from
the loop itself. For a technician or a test facing a process that does not stop.

Knows: signals, faulthandler, asyncio tasks.
Must not know: what the appliance's parts are.
"""

from __future__ import annotations

import asyncio
import faulthandler
import io
import logging
import signal
import sys

log = logging.getLogger(__name__)


def _dump_tasks() -> None:
    out = io.StringIO()
    tasks = asyncio.all_tasks()
    out.write(f"--- {len(tasks)} asyncio task(s) ---\n")
    for task in tasks:
        out.write(f"{task!r}\n")
        task.print_stack(limit=12, file=out)
    sys.stderr.write(out.getvalue())
    sys.stderr.flush()


def install_stack_dumps(loop: asyncio.AbstractEventLoop) -> None:
    """USR1: threads (faulthandler, works while the loop is blocked); USR2: asyncio tasks."""
    try:
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        loop.add_signal_handler(signal.SIGUSR2, _dump_tasks)
    except (ValueError, RuntimeError, AttributeError, NotImplementedError) as exc:
        log.debug("stack dumps on signals not available: %s", exc)
