"""Recipient numbers: normalising to E.164 and guessing the recipient's and a SIM's network.

Knows: phonenumbers' parsing, the MIIT mobile number segments of mainland China, and the
MCC-MNC codes of the three Chinese operators. Not phonenumbers' carrier data: loading it costs
~10 MB of resident memory on the Pi for what the segment table below already says.
Must not know: SIMs, queues or databases. The balancer asks "which network?" and treats the answer
as a preference: number portability (携号转网) means the original carrier of a number is all anyone
can know offline, so a ported number looks like its old network.
"""

from __future__ import annotations

import re

import phonenumbers

MOBILE = "mobile"
UNICOM = "unicom"
TELECOM = "telecom"
NETWORKS = (MOBILE, UNICOM, TELECOM)


class InvalidNumber(ValueError):
    """A recipient that is not a dialable phone number; the message names the input."""


# MIIT number segments (号段), by the first three digits of an 11-digit mainland mobile number.
# Original allocation only (ported numbers keep their old segment). Also used to accept numbers
# phonenumbers' validity rules do not know yet (its metadata lags new segments by a release).
# 192 (China Broadnet) is left out on purpose: we have no SIMs on that network.
_SEGMENTS: dict[str, str] = {
    **{p: MOBILE for p in (
        "134", "135", "136", "137", "138", "139", "147", "148", "150", "151", "152", "157",
        "158", "159", "165", "172", "178", "182", "183", "184", "187", "188", "195", "197",
        "198")},
    **{p: UNICOM for p in (
        "130", "131", "132", "145", "146", "155", "156", "166", "167", "171", "175", "176",
        "185", "186", "196")},
    # 149 (data/IoT cards) and 174 (174-0 Telecom satellite) are Telecom but phonenumbers 9.0
    # calls them invalid; they are kept so a number there still gets a network.
    **{p: TELECOM for p in (
        "133", "149", "153", "162", "173", "174", "177", "180", "181", "189", "190", "191",
        "193", "199")},
}
# 170 is split between the three operators' virtual operators (MVNOs) by its fourth digit.
_SEGMENTS_170: dict[str, str] = {
    "0": TELECOM, "1": TELECOM, "2": TELECOM,
    "3": MOBILE, "5": MOBILE, "6": MOBILE,
    "4": UNICOM, "7": UNICOM, "8": UNICOM, "9": UNICOM,
}

# MCC 460 = China (ITU-T E.212). 46004/46008 and 46007 are Mobile's extra codes (IoT, TD-SCDMA),
# 46009 Unicom's, 46011 and 46005 Telecom's (LTE, CDMA). 46020 is China Mobile's GSM-R network
# (railways), not a consumer SIM: unknown. Name hints are specific ("china mobile", not "mobile")
# so that "T-Mobile" is not taken for ours.
_MCC_MNC: dict[str, str] = {
    "46000": MOBILE, "46002": MOBILE, "46004": MOBILE, "46007": MOBILE, "46008": MOBILE,
    "46001": UNICOM, "46006": UNICOM, "46009": UNICOM,
    "46003": TELECOM, "46005": TELECOM, "46011": TELECOM,
}

# Operator names as modems report them in +COPS (long or short alphanumeric, English or Chinese).
_OPERATOR_NAME_HINTS: tuple[tuple[str, str], ...] = (
    ("china mobile", MOBILE), ("cmcc", MOBILE), ("移动", MOBILE),
    ("china unicom", UNICOM), ("chn-unicom", UNICOM), ("cucc", UNICOM), ("联通", UNICOM),
    ("china telecom", TELECOM), ("chn-ct", TELECOM), ("ctcc", TELECOM), ("电信", TELECOM),
)

_CN_MOBILE = re.compile(r"^\+861\d{10}$")
_E164_CN_MOBILE = re.compile(r"\+861[0-9]{10}")  # ASCII digits only, nothing around them


def _segment_network(e164: str) -> str | None:
    if not _CN_MOBILE.match(e164):
        return None
    return _network_of_national(e164[3:])


def _network_of_national(national: str) -> str | None:
    """The network of an 11-digit mainland mobile number's segment, or None."""
    if national.startswith("170"):
        return _SEGMENTS_170.get(national[3])
    return _SEGMENTS.get(national[:3])


def normalize_number(raw: str, default_region: str = "CN") -> str:
    """Return `raw` in E.164 ("+8613800138000"); a number without a country code is read as
    one of `default_region`. Raises InvalidNumber naming `raw` when it is not a valid number."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidNumber(f"not a phone number: {raw!r}")
    if _E164_CN_MOBILE.fullmatch(raw) and _network_of_national(raw[3:]) is not None:
        # Already E.164 on a known mainland segment (what most API clients send): exactly what
        # the parse below would return and accept, at a fiftieth of its ~30 µs.
        return raw
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidNumber(f"not a phone number: {raw!r}") from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    # A mainland mobile number on a known segment is accepted even when phonenumbers' metadata
    # does not list it yet: refusing a real customer's number is worse than trying it.
    if phonenumbers.is_valid_number(parsed) or _segment_network(e164) is not None:
        return e164
    raise InvalidNumber(f"not a valid phone number: {raw!r}")


def network_of(e164: str) -> str | None:
    """The original network of a Chinese mobile number: "mobile", "unicom", "telecom", or None
    (landline, foreign, Broadnet, unknown segment). Ported numbers report their old network.
    `e164` is a normalised number (normalize_number): this runs for every queued message."""
    return _segment_network(e164)


def network_of_sim(operator_code: str, operator_name: str = "") -> str | None:
    """A SIM's network from its MCC-MNC (the IMSI's first five digits or +COPS numeric format),
    else from the operator name; None when neither says."""
    code = (operator_code or "").strip()
    if code[:5] in _MCC_MNC:
        return _MCC_MNC[code[:5]]
    name = (operator_name or "").strip().lower()
    for hint, network in _OPERATOR_NAME_HINTS:
        if hint in name:
            return network
    return None


__all__ = [
    "InvalidNumber", "MOBILE", "NETWORKS", "TELECOM", "UNICOM",
    "network_of", "network_of_sim", "normalize_number",
]
