"""What the console can show while the appliance is down: the database file, read-only.

Knows: which store functions give the last known modems, SIMs, queue figures and inbox, read
through store.readonly (SQLite `mode=ro`: no migration, no journal change).
Must not know: the terminal, or the admin socket.
"""

from __future__ import annotations

from typing import Any

from appliance.store.readonly import ReadOnlyUnavailable as OfflineUnavailable
from appliance.store.readonly import read_only


def snapshot(url: str, inbox_limit: int = 20) -> dict[str, Any]:
    """Last known modems and SIMs, messages by state, and the newest inbox messages."""
    from appliance.store import inbox as inbox_store
    from appliance.store.metrics import read_figures
    from appliance.store.modems import known_modems
    from appliance.store.sims import list_sims

    def read() -> dict[str, Any]:
        figures = read_figures()
        return {"modems": known_modems(), "sims": list_sims(),
                "messages": figures.messages_by_state, "inbox_count": figures.inbox_messages,
                "inbox": inbox_store.list_messages(limit=inbox_limit, ascending=False)}

    return read_only(url, read)


__all__ = ["OfflineUnavailable", "snapshot"]
