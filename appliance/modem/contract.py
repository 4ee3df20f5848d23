"""The driver contract: what the pool and the dispatcher may expect of a modem.

Knows: the shape of a send and of what a modem reports back (inbound SMS, status reports, loss).
Must not know: serial ports, AT syntax, or any policy (which SIM, retries, quotas).

Like Kannel's smscconn_p.h, the rules are numbered, and every driver (a real modem through
`appliance.modem.driver.Modem`, or anything else that can send a PDU) keeps them:

1. `send_part()` sends exactly one SMS-SUBMIT TPDU and returns the TP-Message-Reference the
   network gave it. It MUST raise, never return, when the part did not provably leave:
   - `PartNotSent`  - the part certainly did not leave (a `+CMS ERROR`, the modem gone before the
     PDU was written, the prompt never came). `cms_error` carries the modem's code when there is
     one; whether it is worth retrying elsewhere is the dispatcher's decision, not the driver's.
   - `PartAmbiguous` - the PDU was written but no final answer came (timeout, modem gone after the
     write): the network may have taken it. The driver MUST NOT resend it by itself.
2. A driver sends one part at a time; the dispatcher awaits each before the next.
3. Inbound messages go to the `InboundHandler` given at start. The handler returns only once the
   message is durably stored; the driver MUST delete it from the modem only after that return,
   and MUST leave it on the modem if the handler raises (it is read again later).
4. Status reports go to the same handler, under the same rule.
5. When the port vanishes, in-flight `send_part()` calls raise (rule 1 decides which error) and
   the driver reports `gone`; the pool tells the dispatcher, which takes the SIM's unfinished
   (claimed, not yet sent) work back.
6. `send_part(..., before_pdu=hook)` awaits `hook()` while the modem's "> " prompt is open,
   after `AT+CMGS=<n>` and before a byte of the PDU is written (the dispatcher commits the part
   `sending` there). If the hook raises, the driver MUST leave the prompt with ESC, leave the
   modem in command state, and raise `PartNotSent` with the hook's exception as its cause:
   nothing was sent. A process killed before the hook returned has written no PDU; the ESC a
   driver writes before probing a modem at start-up clears a prompt left open.
7. `send_part(..., timeout=t)` waits `t` seconds for the answer after the PDU (default: the
   driver's send_timeout), then raises `PartAmbiguous`. If `on_late_answer` was given, a
   `+CMGS: <mr>` that arrives after that is passed to `on_late_answer(mr)` and is never taken
   for a later command's answer. Only the most recent ambiguous send of a modem is awaited,
   and only until the modem's next prompt (a modem gives the next prompt only once it is done
   with the previous submit) or the driver's late-answer window, whichever comes first.
   `on_late_answer` runs on the event loop inside the port's reader: it MUST NOT block or
   raise (a raise is logged and dropped); storage work is scheduled as a task.
8. `check_alive(timeout)` sends one bare `AT` and returns True when the modem answered anything
   (a late answer included), False when it stayed silent or is gone. It never resets or
   reopens: a silent modem is recovered by its pool supervisor, as any hung modem is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


class SendError(Exception):
    """Base of the two ways a send can end without a message reference."""


class PartNotSent(SendError):
    """The part certainly did not leave the modem; safe to try again (anywhere)."""

    def __init__(self, reason: str, *, cms_error: int | None = None, cme_error: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.cms_error = cms_error
        self.cme_error = cme_error


class PartAmbiguous(SendError):
    """The PDU was written but no final result came: the network may have taken it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class InboundSms:
    """One SMS-DELIVER as read from a modem (one part of a possibly longer message)."""

    sim_iccid: str
    sender: str
    text: str
    received_at: datetime  # the SMSC time stamp, time-zone aware
    concat_reference: int | None = None
    concat_count: int = 1
    concat_index: int = 1
    smsc: str | None = None
    pdu: str = ""  # raw hex, kept for audit and re-decoding
    storage: str = ""  # "SM", "ME", "MT", or "" when delivered directly (+CMT)
    index: int | None = None


@dataclass(frozen=True)
class InboundStatusReport:
    """An SMS-STATUS-REPORT: the fate of a part identified by (SIM, reference, recipient)."""

    sim_iccid: str
    message_reference: int
    recipient: str
    status: int  # TP-Status, 3GPP TS 23.040 §9.2.3.15
    delivered: bool  # status 0x00-0x1F: the short message was received by the recipient
    final: bool  # False while the SC is still trying (0x20-0x3F)
    discharged_at: datetime | None = None
    pdu: str = ""


@dataclass(frozen=True)
class QuarantinedPdu:
    """A PDU a modem gave that could not be decoded; kept raw, never crashes a reader."""

    sim_iccid: str
    pdu: str
    error: str
    storage: str = ""
    index: int | None = None


Inbound = InboundSms | InboundStatusReport | QuarantinedPdu
InboundHandler = Callable[[Inbound], Awaitable[None]]


@runtime_checkable
class PartSender(Protocol):
    """Anything that can send one SMS-SUBMIT TPDU (rules 1, 6 and 7)."""

    async def send_part(
        self,
        pdu: str,
        tpdu_length: int,
        *,
        timeout: float | None = None,
        before_pdu: Callable[[], Awaitable[None]] | None = None,
        on_late_answer: Callable[[int], None] | None = None,
    ) -> int: ...


@dataclass
class SimIdentity:
    iccid: str = ""
    imsi: str = ""
    operator: str = ""  # as the network names it (+COPS), e.g. "CHINA MOBILE"
    operator_code: str = ""  # MCC+MNC, e.g. "46000"
    own_number: str = ""  # from +CNUM, when the SIM has it


@dataclass
class ModemIdentity:
    manufacturer: str = ""
    model: str = ""
    revision: str = ""
    imei: str = ""
    sim: SimIdentity = field(default_factory=SimIdentity)

