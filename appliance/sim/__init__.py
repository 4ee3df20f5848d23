"""Simulated GSM modems on real pseudo-terminals, for the demo, the tests and benchmarks.

Knows: how Huawei / Quectel / SIMCom modems behave on their AT port, byte for byte.
Must not know: the appliance's own AT, modem or dispatch code; the appliance reaches these
modems only by opening their tty paths, exactly as it opens real ones.
"""

from .fleet import SimFleet, run_sim
from .identity import SimProfile, make_profile
from .modem import SimulatedModem
from .pty import SimulatedPort
from .record import AcceptedPdu, read_jsonl
from .stick import SimulatedStick

__all__ = ["AcceptedPdu", "SimFleet", "SimProfile", "SimulatedModem", "SimulatedPort",
           "SimulatedStick", "make_profile", "read_jsonl", "run_sim"]
