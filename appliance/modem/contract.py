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
   the driver reports `gone`; the pool hands the SIM's unfinished (claimed, not yet sent) work
   back to the queue through `WorkReturner`.
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
    """Anything that can send one SMS-SUBMIT TPDU (rule 1)."""

    async def send_part(self, pdu: str, tpdu_length: int) -> int: ...


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


class WorkReturner(Protocol):
    """Step 3's dispatcher implements this; the pool calls it when a modem is lost."""

    def release_sim(self, iccid: str, reason: str) -> None: ...
