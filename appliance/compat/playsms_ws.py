"""playSMS webservices (`index.php?app=ws`) as pure functions: parameters in, answers out.

Knows: how playSMS reads its parameters (web/inc/app/webservices.php: `$_REQUEST`, every value
`trim()`med, the form body over the query, the last of a repeated name winning), its error
codes and their exact texts, the fields of `pv`, `ds`, `ix` and `in` answers and their types
(everything a database row gives PHP is a string), and the three output formats byte for byte:
PHP's `json_encode` (ASCII only, `\\/`), SimpleXML's `asXML()` of `core_array_to_xml`, and PHP's
`serialize`.
Must not know: HTTP frameworks, API keys, the store, SIMs. The adapter (`api/playsms.py`) feeds
it the raw query string and form body, and sends what `render` gives back.

Where playSMS has no answer of ours to copy (the adapter's docstring lists the rest):
- `to`: each comma-separated item as playSMS sanitises it (`core_sanitize_mobile`: digits and
  `+` kept, at most 15); an item that sanitises to nothing is dropped, as playSMS drops it. A
  `#group` or `@user` item, or a number that does not normalise, is a recipient of its own with
  status ERR and error 201; playSMS answers an ERR entry with `to` empty, we keep the number
  there so a client can tell which one failed.
- `schedule` is `YYYY-MM-DD hh:mm:ss` (or ISO 8601) in the appliance's time zone when it
  carries none (playSMS: the user's time zone).
- texts are given back exactly: playSMS replaces `"` by `'` in ds/ix/in messages; we do not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from xml.sax.saxutils import escape

from appliance.compat.kannel_request import percent_decode

# web/inc/app/webservices.php `$ws_error_string`, byte for byte (the codes we answer).
ERROR_STRINGS: dict[str, str] = {
    "100": "authentication failed",
    "101": "type of action is invalid or unknown",
    "102": "one or more field empty",
    "103": "not enough credit for this operation",
    "200": "send message failed",
    "201": "destination number or message is empty",
    "400": "no delivery status available",
    "401": "no delivery status retrieved and SMS still in queue",
    "402": "no delivery status retrieved and SMS has been processed from queue",
    "501": "no data returned or result is empty",
}
AUTH_FAILED = "100"
BAD_OP = "101"
MISSING_FIELD = "102"
NOT_ENOUGH_CREDIT = "103"
SEND_FAILED = "200"
DESTINATION_INVALID = "201"
NO_STATUS = "400"
STILL_QUEUED = "401"
PROCESSED = "402"
NO_DATA = "501"

OPS = ("pv", "ds", "ix", "in")
DEFAULT_COUNT = 100  # playSMS's LIMIT when `c` is empty
MAX_COUNT = 1000  # ours: playSMS has no bound (a client asking for more gets this many)
_PHP_TRIM = " \t\n\r\0\x0b"
_NOT_MOBILE = re.compile(r"[^\d+]+")
_INT = re.compile(r"\s*([+-]?\d+)")

# Our message states as playSMS's p_status: 0 pending, 1 sent, 2 failed, 3 delivered. An
# ambiguous message (its +CMGS unanswered: the network may have it) is "sent", never "failed":
# a playSMS client resends a failed message, and that resend would be a duplicate.
STATUS_OF_STATE = {"queued": "0", "sending": "0", "sent": "1", "ambiguous": "1",
                   "delivered": "3", "failed": "2", "expired": "2", "cancelled": "2"}


class WsError(Exception):
    """A request playSMS answers with `{"status":"ERR","error":code,...}`."""

    def __init__(self, code: str):
        super().__init__(f"{code}: {ERROR_STRINGS[code]}")
        self.code = code


# -- parameters ------------------------------------------------------------------------------

def php_trim(value: str) -> str:
    return value.strip(_PHP_TRIM)


def parse_params(*sources: bytes) -> dict[str, str]:
    """`$_REQUEST` of `a=1&b=2` sources (the query, then the form body): a later source and a
    later repetition win, as in PHP. Values are UTF-8 (an invalid byte becomes U+FFFD) and
    trimmed as webservices.php trims them."""
    params: dict[str, str] = {}
    for source in sources:
        for pair in source.split(b"&"):
            if not pair:
                continue
            name, _, value = pair.partition(b"=")
            key = percent_decode(name).decode("utf-8", errors="replace")
            params[key] = php_trim(percent_decode(value).decode("utf-8", errors="replace"))
    return params


PHP_INT_MAX = 2**63 - 1


def php_int(raw: str) -> int:
    """PHP's `(int)` of a string: its leading integer, else 0; beyond a 64-bit integer it
    saturates at PHP_INT_MAX (or its negative), as PHP 7+ does."""
    match = _INT.match(raw or "")
    if not match:
        return 0
    return max(-PHP_INT_MAX - 1, min(PHP_INT_MAX, int(match.group(1))))


def output_format(params: Mapping[str, str]) -> str:
    """"serialize", "xml" or "json" (anything else is JSON, as in playSMS)."""
    value = params.get("format", "").upper()
    return {"SERIALIZE": "serialize", "XML": "xml"}.get(value, "json")


def operation(params: Mapping[str, str]) -> str:
    """The op, lower-cased; WsError 102 when none, 101 when not one we serve."""
    op = params.get("op", "").lower()
    if not op:
        raise WsError(MISSING_FIELD)
    if op not in OPS:
        raise WsError(BAD_OP)
    return op


def sanitize_mobile(item: str) -> str:
    """playSMS's core_sanitize_mobile: digits and `+` only, at most 15 characters."""
    return _NOT_MOBILE.sub("", item.strip())[:15]


