"""What a simulated modem took as transmitted: in memory, and optionally as durable JSON lines.

Knows: the AcceptedPdu record and the JSONL format that subprocess tests read after the
appliance under test has been killed. Must not know: AT syntax or ports.

Each line is flushed and fsynced before the modem answers +CMGS, so "the modem answered" always
implies "the record is on disk": a crash test can count exactly what went out.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any


@dataclass
class AcceptedPdu:
    at: float  # time.time() when the modem took the PDU
    pdu: str  # hex as written by the client, SMSC prefix included
    message_reference: int  # the TP-MR the modem assigned (and answers with +CMGS)
    submit: Any  # appliance.pdu.Submit, decoded
    answered: bool  # False when a fault swallowed the answer (the ambiguous case)


class JsonlRecorder:
    """Appends one JSON object per accepted PDU to `path`, written before the modem answers;
    `durable` also fsyncs it (a power cut), which the benchmarks turn off: one fsync per PDU
    on the simulator's one event loop would hold up every simulated modem, and be counted
    against the gateway under test."""

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True):
        self.path = os.fspath(path)
        self.durable = durable

    def append(self, accepted: AcceptedPdu, *, imei: str, iccid: str) -> None:
        submit = accepted.submit
        concat = getattr(submit, "concat", None)
        line = {
            "at": accepted.at,
            "imei": imei,
            "iccid": iccid,
            "mr": accepted.message_reference,
            "pdu": accepted.pdu,
            "to": getattr(submit, "to", None),
            "text": getattr(submit, "text", None),
            "concat": [concat.reference, concat.count, concat.index] if concat else None,
            "answered": accepted.answered,
        }
        # Open per write: a few hundred appends a second at most, and no handle outlives a
        # fork or a test's tmp directory.
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
            handle.flush()
            if self.durable:
                os.fsync(handle.fileno())


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All records in a JSONL file (helper for tests and benchmarks)."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
