"""Maintenance switched on by hand: kept in the settings table, so a restart keeps it on.

Knows: the setting's key and its JSON form. Must not know: what maintenance holds
(appliance.policy.holds), HTTP. Runs inside `Store.read` / `Store.write`.
"""

from __future__ import annotations

import json
from typing import Any

from appliance.store.models import Setting

KEY = "policy.maintenance"


def load_manual() -> dict[str, Any] | None:
    """{"since", "until", "reason", "by"} (ISO times; until may be null) or None when off."""
    row = Setting.get_or_none(Setting.key == KEY)
    if row is None or not row.value:
        return None
    try:
        value = json.loads(row.value)
    except ValueError:
        return None  # unreadable: treated as off (the API shows it off; switching on rewrites)
    return value if isinstance(value, dict) else None


def save_manual(value: dict[str, Any] | None) -> None:
    text = "" if value is None else json.dumps(value, ensure_ascii=False)
    Setting.insert(key=KEY, value=text).on_conflict(
        conflict_target=[Setting.key], update={Setting.value: text}).execute()


__all__ = ["KEY", "load_manual", "save_manual"]