@dataclass(frozen=True)
class Recipient:
    given: str  # as playSMS echoes it in `to`
    refused: bool  # a #group / @user item: never a number here


@dataclass(frozen=True)
class PvRequest:
    recipients: list[Recipient]
    text: str
    force_ucs2: bool
    flash: bool
    schedule: datetime | None
    sender: str


def recipients(raw: str) -> list[Recipient]:
    """The items of `to`, sanitised, duplicates once, order kept (see the module docstring)."""
    out: dict[str, Recipient] = {}
    for item in raw.split(","):
        item = item.strip()
        if item[:1] in ("#", "@"):
            if len(item) > 1:
                out.setdefault(item, Recipient(item, True))
            continue
        number = sanitize_mobile(item)
        if number:
            out.setdefault(number, Recipient(number, False))
    return list(out.values())


def parse_schedule(raw: str, zone: tzinfo, now: datetime) -> datetime | None:
    """`schedule` as an aware time; None when empty or already past (send now). ValueError
    when it is not a time."""
    if not raw:
        return None
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return None if value <= now else value


def read_pv(params: Mapping[str, str], zone: tzinfo, now: datetime) -> PvRequest:
    """A send request; WsError 201 when `to` or `msg` is empty (playSMS's check), 200 when
    `schedule` is not a time."""
    to, msg = params.get("to", ""), params.get("msg", "")
    if not to or not msg:
        raise WsError(DESTINATION_INVALID)
    items = recipients(to)
    if not items:
        raise WsError(DESTINATION_INVALID)
    try:
        schedule = parse_schedule(params.get("schedule", ""), zone, now)
    except (ValueError, OverflowError):
        raise WsError(SEND_FAILED) from None
    # webservices.php: `$unicode = trim(unicode) ?: 0`, then `(int)`; `$type` 'flash' or text.
    return PvRequest(recipients=items, text=msg.replace("\r\n", "\n"),
                     force_ucs2=php_int(params.get("unicode", "")) != 0,
                     flash=params.get("type", "").lower() == "flash",
                     schedule=schedule, sender=params.get("from", ""))


@dataclass(frozen=True)
class ListQuery:
    """The filters of ds / ix / in. `dt` is a time range when given (see `time_range`)."""

    count: int
    last: int | None
    src: str
    dst: str
    dt: tuple[datetime, datetime] | None
    queue: str = ""
    smslog_id: int | None = None
    kwd: str = ""


