"""The appliance's recent log lines, kept in memory for the technician's `logs` command.

Knows: a bounded ring of formatted records, each with a sequence number so a follower asks
for "what came after n". Must not know: who logs, or sockets.

Records come from any thread (the store's writer and readers log too): the ring is guarded
by a lock, and followers poll it rather than being called from a logging thread.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass

DEFAULT_LINES = 1000


@dataclass(frozen=True)
class LogLine:
    seq: int
    at: float
    level: str
    text: str


class LogRing(logging.Handler):
    def __init__(self, maxlen: int = DEFAULT_LINES) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        self._lines: deque[LogLine] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._seq = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a bad format argument must not break the appliance's logging
            text = str(record.msg)
        with self._lock:
            self._seq += 1
            self._lines.append(LogLine(self._seq, record.created, record.levelname, text))

    def after(self, seq: int, limit: int = 200) -> list[LogLine]:
        """Lines with a sequence number above `seq`, the newest `limit` of them."""
        with self._lock:
            lines = [line for line in self._lines if line.seq > seq]
        return lines[-limit:]

    def problems(self, limit: int = 5) -> list[LogLine]:
        """The last warnings and errors (for `status`)."""
        with self._lock:
            bad = [line for line in self._lines if line.level in ("WARNING", "ERROR", "CRITICAL")]
        return bad[-limit:]

    def install(self) -> None:
        logging.getLogger().addHandler(self)

    def uninstall(self) -> None:
        logging.getLogger().removeHandler(self)


__all__ = ["LogLine", "LogRing"]
