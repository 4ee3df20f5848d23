"""The modems the store has recorded, as plain data for the API's modem list.

Knows: the Modem and Sim tables. Must not know: the live pool, HTTP.
Synchronous, meant for `Store.read`.
"""

from __future__ import annotations

from typing import Any

from appliance.store.models import Modem, Sim


def known_modems() -> list[dict[str, Any]]:
    """Every modem the store has recorded (by port, then IMEI), with its last SIM."""
    sims = {s.iccid: s for s in Sim.select()}
    known = []
    for row in Modem.select().order_by(Modem.last_port, Modem.imei):
        sim = sims.get(row.sim or "")
        known.append({
            "imei": row.imei, "manufacturer": row.manufacturer, "model": row.model,
            "revision": row.revision, "port": row.last_port,
            "last_seen": row.last_seen_at.isoformat(timespec="seconds")
            if row.last_seen_at else None,
            "sim": {"iccid": sim.iccid if sim else row.sim or "",
                    "imsi": sim.imsi if sim else "",
                    "operator": sim.operator if sim else "",
                    "operator_code": sim.operator_code if sim else "",
                    "own_number": sim.own_number if sim else ""},
        })
    return known


__all__ = ["known_modems"]
