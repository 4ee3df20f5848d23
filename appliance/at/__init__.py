"""The AT-command channel (package `appliance.at`): framing, echo, URCs, timeouts on one port.

Knows: the AT command protocol (ITU-T V.250, 3GPP TS 27.007 / TS 27.005) and serial I/O.
Must not know: SMS policy, PDU contents, modem vendors except as data (URC prefixes, pacing).
"""

from appliance.at.channel import (
    AtChannel,
    AtCommandFailed,
    AtError,
    AtResponse,
    AtTimeout,
    ChannelClosed,
    PayloadCancelled,
    open_channel,
)
from appliance.at.parser import (
    DEFAULT_URC_PREFIXES,
    AtParser,
    Event,
    FinalKind,
    FinalResult,
    LateAnswer,
    Noise,
    Prompt,
    ResponseLine,
    Urc,
)
from appliance.at.traffic import TrafficLine, TrafficLog, redact

__all__ = [
    "DEFAULT_URC_PREFIXES",
    "AtChannel",
    "AtCommandFailed",
    "AtError",
    "AtParser",
    "AtResponse",
    "AtTimeout",
    "ChannelClosed",
    "Event",
    "FinalKind",
    "FinalResult",
    "LateAnswer",
    "Noise",
    "Prompt",
    "ResponseLine",
    "PayloadCancelled",
    "TrafficLine",
    "TrafficLog",
    "Urc",
    "open_channel",
    "redact",
]
