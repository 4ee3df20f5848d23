"""`GET /metrics`: the appliance's figures in the Prometheus text format (prometheus_client).

Knows: metric names, types and labels; the live pool's modem states and the dispatcher's per-SIM
counters (through the same views GET /api/v1/modems shows); the stored figures as
`store.metrics` reads them. Must not know: HTTP (sanic), SQL.

Two kinds of figure:
- counted by the app itself as it runs: HTTP requests by route pattern, method and status, in
  `AppMetrics`, whose registry is per app (tests start several appliances in one process; the
  global REGISTRY would mix them);
- read at scrape time: the stored counts (read on a store reader by the caller, never on the
  event loop) and the pool's in-memory state, rendered by a collector built for that one scrape
  (`render`), so no figure is older than the scrape and nothing is kept between scrapes.

Labels are bounded: a route is its pattern (`/api/v1/messages/<message_id:int>`), never the
raw path (a 405 counts under the route of its path), and "unmatched" for any path no route
knows; a method outside the HTTP set is
"other"; SIMs and modems are the few the box holds.

Metrics (all names begin cardgate_):
  messages{state}                        gauge   messages by state (every state, zeros too)
  queue_depth{state,priority}            gauge   waiting messages by priority: queued (due or
                                                 scheduled by send_at) and held
  sim_messages{sim,state}                gauge   messages claimed by each SIM, by state
  sim_parts_sent_total{sim}              counter parts sent since start
  sim_send_failures_total{sim}           counter sends that failed or went unanswered
  sim_cap_used_parts{sim,window}         gauge   parts in the cap's window: minute, hour, day
                                                 (sliding 60 s / 60 min / 24 h), month (calendar)
  sim_cap_limit_parts{sim,window}        gauge   that window's cap (0: no cap)
  modem_up{port,imei,sim}                gauge   1 ready, 0 otherwise (an unplugged modem stays,
                                                 as 0)
  modems{state}                          gauge   modems by pool state (gone included)
  modem_signal_rssi{port,imei}           gauge   +CSQ rssi 0-31 (absent when unknown)
  modem_signal_dbm{port,imei}            gauge
  webhook_backlog                        gauge   deliveries pending
  webhook_deliveries{state}              gauge   deliveries kept, by state
  inbox_messages                         gauge   received messages stored
  http_requests_total{route,method,status} counter
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from appliance.dispatch.rates import RateLimits
from appliance.dispatch.slots import CAP_COUNTERS
from appliance.pool.supervisor import PoolState
from appliance.store.metrics import StoreFigures

UNMATCHED = "unmatched"
"""The route label of a request no route matched (404, or a method the path does not take)."""
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CAP_WINDOWS = CAP_COUNTERS

__all__ = ["CONTENT_TYPE_LATEST", "AppMetrics", "LiveFigures", "ModemFigures", "UNMATCHED",
           "live_figures", "render"]


class _HttpRequests(Collector):
    """Requests answered, by (route, method, status). A plain dict, not prometheus_client's
    Counter: it is bumped on the event loop only (no lock needed) for every request, and a
    Counter would add a `_created` series per label set."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], int] = {}

    def collect(self) -> Iterator[Metric]:
        yield _counter("cardgate_http_requests", "HTTP requests answered, by route pattern, "
                       "method, status", ["route", "method", "status"],
                       ((list(labels), n) for labels, n in sorted(self.counts.items())))


class AppMetrics:
    """What one app counts as it runs, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._http = _HttpRequests()
        self.registry.register(self._http)

    def count_request(self, route: str | None, method: str, status: int) -> None:
        """One answered request; `route` is the matched route's pattern, None when none."""
        method = method.upper()
        labels = (route or UNMATCHED, method if method in HTTP_METHODS else "other", str(status))
        counts = self._http.counts
        counts[labels] = counts.get(labels, 0) + 1


@dataclass(frozen=True)
class ModemFigures:
    """One supervised modem as the pool knows it now, with its SIM's dispatcher counters."""

    port: str
    imei: str
    sim: str
    state: str
    rssi: int | None
    dbm: int | None
    counters: dict = field(default_factory=dict)
    """Dispatcher.counters_for's view ({} when the SIM has no slot yet)."""


@dataclass(frozen=True)
class LiveFigures:
    modems: list[ModemFigures]
    limits: RateLimits


def live_figures(supervisors: Iterable, counters_for: Callable[[object], dict],
                 limits: RateLimits) -> LiveFigures:
    """The pool's modems now (ModemSupervisor objects) and their SIMs' counters
    (`Appliance.counters_for`). In memory only: cheap, on the event loop."""
    modems = []
    for sup in sorted(supervisors, key=lambda s: s.status.port):
        status = sup.status
        ident = status.identity
        rssi = status.rssi if status.rssi is not None and 0 <= status.rssi <= 31 else None
        modems.append(ModemFigures(port=status.port, imei=ident.imei or "",
                                   sim=ident.sim.iccid or "", state=status.state.value,
                                   rssi=rssi, dbm=status.dbm,
                                   counters=counters_for(sup) if ident.sim.iccid else {}))
    return LiveFigures(modems=modems, limits=limits)