_DT_FORMATS = ((19, "%Y-%m-%d %H:%M:%S", timedelta(seconds=1)),
               (16, "%Y-%m-%d %H:%M", timedelta(minutes=1)),
               (13, "%Y-%m-%d %H", timedelta(hours=1)),
               (10, "%Y-%m-%d", timedelta(days=1)))


def time_range(raw: str) -> tuple[datetime, datetime]:
    """playSMS matches `dt` as `LIKE '%dt%'` on `YYYY-MM-DD hh:mm:ss` (UTC); we take it as a
    prefix of that (a day, an hour, a minute, a second) and return [start, end) in UTC. A
    month (`2026-12`) is a prefix too. ValueError when it is none of these."""
    for length, fmt, step in _DT_FORMATS:
        if len(raw) == length:
            start = datetime.strptime(raw, fmt).replace(tzinfo=UTC)
            return start, start + step
    if len(raw) == 7:
        start = datetime.strptime(raw + "-01", "%Y-%m-%d").replace(tzinfo=UTC)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else \
            start.replace(month=start.month + 1)
        return start, end
    if len(raw) == 4 and raw.isdigit():
        start = datetime(int(raw), 1, 1, tzinfo=UTC)
        return start, start.replace(year=start.year + 1)
    raise ValueError(raw)


def read_list(params: Mapping[str, str]) -> ListQuery:
    """The filters, as webservices.php reads them; `c` of 0 or none is 100 (capped at
    MAX_COUNT). Raises WsError 501 for a `dt` that cannot match any time."""
    count = php_int(params.get("c", ""))
    count = DEFAULT_COUNT if count <= 0 else min(count, MAX_COUNT)
    last = php_int(params.get("last", "")) or None
    dt = None
    if params.get("dt"):
        try:
            dt = time_range(params["dt"])
        except (ValueError, OverflowError):
            raise WsError(NO_DATA) from None
    smslog_id = php_int(params.get("smslog_id", "")) or None
    return ListQuery(count=count, last=last, src=params.get("src", ""),
                     dst=params.get("dst", ""), dt=dt, queue=params.get("queue", ""),
                     smslog_id=smslog_id, kwd=params.get("kwd", ""))


# -- answers ---------------------------------------------------------------------------------

def php_datetime(value: datetime | None) -> str:
    """A stored time as playSMS's database gives it: `YYYY-MM-DD hh:mm:ss`, UTC."""
    if value is None:
        return "0000-00-00 00:00:00"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def pv_ok(smslog_id: int, queue: str, to: str) -> dict[str, str]:
    return {"status": "OK", "error": "0", "smslog_id": str(smslog_id), "queue": queue, "to": to}


def pv_err(code: str, to: str) -> dict[str, str]:
    return {"status": "ERR", "error": code, "smslog_id": "", "queue": "", "to": to}


def ds_item(row: Mapping[str, Any]) -> dict[str, str]:
    """One outgoing message (store.playsms.outgoing) as a ds data entry."""
    return {"smslog_id": str(row["id"]), "src": row["src"], "dst": row["recipient"],
            "msg": row["text"], "dt": php_datetime(row["created_at"]),
            "update": php_datetime(row["updated_at"]),
            "status": STATUS_OF_STATE.get(row["state"], "0")}


def ix_item(row: Mapping[str, Any]) -> dict[str, str]:
    """One received message (store.playsms.inbox) as an ix data entry."""
    return {"id": str(row["id"]), "src": row["sender"], "dst": row["dst"], "msg": row["text"],
            "dt": php_datetime(row["received_at"])}


def in_item(row: Mapping[str, Any]) -> dict[str, str]:
    """One received message a rule answered (store.playsms.incoming) as an `in` data entry;
    status 1 is playSMS's in_status "handled by a feature"."""
    return {"id": str(row["id"]), "src": row["sender"], "dst": row["dst"], "kwd": row["kwd"],
            "msg": row["text"], "dt": php_datetime(row["received_at"]), "status": "1"}


