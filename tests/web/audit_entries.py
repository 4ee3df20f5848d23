"""Reading the audit log from a console test: entries are queued, not awaited (they ride with
the next transaction), so a test waits for the one it expects."""

from __future__ import annotations

import json
import time
from typing import Any

from appliance.store import audit as audit_store


def audit_entries(console: Any, action: str) -> list[dict]:
    """Every entry of `action` (newest first, at most 500), with its detail decoded."""
    async def read() -> list[dict]:
        return await console.appliance.store.read(
            lambda: audit_store.list_entries(action=action, limit=500))

    return [{**e, "detail": json.loads(e["detail"]) if isinstance(e["detail"], str)
             else e["detail"]} for e in console.run(read())]


def audit_entry_for(console: Any, action: str, target: str, file: str | None = None) -> dict:
    """The newest entry of `action` on `target` (of that `file`), waited for up to 10 s."""
    deadline = time.monotonic() + 10
    while True:
        found = [e for e in audit_entries(console, action) if e["target"] == target
                 and (file is None or e["detail"].get("file") == file)]
        if found or time.monotonic() > deadline:
            assert found, f"no {action} entry for {target}"
            return found[0]
        time.sleep(0.05)
