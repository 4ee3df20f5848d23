"""What the console's dashboard and modem page show, gathered from the live pool, the
dispatcher's counters and the store.

Knows: which service function gives each figure (api.modems.modems_listing and
api.sims.sims_listing, as the API and the technician console show them; store.dashboard for
today's counts, the queue and the replies), and how a modem and its SIM make one row: its
state for a person (gone, barred, resting, ready...), the caps of each configured window
against their use, its last error.
Must not know: SQL (store.dashboard), HTTP or HTML (console_web.dash), how counters are kept.

"Today" is the local calendar day of dispatch.timezone (the MIIT day), as the caps count it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from appliance.api.modems import modem_view, modems_listing
from appliance.api.sims import caps_view, sims_listing
from appliance.dispatch.balancer import PRIORITY
from appliance.dispatch.phone import MOBILE, TELECOM, UNICOM, network_of_sim
from appliance.dispatch.rates import RateLimits, next_window_start, window_start
from appliance.hub import PoolChanged
from appliance.store.dashboard import (
    DashboardFigures,
    LastFailure,
    last_failures,
    read_figures,
    recent_replies,
)
from appliance.store.history import sim_labels
from appliance.store.modems import known_modems

CAP_WINDOWS = ("minute", "hour", "day", "month")
RECENT_REPLIES = 8


def modem_key(imei: str | None, port: str) -> str:
    """The modem's id in console URLs: its IMEI (it keeps it across ports and plugs), or for
    a modem that has not said it yet, its port, encoded to one URL path segment."""
    if imei:
        return imei
    return "p-" + base64.urlsafe_b64encode(port.encode()).decode().rstrip("=")


def _port_of_key(key: str) -> str | None:
    if not key.startswith("p-"):
        return None
    raw = key[2:]
    try:
        port = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_",
                                validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return port or None


@dataclass(frozen=True)
class CapUse:
    window: str  # minute / hour / day / month
    used: int
    limit: int

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.used / self.limit)) if self.limit else 0


@dataclass(frozen=True)
class ModemRow:
    """One modem with its SIM (or a SIM whose modem is not here), as the dashboard shows it."""

    key: str | None  # None: a SIM alone, no modem page
    port: str
    status: str
    """For a person: gone, barred, resting, or the modem's pool state (ready, probing,
    no_sim, pin_needed)."""
    reason: str
    manufacturer: str
    model: str
    imei: str
    iccid: str
    operator: str
    own_number: str
    registration: str
    bars: int
    dbm: int | None
    caps: list[CapUse] = field(default_factory=list)
    queued_on_sim: int = 0
    resting_until: datetime | None = None
    """When the dispatcher lets a rested SIM send again."""
    last_error: str = ""
    last_error_at: datetime | None = None


CATEGORY_LABELS = {"otp": "One-time codes", "alert": "Alerts", "notice": "Notices",
                   "marketing": "Marketing"}
REGISTRATION_LABELS = {
    "home": "Home network", "roaming": "Roaming", "searching": "Searching",
    "denied": "Registration denied", "not_registered": "Not registered", "unknown": "Unknown",
    "sms_only_home": "Home network (SMS only)", "sms_only_roaming": "Roaming (SMS only)",
    "emergency_only": "Emergency calls only", "csfb_not_preferred_home": "Home network",
    "csfb_not_preferred_roaming": "Roaming"}
"""The English words (translated by the templates) for a category and a registration."""


def category_label(category: str) -> str:
    return CATEGORY_LABELS.get(category, category)


def registration_label(name: str) -> str:
    return REGISTRATION_LABELS.get(name, name)


NETWORK_LABELS = {MOBILE: "China Mobile", UNICOM: "China Unicom", TELECOM: "China Telecom"}


def operator_label(name: str, code: str = "") -> str:
    """The operator as people name it ("China Mobile", translated by the template), from what
    the modem reports ("CHN-CT", "46003"); an operator we do not know, as reported."""
    network = network_of_sim(code or "", name or "")
    return NETWORK_LABELS[network] if network else (name or "")


def queue_rows(figures: DashboardFigures) -> list[tuple[int, str, int]]:
    """(priority, category, waiting) for each priority, highest first: the four categories'
    priorities always (zeros too), others as they occur (category "")."""
    names = {priority: category for category, priority in PRIORITY.items()}
    depth = dict.fromkeys(names, 0) | figures.queue_by_priority
    return [(p, names.get(p, ""), depth[p]) for p in sorted(depth, reverse=True)]


@dataclass(frozen=True)
class DashboardSnapshot:
    taken_at: datetime
    rows: list[ModemRow]
    figures: DashboardFigures
    replies: list[dict[str, Any]]


def _status(modem_state: str, sim_row: dict[str, Any] | None,
            counters: dict[str, Any]) -> tuple[str, str]:
    """The state a person reads, and why (a SIM the dispatcher rests says until when in
    `ModemRow.resting_until` instead)."""
    if modem_state == "gone":
        return "gone", ""
    if counters.get("barred") or (sim_row and sim_row.get("state") == "barred"):
        return "barred", (counters.get("barred_reason") or (sim_row or {}).get("barred_reason")
                          or "")
    if modem_state == "ready" and counters.get("resting_until"):
        return "resting", ""
    return modem_state, ""


def _resting_until(counters: dict[str, Any]) -> datetime | None:
    value = counters.get("resting_until")
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _caps(caps: dict[str, dict[str, Any]]) -> list[CapUse]:
    """The sliding minute, hour and day (capped or not: the use shows either way) and the
    month when it has a cap."""
    return [CapUse(window, int(caps[window]["used"] or 0), int(caps[window]["limit"] or 0))
            for window in CAP_WINDOWS
            if window in caps and (window != "month" or caps[window]["limit"])]


def _last_error(reason: str, failure: LastFailure | None) -> tuple[str, datetime | None]:
    if reason:
        return reason, None
    if failure is not None:
        return failure.error, failure.at
    return "", None


def build_rows(modems: list[dict[str, Any]], sims: list[dict[str, Any]],
               failures: dict[str, LastFailure], limits: RateLimits) -> list[ModemRow]:
    """Every modem (present first, then gone), then every SIM no modem row holds. A SIM the
    store has not recorded yet (it was seen a moment ago) shows its caps from its modem's
    counters."""
    sims_by_iccid = {s["iccid"]: s for s in sims}
    rows: list[ModemRow] = []
    shown: set[str] = set()
    for m in modems:
        sim = m["sim"] or {}
        iccid = sim.get("iccid") or ""
        sim_row = sims_by_iccid.get(iccid) if iccid else None
        counters = m.get("counters") or (sim_row or {}).get("counters") or {}
        status, why = _status(m["state"], sim_row, counters)
        modem_reason = m.get("state_reason") or "" if m["state"] != "ready" else ""
        reason = why or modem_reason
        # A modem that is not working says why; that is its last error (a gone one's reason
        # is only when it left: its SIM's last failure is the error then).
        trouble = reason if status not in ("gone", "ready") else ""
        error, error_at = _last_error(trouble, failures.get(iccid))
        if iccid:
            shown.add(iccid)
        if sim_row:
            caps = _caps(sim_row["caps"])
        elif iccid and m["state"] != "gone":
            caps = _caps(caps_view(counters, limits))
        else:
            caps = []
        rows.append(ModemRow(
            key=modem_key(m.get("imei"), m["port"]), port=m["port"] or "", status=status,
            reason=reason, manufacturer=m.get("manufacturer") or "", model=m.get("model") or "",
            imei=m.get("imei") or "", iccid=iccid,
            operator=sim.get("operator") or (sim_row or {}).get("operator") or "",
            own_number=sim.get("own_number") or (sim_row or {}).get("own_number") or "",
            registration=m.get("registration") or "unknown",
            bars=int((m.get("signal") or {}).get("bars") or 0),
            dbm=(m.get("signal") or {}).get("dbm"),
            caps=caps,
            queued_on_sim=int(counters.get("queued_on_sim") or 0),
            resting_until=_resting_until(counters) if status == "resting" else None,
            last_error=error, last_error_at=error_at))
    for s in sims:
        if s["iccid"] in shown:
            continue
        failure = failures.get(s["iccid"])
        status = "barred" if s.get("state") == "barred" else "gone"
        error, error_at = _last_error(s.get("barred_reason") or "", failure)
        rows.append(ModemRow(
            key=None, port="", status=status, reason=s.get("barred_reason") or "",
            manufacturer="", model="", imei="", iccid=s["iccid"], operator=s.get("operator") or "",
            own_number=s.get("own_number") or "", registration="unknown", bars=0, dbm=None,
            caps=_caps(s.get("caps") or {}), last_error=error, last_error_at=error_at))
    return rows


def _now(appliance: Any) -> datetime:
    if appliance.dispatcher is not None:
        return appliance.dispatcher.now()
    return datetime.now(UTC)


def today_bounds(appliance: Any, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the local day containing `now`, in UTC."""
    tz = appliance.dispatcher.tz if appliance.dispatcher is not None else None
    if tz is None:
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(appliance.config.dispatch.timezone)
    return window_start("day", now, tz), next_window_start("day", now, tz)