def _gauge(name: str, doc: str, labels: list[str],
           samples: Iterable[tuple[list[str], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _counter(name: str, doc: str, labels: list[str],
             samples: Iterable[tuple[list[str], float]]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _store_families(s: StoreFigures) -> Iterator[Metric]:
    yield _gauge("cardgate_messages", "Messages by state", ["state"],
                 (([state], n) for state, n in sorted(s.messages_by_state.items())))
    yield _gauge("cardgate_queue_depth", "Messages waiting to be sent, by priority (queued: "
                 "due or scheduled by send_at; held: held by a policy)", ["state", "priority"],
                 (([state, str(prio)], n) for (state, prio), n in sorted(s.queue_depth.items())))
    yield _gauge("cardgate_sim_messages", "Messages claimed by each SIM, by state",
                 ["sim", "state"],
                 (([sim, state], n) for (sim, state), n in sorted(s.sim_messages.items())))
    yield _gauge("cardgate_webhook_backlog", "Webhook deliveries pending", [],
                 [([], s.webhook_deliveries.get("pending", 0))])
    yield _gauge("cardgate_webhook_deliveries", "Webhook deliveries kept, by state", ["state"],
                 (([state], n) for state, n in sorted(s.webhook_deliveries.items())))
    yield _gauge("cardgate_inbox_messages", "Received messages stored (long ones joined)", [],
                 [([], s.inbox_messages)])


def _modem_families(live: LiveFigures, stored: StoreFigures) -> Iterator[Metric]:
    present_imeis = {m.imei for m in live.modems if m.imei}
    present_ports = {m.port for m in live.modems}
    gone = [m for m in stored.recorded_modems
            if m.imei not in present_imeis and m.port not in present_ports]
    up = [([m.port, m.imei, m.sim], 1 if m.state == PoolState.ready.value else 0)
          for m in live.modems]
    up += [([m.port, m.imei, m.iccid], 0) for m in gone]
    yield _gauge("cardgate_modem_up", "1 when the modem is ready to send, else 0 (a recorded "
                 "modem no port holds now is 0)", ["port", "imei", "sim"], up)
    states = dict.fromkeys((s.value for s in PoolState), 0)
    for m in live.modems:
        states[m.state] += 1
    states[PoolState.gone.value] += len(gone)
    yield _gauge("cardgate_modems", "Modems by pool state", ["state"],
                 (([state], n) for state, n in states.items()))
    yield _gauge("cardgate_modem_signal_rssi", "Signal as +CSQ reports it (0-31)",
                 ["port", "imei"],
                 (([m.port, m.imei], m.rssi) for m in live.modems if m.rssi is not None))
    yield _gauge("cardgate_modem_signal_dbm", "Signal in dBm", ["port", "imei"],
                 (([m.port, m.imei], m.dbm) for m in live.modems if m.dbm is not None))


def _sim_families(live: LiveFigures) -> Iterator[Metric]:
    with_counters = [m for m in live.modems if m.sim and m.counters]
    yield _counter("cardgate_sim_parts_sent", "Parts sent by each SIM since the appliance "
                   "started", ["sim"],
                   (([m.sim], m.counters.get("sent_total", 0)) for m in with_counters))
    yield _counter("cardgate_sim_send_failures", "Sends through each SIM that failed or went "
                   "unanswered, since the appliance started", ["sim"],
                   (([m.sim], m.counters.get("failed_total", 0)) for m in with_counters))
    yield _gauge("cardgate_sim_cap_used_parts", "Parts each SIM sent in its caps' windows "
                 "(minute, hour, day: the sliding 60 s, 60 min, 24 h; month: calendar)",
                 ["sim", "window"],
                 (([m.sim, window], m.counters.get(key, 0)) for m in with_counters
                  for window, key in CAP_WINDOWS.items()))
    yield _gauge("cardgate_sim_cap_limit_parts", "Each SIM's cap per window (0: no cap)",
                 ["sim", "window"],
                 (([m.sim, window], live.limits.cap(window)) for m in with_counters
                  for window in CAP_WINDOWS))


class _Scrape(Collector):
    """One scrape: the figures just read, then what the app has counted."""

    def __init__(self, stored: StoreFigures, live: LiveFigures, app: AppMetrics) -> None:
        self.stored = stored
        self.live = live
        self.app = app

    def collect(self) -> Iterator[Metric]:
        yield from _store_families(self.stored)
        yield from _modem_families(self.live, self.stored)
        yield from _sim_families(self.live)
        yield from self.app.registry.collect()


def render(stored: StoreFigures, live: LiveFigures, app: AppMetrics) -> bytes:
    """The text exposition (serve it as CONTENT_TYPE_LATEST)."""
    return generate_latest(_Scrape(stored, live, app))
