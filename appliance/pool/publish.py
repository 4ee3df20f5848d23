"""The pool's events, told to the event hub as plain `PoolChanged` values.

Knows: the pool's typed events and the hub's PoolChanged.
Must not know: who listens on the hub (the live console, metrics, webhooks).
A pool listener like the dispatcher; it copies plain facts out of each event (never the
sender object, which belongs to the dispatcher).
"""

from __future__ import annotations

from appliance.hub import EventHub, PoolChanged
from appliance.pool.events import (
    ModemIdentified,
    ModemStatusChanged,
    PoolEvent,
    RegistrationChanged,
    SimAttached,
    SimLost,
)


def as_hub_event(event: PoolEvent) -> PoolChanged | None:
    change = type(event).__name__
    if isinstance(event, ModemIdentified):
        ident = event.identity
        return PoolChanged(change=change, port=event.port, sim=ident.sim.iccid, detail={
            "imei": ident.imei, "manufacturer": ident.manufacturer, "model": ident.model,
            "operator": ident.sim.operator})
    if isinstance(event, SimAttached):
        return PoolChanged(change=change, port=event.port, sim=event.iccid, detail={
            "operator": event.operator, "operator_code": event.operator_code})
    if isinstance(event, SimLost):
        return PoolChanged(change=change, port=event.port, sim=event.iccid,
                           detail={"reason": event.reason})
    if isinstance(event, RegistrationChanged):
        return PoolChanged(change=change, port=event.port, sim=event.iccid, detail={
            "registration": event.registration, "registered": event.registered,
            "denied": event.denied})
    if isinstance(event, ModemStatusChanged):
        return PoolChanged(change=change, port=event.port, sim=event.iccid, detail={
            "state": event.state, "reason": event.reason, "bars": event.bars,
            "dbm": event.dbm})
    return None


class HubPublisher:
    """A pool listener that publishes each pool event on the hub."""

    def __init__(self, hub: EventHub):
        self.hub = hub

    def pool_event(self, event: PoolEvent) -> None:
        published = as_hub_event(event)
        if published is not None:
            self.hub.publish(published)