async def modem_rows(appliance: Any) -> list[ModemRow]:
    """Every modem and SIM, with caps, state and last error (the dashboard's table)."""
    modems, sims = await asyncio.gather(modems_listing(appliance), sims_listing(appliance))
    iccids = sorted({s["iccid"] for s in sims}
                    | {m["sim"]["iccid"] for m in modems if m["sim"].get("iccid")})
    failures = await appliance.store.read(lambda: last_failures(iccids))
    return build_rows(modems, sims, failures, RateLimits.from_config(appliance.config.dispatch))


async def today_figures(appliance: Any) -> DashboardFigures:
    """Sent, delivered and failed today, and the queue by priority."""
    start, end = today_bounds(appliance, _now(appliance))
    return await appliance.store.read(lambda: read_figures(start, end))


async def replies(appliance: Any, limit: int = RECENT_REPLIES) -> list[dict[str, Any]]:
    def read() -> list[dict[str, Any]]:
        found = recent_replies(limit)
        # The SIM as the history names it (its label or number), not its 20-digit ICCID.
        labels = sim_labels({m["sim"] for m in found if m.get("sim")})
        for m in found:
            m["sim_label"] = labels.get(m.get("sim") or "", "")
        return found

    return await appliance.store.read(read)


async def dashboard_snapshot(appliance: Any) -> DashboardSnapshot:
    """Everything the dashboard shows, now (each part is also refreshed on its own)."""
    rows, figures, newest = await asyncio.gather(modem_rows(appliance), today_figures(appliance),
                                                 replies(appliance))
    return DashboardSnapshot(taken_at=_now(appliance), rows=rows, figures=figures,
                             replies=newest)


