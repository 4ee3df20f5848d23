"""Reading JSON bodies and query strings for the address-book APIs (contacts, groups, the
blacklist, conversations), every refusal a 400 naming the field.

Knows: JSON objects, the text rules of intake (UTF-8, no control characters), paging parameters,
and the stored form of a number (`contacts.numbers`) with the configured region.
Must not know: storage, what the fields mean.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from sanic import Request

from appliance.api.errors import ApiError
from appliance.contacts.numbers import InvalidNumber, stored_number
from appliance.dispatch.intake import InvalidRequest, _check_string

MAX_NAME = 255
MAX_NOTE = 10_000
MAX_LIMIT = 500


def bad(field: str, message: str, status: int = 400, code: str = "invalid_field") -> ApiError:
    return ApiError(status, code, f"{field}: {message}", field=field)


def json_object(request: Request, known: set[str]) -> dict[str, Any]:
    """The body as a JSON object with only `known` keys (an unknown key is a typo: named)."""
    try:
        body = request.json
    except Exception:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    unknown = sorted(set(body) - known)
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field {unknown[0]!r} (known: "
                       f"{', '.join(sorted(known))})", field=unknown[0])
    return body


def text(value: Any, field: str, *, limit: int, required: bool = False) -> str:
    """A string of at most `limit` characters, valid Unicode, without control characters
    (tab, CR, LF allowed); `required`: not blank."""
    if not isinstance(value, str):
        raise bad(field, "must be a string")
    if required and not value.strip():
        raise bad(field, "must not be empty")
    if len(value) > limit:
        raise bad(field, f"too long: {len(value)} characters (at most {limit})")
    try:
        _check_string(field, value)
    except InvalidRequest as exc:
        raise bad(field, exc.message) from None
    return value


def number(value: Any, field: str, region: str) -> str:
    """A number in its stored form (E.164; sender ids and short codes as given)."""
    if not isinstance(value, str):
        raise bad(field, "must be a phone number as a string")
    try:
        return stored_number(value, region)
    except InvalidNumber as exc:
        raise bad(field, str(exc)) from None


def numbers(value: Any, field: str, region: str, *, limit: int) -> list[str]:
    """A list of numbers (a single string is a list of one), each in its stored form."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise bad(field, "must be a list of phone numbers")
    if len(value) > limit:
        raise bad(field, f"at most {limit} numbers")
    return [number(v, f"{field}[{i}]", region) for i, v in enumerate(value)]


def ids(value: Any, field: str, *, limit: int) -> list[int]:
    if not isinstance(value, list):
        raise bad(field, "must be a list of ids")
    if len(value) > limit:
        raise bad(field, f"at most {limit} ids")
    out = []
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 2**63:
            raise bad(f"{field}[{i}]", "must be a positive whole number")
        out.append(v)
    return out


def json_fields(value: Any, field: str = "fields") -> dict[str, Any]:
    """Custom fields: a JSON object of at most 50 keys (strings of at most 64 characters)
    whose values are strings, numbers, booleans or null, at most 16 KB as JSON in all."""
    if not isinstance(value, dict):
        raise bad(field, "must be a JSON object of your own fields")
    if len(value) > 50:
        raise bad(field, "at most 50 fields")
    for key, item in value.items():
        text(key, f"{field} key", limit=64, required=True)
        if isinstance(item, float) and not math.isfinite(item):
            raise bad(f"{field}.{key}", "not a finite number")
        if item is not None and not isinstance(item, str | int | float | bool):
            raise bad(f"{field}.{key}", "must be a string, number, boolean or null")
        if isinstance(item, str):
            text(item, f"{field}.{key}", limit=4000)
    if len(json.dumps(value, ensure_ascii=False)) > 16_384:
        raise bad(field, "too large (at most 16 KB as JSON)")
    return value


def query_int(request: Request, name: str, default: int, *, low: int = 0,
              high: int = 2**63 - 1) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad(name, f"must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise bad(name, f"must be from {low} to {high}, got {value}")
    return value


def limit_offset(request: Request, default: int = 50) -> tuple[int, int]:
    return (query_int(request, "limit", default, low=1, high=MAX_LIMIT),
            query_int(request, "offset", 0))


def iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def path_part(value: str) -> str:
    """A path parameter percent-decoded: sanic hands "%2B86..." over as it came, and a "+"
    written as %2B is how clients put an E.164 number in a path."""
    return unquote(value)


def region(request: Request) -> str:
    return request.app.ctx.appliance.config.contacts.default_region
