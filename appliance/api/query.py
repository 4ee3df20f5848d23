"""Query-string parameters of the JSON API's listings, read strictly.

Knows: how a listing's parameters are read (each at most once, whole numbers in a range, ISO
8601 times with UTC as the default offset) and the 400 that names a bad one.
Must not know: what any listing lists.
"""

from __future__ import annotations

from datetime import datetime

from sanic import Request

from appliance.api.errors import ApiError
from appliance.wire_values import OutOfRange, utc_time, whole_number

MAX_ID = 2**63 - 1


def bad(name: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"{name}: {message}", field=name)


def refuse_unknown(request: Request, known: set[str]) -> None:
    """A 400 for a parameter the listing does not know: a typo such as `?sice=` must not
    silently list everything."""
    unknown = sorted(set(request.args) - known)
    if unknown:
        raise bad(unknown[0], f"unknown parameter (known: {', '.join(sorted(known))})")


def one(request: Request, name: str) -> str | None:
    values = request.args.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise bad(name, "given more than once")
    return values[0]


def integer(request: Request, name: str, low: int, high: int) -> int | None:
    raw = one(request, name)
    if raw is None:
        return None
    try:
        return whole_number(raw, low, high)
    except OutOfRange as exc:
        raise bad(name, f"must be a whole number from {low} to {high}, got {exc}") from None
    except ValueError:
        raise bad(name, f"must be a whole number from {low} to {high}, "
                        f"got {raw[:40]!r}") from None


def time(request: Request, name: str) -> datetime | None:
    raw = one(request, name)
    if raw is None:
        return None
    if len(raw) > 64:
        raise bad(name, "not an ISO 8601 time (too long)")
    try:
        return utc_time(raw)
    except OutOfRange:  # the store converts to UTC: 9999-12-31T23:59-01:00 has no UTC time
        raise bad(name, f"out of range in UTC: {raw[:64]!r}") from None
    except ValueError:
        raise bad(name, f"not an ISO 8601 time: {raw[:64]!r}") from None


def order(request: Request, *, ascending_by_default: bool) -> bool:
    """Whether to list oldest first: `order=asc|desc`, else the listing's default."""
    value = one(request, "order")
    if value not in (None, "asc", "desc"):
        raise bad("order", f'must be "asc" or "desc", got {value[:20]!r}')
    return value == "asc" if value is not None else ascending_by_default


def page(key: str, rows: list[dict], *, ascending: bool, since: int | None,
         before: int | None, view) -> dict:
    """A listing's answer: `{key: [view(row)...]}` and where to go on from - `next_since` (the
    highest id listed, oldest-first order) or `next_before` (the lowest, newest-first); with
    no rows, the bound that was given."""
    ids = [r["id"] for r in rows]
    body: dict = {key: [view(r) for r in rows]}
    if ascending:
        body["next_since"] = max(ids) if ids else since
    else:
        body["next_before"] = min(ids) if ids else before
    return body