@dataclass(frozen=True)
class ModemPage:
    """One modem: `supervisor` when the pool holds it (present, or unplugged and remembered);
    None for one only the store remembers (no traffic, nothing to restart)."""

    key: str
    view: dict[str, Any]
    """api.modems.modem_view (or gone_view's shape for a stored one)."""
    supervisor: Any | None


def find_supervisor(appliance: Any, key: str) -> Any | None:
    """The pool's supervisor of the modem `key` names (IMEI, else encoded port); a present
    modem wins over an unplugged one of the same IMEI."""
    if appliance.pool is None:
        return None
    port = _port_of_key(key)
    for sup in appliance.pool.all():  # present ones first
        if (sup.status.identity.imei == key if port is None else sup.status.port == port):
            return sup
    return None


async def modem_page(appliance: Any, key: str) -> ModemPage | None:
    sup = find_supervisor(appliance, key)
    if sup is not None:
        return ModemPage(key=key, view=modem_view(sup, appliance.counters_for(sup)),
                         supervisor=sup)
    if _port_of_key(key) is not None:
        return None
    from appliance.api.modems import gone_view

    for known in await appliance.store.read(known_modems):
        if known["imei"] == key:
            return ModemPage(key=key, view=gone_view(known), supervisor=None)
    return None


RESTART_WAIT = 30.0
"""Seconds a restart waits for the modem to settle (ready, or a state that needs a person)."""
_SETTLING = ("resting", "probing")


async def restart_modem(appliance: Any, sup: Any, who: str,
                        wait: float = RESTART_WAIT) -> str:
    """Close the modem's port and bring it up again, as the technician console's `restart`
    does (ModemSupervisor.restart: a part in flight ends not sent or ambiguous); then wait,
    woken by the pool's events on the hub, until it settles. The state it settled in (still
    "resting" or "probing" when it did not within `wait` seconds)."""
    subscription = appliance.hub.subscribe(f"console-restart:{sup.status.port}", [PoolChanged],
                                           maxsize=100)
    try:
        await sup.restart(f"restart asked by {who} in the web console")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while sup.status.state.value in _SETTLING:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                if not await asyncio.wait_for(subscription.batch(), remaining):
                    break  # the hub closed the subscription
            except TimeoutError:
                break
        return sup.status.state.value
    finally:
        subscription.close()


__all__ = ["CATEGORY_LABELS", "REGISTRATION_LABELS", "CapUse", "DashboardSnapshot", "ModemPage",
           "ModemRow", "build_rows", "category_label", "dashboard_snapshot", "find_supervisor",
           "modem_key", "modem_page", "modem_rows", "queue_rows", "registration_label",
           "replies", "restart_modem", "today_bounds", "today_figures"]