def answer(*, data: list[dict[str, str]] | None = None, error: str | None = None,
           timestamp: int) -> dict[str, Any]:
    """The whole answer in webservices.php's key order: `data` or `status`/`error`, then
    `error_string` (null when there is no error) and `timestamp` (an integer, time())."""
    body: dict[str, Any] = {}
    if error is not None:
        body["status"] = "ERR"
        body["error"] = error
    else:
        body["data"] = data or []
    body["error_string"] = ERROR_STRINGS.get(error) if error is not None else None
    body["timestamp"] = timestamp
    return body


def php_json(value: Any) -> str:
    """PHP's json_encode with default flags: ASCII only (`\\uXXXX`, surrogate pairs beyond the
    BMP) and `/` escaped as `\\/`. Python's escapes are the same otherwise, and `/` occurs only
    inside strings, so the replacement is exact."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udfff]")


def _xml_text(value: str) -> str:
    # XML 1.0 cannot carry these characters at all, not even as references: each becomes
    # U+FFFD (the JSON and serialize formats carry them exactly). libxml2 writes CR as `&#13;`
    # (a parser would turn a raw CR LF into LF) and, the document declaring no encoding,
    # everything beyond ASCII as `&#xHEX;`.
    text = escape(_XML_INVALID.sub("\ufffd", value)).replace("\r", "&#13;")
    return _NON_ASCII.sub(lambda m: f"&#x{ord(m.group()):X};", text)


def _xml(value: Any, name: str, out: list[str]) -> None:
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        inner: list[str] = []
        for key, item in items:
            _xml(item, "item" if isinstance(key, int) else key, inner)
        out.append(f"<{name}>{''.join(inner)}</{name}>" if inner else f"<{name}/>")
        return
    text = "" if value is None else _xml_text(str(value))
    out.append(f"<{name}>{text}</{name}>" if text else f"<{name}/>")


def php_xml(value: dict[str, Any]) -> str:
    """`core_array_to_xml($json, new SimpleXMLElement('<response/>'))->asXML()`: list items
    are `<item>`, an empty value is `<name/>`, `&`, `<`, `>` and CR escaped, ASCII only."""
    out: list[str] = []
    _xml(value, "response", out)
    return '<?xml version="1.0"?>\n' + out[0] + "\n"


def php_serialize(value: Any) -> str:
    """PHP's serialize(): string lengths in UTF-8 bytes, list indexes as integer keys."""
    if value is None:
        return "N;"
    if isinstance(value, bool):
        return f"b:{int(value)};"
    if isinstance(value, int):
        return f"i:{value};"
    if isinstance(value, str):
        return f's:{len(value.encode("utf-8", errors="surrogatepass"))}:"{value}";'
    if isinstance(value, list):
        value = dict(enumerate(value))
    if isinstance(value, dict):
        inner = "".join(php_serialize(k) + php_serialize(v) for k, v in value.items())
        return f"a:{len(value)}:{{{inner}}}"
    raise TypeError(f"cannot serialize {type(value).__name__}")


CONTENT_TYPES = {"json": "application/json", "xml": "text/xml;charset=UTF-8",
                 "serialize": "text/plain;charset=UTF-8"}


def render(body: dict[str, Any], fmt: str) -> tuple[bytes, str]:
    """(bytes, content type) of an answer in `fmt` ("json", "xml" or "serialize")."""
    if fmt == "serialize":
        text = php_serialize(body)
    elif fmt == "xml":
        text = php_xml(body)
    else:
        text = php_json(body)
    return text.encode("utf-8", errors="surrogatepass"), CONTENT_TYPES[fmt]


__all__ = [
    "ERROR_STRINGS", "ListQuery", "PvRequest", "Recipient", "STATUS_OF_STATE", "WsError",
    "answer", "ds_item", "in_item", "ix_item", "operation", "output_format", "parse_params",
    "php_datetime", "php_int", "php_json", "php_serialize", "php_xml", "pv_err", "pv_ok",
    "read_list", "read_pv", "recipients", "render", "time_range",
]
