"""Kannel's `/cgi-bin/sendsms` parameters read as Kannel's smsbox reads them (gw/smsbox.c,
`smsbox_req_sendsms` and `smsbox_req_handle`), as pure functions of the request's bytes.

Knows: the parameter names and their old spellings, how Kannel parses numbers (C `sscanf
"%d"`: a leading integer, the rest ignored, nothing numeric = not given), the ranges it accepts
and the exact texts it answers when a field is refused, how `text` is bytes in `charset`, and
which UDHs we can honour.
Must not know: HTTP frameworks, API keys, the store, SIMs. The adapter (`api/kannel.py`) feeds
it the raw query string and form body and turns a `Refusal` into Kannel's reply.

Decisions where Kannel has no answer of ours to copy (each is said in the refusal or below):
- `to`: Kannel splits on white space (a `+` in a query is a space); we also split on commas,
  a common mistake that Kannel would answer by denying the whole number. Duplicates count once
  (Kannel's `gwlist_append_unique`).
- `text` missing or blank: Kannel sends an empty SMS; we refuse it ("Empty text not allowed,
  rejected"), since intake refuses a message with nothing to read.
- `coding=1` (8-bit binary): our codec does not send binary user data: refused.
- `udh`: Kannel checks only that the first octet is the length of the rest. A UDH made only of
  concatenation elements (IEI 0x00 / 0x08: a caller that splits long texts itself) is accepted
  and each request's text goes as an ordinary SMS of its own (readable on the handset, not
  joined with the others: the handset would join parts only if every one left through the same
  SIM with the same reference, which separate requests cannot promise); any other element
  (ports, WAP push, ringtones...) cannot be honoured and is refused.
- Kannel's "compatibility mode" makes a message with a UDH and no `coding` binary (8-bit). For a
  concatenation-only UDH the text is still text, so coding stays GSM-7/auto.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

MAX_UDH_OCTETS = 140  # MAX_SMS_OCTETS: Kannel's "UDH field is too long"
ACCOUNT_MAX_LEN = 64  # gw/msg.h ACCOUNT_MAX_LEN
CONCAT_IES = {0x00: 3, 0x08: 4}  # TS 23.040 §9.2.3.24.1 / .8: IEI -> length

# Kannel's own answers (gw/smsbox.c), byte for byte.
ACCEPTED = "0: Accepted for delivery"
QUEUED = "3: Queued for later delivery"
AUTH_FAILED = "Authorization failed for sendsms"
MISSING_TO = "Missing receiver number, rejected"
EMPTY_TO = "Empty receiver number not allowed, rejected"
DENIED = "Number(s) has/have been denied by white- and/or black-lists."
NOT_ROUTABLE = "Not routable. Do not try again."
TEMPORAL = "Temporal failure, try again later."
UDH_MISFORMED = "UDH field misformed, rejected"
UDH_TOO_LONG = "UDH field is too long, rejected"
ACCOUNT_MISFORMED = "Account field misformed or too long, rejected"
DLR_URL_MISFORMED = "DLR-URL field misformed, rejected"
DLR_MASK_MISFORMED = "DLR-Mask field misformed, rejected"
MCLASS_MISFORMED = "MClass field misformed, rejected"
CODING_MISFORMED = "Coding field misformed, rejected"
VALIDITY_MISFORMED = "Validity field misformed, rejected"
DEFERRED_MISFORMED = "Deferred field misformed, rejected"
PRIORITY_MISFORMED = "Priority field misformed, rejected"
CHARSET_MISFORMED = "Charset or body misformed, rejected"
INVALID_CONTENT_TYPE = "Invalid content-type"
# Ours, in Kannel's manner, where Kannel would have sent something we cannot.
EMPTY_TEXT = "Empty text not allowed, rejected"
BINARY_UNSUPPORTED = "Coding 1 (8-bit binary) is not supported, rejected"
UDH_UNSUPPORTED = "UDH not supported (only concatenation), rejected"

# Python codecs that are not charsets a device would name (they interpret the bytes).
_NOT_CHARSETS = {"unicode_escape", "raw_unicode_escape", "idna", "punycode", "undefined",
                 "mbcs", "oem", "charmap", "uu_codec", "base64_codec", "hex_codec",
                 "quopri_codec", "bz2_codec", "zlib_codec", "rot_13"}
_ALIASES = {"ucs-2": "utf-16-be", "ucs-2be": "utf-16-be", "ucs2": "utf-16-be",
            "unicodebig": "utf-16-be", "utf-16be": "utf-16-be"}
_INT = re.compile(rb"\s*([+-]?\d+)")


class Refusal(Exception):
    """A request Kannel would refuse: the HTTP status and Kannel's body text (and, for a
    temporal failure, the seconds after which to try again; for a refusal of every receiver,
    the receivers denied)."""

    def __init__(self, status: int, text: str, retry_after: int | None = None,
                 denied: list[str] | None = None):
        super().__init__(text)
        self.status = status
        self.text = text
        self.retry_after = retry_after
        self.denied = denied or []


# -- the raw parameters ----------------------------------------------------------------------

def percent_decode(raw: bytes) -> bytes:
    """`+` to a space, `%XX` to its byte (a `%` not followed by two hex digits stays as it
    is, like PHP's urldecode). Bytes in, bytes out: the charset is applied later."""
    if b"%" not in raw:  # most names and many values: nothing to decode but spaces
        return raw.replace(b"+", b" ")
    return unquote_to_bytes(raw.replace(b"+", b" "))


def parse_pairs(*sources: bytes) -> dict[str, bytes]:
    """The parameters of `a=1&b=2` strings (a query string, a form body), the first occurrence
    of a name winning as in Kannel's `http_cgi_variable`. Names are ASCII-decoded; values stay
    bytes."""
    params: dict[str, bytes] = {}
    for source in sources:
        for pair in source.split(b"&"):
            if not pair:
                continue
            name, _, value = pair.partition(b"=")
            key = percent_decode(name).decode("latin-1")
            if key not in params:
                params[key] = percent_decode(value)
    return params


def _first(params: dict[str, bytes], *names: str) -> bytes | None:
    for name in names:
        if name in params:
            return params[name]
    return None


def kannel_int(raw: bytes | None) -> int | None:
    """`sscanf(value, "%d")`: the leading integer, or None (not given) when there is none."""
    if raw is None:
        return None
    match = _INT.match(raw)
    if match is None:
        return None
    value = int(match.group(1))
    return value if -2**31 <= value < 2**31 else None  # C int overflow: not a usable value


def _text(raw: bytes | None) -> str:
    return "" if raw is None else raw.decode("utf-8", errors="replace")


# -- the request -----------------------------------------------------------------------------

@dataclass(frozen=True)
class KannelSend:
    """One sendsms request, checked and decoded; undefined Kannel fields are None."""

    username: str
    password: str
    to: list[str]  # as given, split (not normalised)
    text: str
    sender: str  # `from`, recorded (a SIM cannot set a sender id)
    charset: str  # as given ("" if none), for %C
    coding: int | None  # 0 or 2 (1 is refused)
    mclass: int | None
    udh: bytes
    smsc: str  # "" = any SIM
    account: str
    binfo: str
    priority: int | None
    validity: int | None  # minutes
    deferred: int | None  # minutes
    dlr_mask: int | None
    dlr_url: str


def credentials(params: dict[str, bytes]) -> tuple[str | None, str | None]:
    """(username, password) as Kannel's `default_authorise_user` finds them."""
    user = _first(params, "username", "user")
    password = _first(params, "password", "pass")
    return (None if user is None else _text(user), None if password is None else _text(password))


def split_receivers(raw: bytes) -> list[str]:
    """The numbers of `to`: split on white space and commas, duplicates once, order kept."""
    seen: dict[str, None] = {}
    for word in re.split(rb"[\s,]+", raw):
        if word:
            seen.setdefault(word.decode("latin-1"), None)
    return list(seen)


def decode_text(raw: bytes, charset: str, coding: int | None) -> str:
    """The text of `raw` bytes: in `charset` when given; else UTF-8 (coding 0) or UTF-16BE
    (coding 2), as Kannel's sms_charset_processing leaves them. Refusal when the charset is
    unknown or the bytes are not text in it."""
    name = charset.strip()
    if not name:
        name = "utf-16-be" if coding == 2 else "utf-8"
    name = _ALIASES.get(name.lower(), name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        raise Refusal(400, CHARSET_MISFORMED) from None
    if info.name.replace("-", "_") in _NOT_CHARSETS or not getattr(info, "_is_text_encoding", True):
        raise Refusal(400, CHARSET_MISFORMED)
    try:
        return raw.decode(info.name)
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, CHARSET_MISFORMED) from None


def check_udh(raw: bytes) -> bytes:
    """The UDH if we can honour it (concatenation elements only, see the module docstring)."""
    if not raw:
        return b""
    if len(raw) != raw[0] + 1:
        raise Refusal(400, UDH_MISFORMED)
    if len(raw) > MAX_UDH_OCTETS:
        raise Refusal(400, UDH_TOO_LONG)
    i = 1
    while i < len(raw):
        if i + 1 >= len(raw):
            raise Refusal(400, UDH_MISFORMED)
        iei, length = raw[i], raw[i + 1]
        if i + 2 + length > len(raw):
            raise Refusal(400, UDH_MISFORMED)
        if CONCAT_IES.get(iei) != length:
            raise Refusal(400, UDH_UNSUPPORTED)
        i += 2 + length
    return raw


def read_request(params: dict[str, bytes]) -> KannelSend:
    """Every field after authentication, in Kannel's order of checks (`to` first, then
    smsbox_req_handle's), refusing with Kannel's status and text."""
    to_raw = params.get("to")
    if to_raw is None:
        raise Refusal(400, MISSING_TO)
    if not to_raw:
        raise Refusal(400, EMPTY_TO)
    udh = check_udh(params.get("udh") or b"")
    receivers = split_receivers(to_raw)
    if not receivers:
        raise Refusal(400, DENIED)  # only separators: every "number" denied
    account = _text(params.get("account"))
    if account and (len(account) > ACCOUNT_MAX_LEN or any(c in account for c in "[]\n\r")):
        raise Refusal(400, ACCOUNT_MISFORMED)
    dlr_url = _text(_first(params, "dlr-url", "dlrurl")).strip()
    if dlr_url and not (dlr_url[:7].lower() == "http://" or dlr_url[:8].lower() == "https://"):
        raise Refusal(400, DLR_URL_MISFORMED)
    dlr_mask = kannel_int(_first(params, "dlr-mask", "dlrmask"))
    if dlr_mask is not None and not -1 <= dlr_mask <= 66:
        raise Refusal(400, DLR_MASK_MISFORMED)
    mclass = kannel_int(params.get("mclass"))
    if mclass is not None and not -1 <= mclass <= 3:
        raise Refusal(400, MCLASS_MISFORMED)
    coding = kannel_int(params.get("coding"))
    if coding is not None and not -1 <= coding <= 2:
        raise Refusal(400, CODING_MISFORMED)
    if coding == 1:
        raise Refusal(400, BINARY_UNSUPPORTED)
    validity = kannel_int(params.get("validity"))
    if validity is not None and validity < -1:
        raise Refusal(400, VALIDITY_MISFORMED)
    deferred = kannel_int(params.get("deferred"))
    if deferred is not None and deferred < -1:
        raise Refusal(400, DEFERRED_MISFORMED)
    priority = kannel_int(params.get("priority"))
    if priority is not None and not 0 <= priority <= 3:
        raise Refusal(400, PRIORITY_MISFORMED)
    charset = _text(params.get("charset"))
    coding = None if coding == -1 else coding
    text = decode_text(params.get("text") or b"", charset, coding)
    if not text.strip():
        raise Refusal(400, EMPTY_TEXT)
    user, password = credentials(params)
    return KannelSend(
        username=user or "", password=password or "", to=receivers, text=text,
        sender=_text(params.get("from")), charset=charset, coding=coding,
        mclass=None if mclass == -1 else mclass, udh=udh,
        smsc=_text(params.get("smsc")).strip(), account=account,
        binfo=_text(params.get("binfo")), priority=priority,
        validity=None if validity == -1 else validity,
        deferred=None if deferred == -1 else deferred,
        dlr_mask=None if dlr_mask in (None, -1, 0) else dlr_mask, dlr_url=dlr_url)


def hex_udh(udh: bytes) -> str:
    return udh.hex().upper()


PRIORITIES = {0: 10, 1: 13, 2: 16, 3: 20}
"""Kannel's 0-3 (higher first) onto ours: 0 is an ordinary notice, 3 an alert; none overtakes
alerts (that needs the admin scope on the JSON API)."""


def our_priority(priority: int | None) -> tuple[str, int | None]:
    """(category, priority) for intake."""
    if priority is None:
        return "notice", None
    return ("alert" if priority == 3 else "notice"), PRIORITIES[priority]


__all__ = [
    "ACCEPTED", "AUTH_FAILED", "DENIED", "KannelSend", "MISSING_TO", "NOT_ROUTABLE", "QUEUED",
    "Refusal", "TEMPORAL", "credentials", "decode_text", "kannel_int", "parse_pairs",
    "percent_decode", "read_request",
]
