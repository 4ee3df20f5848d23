"""The stored form of a number in the address book, the blacklist and conversation threads.

Knows: that a number which normalises is kept in E.164 (`appliance.dispatch.phone`, the one
normaliser, with the configured default region), and which other senders are kept as given:
alphanumeric sender ids and short codes, which do not normalise.
Must not know: tables, HTTP.

What is kept as given (stripped of surrounding blanks), when normalising fails:
- an alphanumeric sender id: at most 11 characters with at least one letter (TS 23.040
  §9.1.2.5: an alphanumeric TP-OA holds up to 11 GSM-7 characters), e.g. "BANK", "JD.com",
  but not one that begins like a mobile number (1380013abc: a mobile typed wrong, not a
  name anyone sends under);
- a short code: at most 8 digits (10086, 95588), but not 7 or 8 digits that start like a
  mobile number (1380013: a mobile with digits missing, not a code anyone sends from);
- a Chinese service-provider number: digits starting with 106, at most 21 (1069xxxx...,
  what bulk senders appear as).
Anything else that does not normalise (a mistyped 10-digit mobile, a "+" number too short) is
InvalidNumber naming the input: keeping it would file a typo under a number nobody has.
"""

from __future__ import annotations

import re

from appliance.dispatch.phone import InvalidNumber, normalize_number

_ALPHANUMERIC = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 .&_'-]{1,11}")
_SHORT_CODE = re.compile(r"[0-9]{3,8}")
_TRUNCATED_MOBILE = re.compile(r"1[3-9][0-9]{5,6}")
_MOBILE_START = re.compile(r"1[3-9][0-9]{4}")
_SERVICE_NUMBER = re.compile(r"106[0-9]{1,18}")


def stored_number(raw: object, default_region: str = "CN") -> str:
    """`raw` as the address book and the blacklist store it: E.164 when it normalises, a
    sender id or short code as given, else InvalidNumber naming `raw`."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidNumber(f"not a phone number: {raw!r}")
    text = raw.strip()
    try:
        return normalize_number(text, default_region)
    except InvalidNumber:
        short_code = _SHORT_CODE.fullmatch(text) and not _TRUNCATED_MOBILE.fullmatch(text)
        sender_id = _ALPHANUMERIC.fullmatch(text) and not _MOBILE_START.match(text)
        if sender_id or short_code or _SERVICE_NUMBER.fullmatch(text):
            return text
        raise


def stored_or_given(raw: str, default_region: str = "CN") -> str:
    """`stored_number`, or `raw` stripped when it is neither a number nor a sender id: for
    numbers that come from the inbox (kept as received there) rather than from a user."""
    try:
        return stored_number(raw, default_region)
    except InvalidNumber:
        return raw.strip()


__all__ = ["InvalidNumber", "stored_number", "stored_or_given"]
