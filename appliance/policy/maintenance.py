"""The holds in force: quiet hours and maintenance windows from the config, and maintenance
switched on or off by hand (PUT /api/v1/maintenance), kept across restarts.

Knows: how `[quiet_hours]` and `[maintenance]` become `holds.HoldRules`, and the manual
switch (persisted through appliance.store.maintenance).
Must not know: HTTP, the dispatcher (which reads `schedule`; whoever switches calls its wake).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import datetime
from typing import Any

from appliance.policy.holds import (
    HoldRules,
    HoldSchedule,
    QuietHours,
    Window,
    parse_clock,
    windows_from_strings,
)
from appliance.store import maintenance as maintenance_store
from appliance.store.writer import Store

CATEGORIES = frozenset({"otp", "alert", "notice", "marketing"})
"""Every message category (dispatch.balancer.PRIORITY's keys; tests/policy checks they agree)."""


def rules_from_config(config: Any) -> HoldRules:  # config.Config
    tz = zoneinfo.ZoneInfo(config.dispatch.timezone)
    section = config.quiet_hours
    quiet = None
    if section.enabled:
        quiet = QuietHours(parse_clock(section.start, "quiet_hours.start"),
                           parse_clock(section.end, "quiet_hours.end"),
                           frozenset(section.categories))
    windows = windows_from_strings(config.maintenance.windows, tz, "maintenance.windows")
    return HoldRules(tz=tz, categories=CATEGORIES, quiet=quiet, windows=windows)


class Maintenance:
    def __init__(self, store: Store, rules: HoldRules, clock: Callable[[], datetime]):
        self.store = store
        self.schedule = HoldSchedule(rules)
        self.clock = clock
        self.manual: dict[str, Any] | None = None

    async def load(self) -> None:
        self._apply(await self.store.read(maintenance_store.load_manual))

    def _apply(self, manual: dict[str, Any] | None) -> None:
        self.manual = manual
        window = None
        if manual is not None:
            try:
                since = datetime.fromisoformat(manual["since"])
                until = (datetime.fromisoformat(manual["until"]) if manual.get("until")
                         else None)
                window = Window(since, until, str(manual.get("reason", "")))
            except (KeyError, TypeError, ValueError):
                self.manual, window = None, None  # unreadable: off
        self.schedule.set_manual(window)

    async def switch(self, on: bool, *, until: datetime | None = None, reason: str = "",
                     by: str = "") -> None:
        """Maintenance on (until a time, or until switched off) or off, at once; durable."""
        value = None
        if on:
            value = {"since": self.clock().isoformat(), "reason": reason, "by": by,
                     "until": None if until is None else until.isoformat()}
        await self.store.write(lambda: maintenance_store.save_manual(value))
        self._apply(value)

    def view(self, now: datetime) -> dict[str, Any]:
        """What is held now and why, the manual switch and the configured windows."""
        rules = self.schedule.rules
        state = self.schedule.state(now)
        manual = rules.manual
        return {
            "on": manual is not None and manual.covers(now),
            "since": None if manual is None else manual.start.isoformat(),
            "until": None if manual is None or manual.end is None else manual.end.isoformat(),
            "reason": None if manual is None else (manual.reason or None),
            "by": None if self.manual is None else (self.manual.get("by") or None),
            "windows": [{"start": w.start.isoformat(), "end": w.end.isoformat()}
                        for w in rules.windows if w.end is not None and w.end > now],
            "held": {c: {"reason": h.reason,
                         "until": None if h.until is None else h.until.isoformat()}
                     for c, h in sorted(state.held.items())},
        }


__all__ = ["CATEGORIES", "Maintenance", "rules_from_config"]
