"""One modem: the driver, its profiles (device quirks as data), signal and state.

Knows: what its submodules export. Must not know: anything they do not.
"""

from appliance.modem.profile import (
    DEFAULT_PROFILES_DIR,
    ModemProfile,
    ProfileError,
    load_profile,
    load_profiles,
    match_profile,
)
from appliance.modem.signal import Signal, csq_to_dbm, dbm_to_bars
from appliance.modem.state import ModemState, Registration

__all__ = [
    "DEFAULT_PROFILES_DIR",
    "ModemProfile",
    "ModemState",
    "ProfileError",
    "Registration",
    "Signal",
    "csq_to_dbm",
    "dbm_to_bars",
    "load_profile",
    "load_profiles",
    "match_profile",
]
