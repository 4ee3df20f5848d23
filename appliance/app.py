"""The appliance assembled: store, modem pool, dispatcher, inbox, and the HTTP front door.

Knows: which parts exist, the order they start and stop in, and how sanic runs them in ONE
process (single_process=True: no worker processes, so exactly one process owns the serial
ports; `main_process_start` listeners do not run then, so the parts start in
`before_server_start`).
Must not know: what any part does inside.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import time
from pathlib import Path

from sanic import Sanic

from appliance.api.auth import AddressGate, FailureThrottle, KeyCache, KeyRates, KeyUses
from appliance.api.errors import install_error_handlers
from appliance.api.http_protocol import LenientHttpProtocol
from appliance.config import Config
from appliance.hub import EventHub
from appliance.notify import notify_systemd
from appliance.policy.build import build_policy
from appliance.policy.maintenance import Maintenance, rules_from_config
from appliance.policy.recipient_cap import RecipientCap
from appliance.pool.pool import ModemPool
from appliance.pool.publish import HubPublisher

log = logging.getLogger(__name__)

_app_numbers = itertools.count(1)

GC_THRESHOLDS = (20_000, 50, 100)
"""The collector's thresholds once serving (Python's defaults: 700, 10, 10). A request
allocates a few hundred objects, so the defaults collected the young generation every few
requests, and what was in flight then climbed into the older generations, whose collections walk
everything: measured (`python -m tests.bench ingest`, 32 clients posting single messages), ~10%
of the appliance's CPU went to the collector and p99 latency was 75 ms; with these thresholds
and the start-up heap frozen, 27 ms. A request's garbage is mostly freed by reference counting;
the few cycles (an exception's traceback) wait a little longer, bounded by the young threshold."""


def default_profiles_dir() -> Path:
    from appliance.modem.profile import DEFAULT_PROFILES_DIR

    return DEFAULT_PROFILES_DIR


class Appliance:
    """Everything that runs inside `cardgate run`, minus the HTTP server."""

    def __init__(self, config: Config, *, clock=None, rng=None, config_path: Path | None = None):
        self.config = config
        self.config_path = config_path
        """The file the config came from (backups include it); None when built in code."""
        self.clock = clock  # injected by tests: () -> aware datetime
        self.rng = rng
        self.started = False
        self.started_at = time.monotonic()
        self.db = None
        self.store = None
        self.pool: ModemPool | None = None
        self.dispatcher = None
        self.inbox = None
        self.rules = None
        """The auto-answer rules engine (appliance.inbox.rules.engine.RulesEngine)."""
        self.blacklist = None
        """contacts.blacklist.Blacklist: intake's per-recipient check, rules' unsubscribe."""
        self.policy = None
        """policy.layer.PolicyLayer: the enterprise rules every send passes (intake runs it)."""
        self.maintenance = None
        """policy.maintenance.Maintenance: quiet hours and maintenance (the dispatcher holds
        by it; PUT /api/v1/maintenance switches it)."""
        self.recipient_caps = None
        """policy.recipient_cap.RecipientCap: the per-send cap and departments' own."""
        self.webhooks = None
        """The webhook Deliverer (appliance.webhooks): durable signed POSTs of hub events."""
        self.hub = EventHub()
        """Every committed change, for whoever subscribes (webhooks, live console, metrics)."""
        self.key_cache = KeyCache()
        self.auth_throttle = FailureThrottle()  # failed API-key attempts per client address
        self.auth_gate = AddressGate()  # key checks (scrypt) bounded per client address
        self.key_rates = KeyRates()  # each key's own requests per minute
        self.key_uses = KeyUses()  # each key's last use, written at most once a minute
        self.kannel_reports = None  # Kannel delivery reports (compat.kannel_reports)
        self.admin_socket = None
        """The technician console's local socket (admin_socket.server.AdminSocketServer)."""
        self.admin_accounts = None
        """Who may log in at the console (admin_socket.accounts_bridge.AccountsBackend); None:
        the accounts in the database."""
        self.accounts = None
        """accounts.service.Accounts: console logins, passwords, sessions."""
        self.audit = None
        """audit.AuditLog: the hash-chained record of who did what."""
        self.schedules = None
        """compose.runner.ScheduleRunner: the console's recurring sends."""

    async def start(self) -> None:
        from appliance.contacts.blacklist import Blacklist
        from appliance.dispatch.engine import Dispatcher
        from appliance.inbox import Inbox
        from appliance.inbox.rules.engine import RulesEngine
        from appliance.modem.profile import load_profiles
        from appliance.store.db import open_database
        from appliance.store.migrations import migrate
        from appliance.store.writer import Store
        from appliance.webhooks import Deliverer

        self.db = open_database(self.config.database.url)
        migrate(self.db)
        self.store = Store(self.db)
        await self.store.start()
        self._start_accounts()
        # Before anything publishes: its subscription must see the first event.
        self.webhooks = Deliverer(self.config.webhooks, self.store, self.hub, clock=self.clock,
                                  rng=self.rng)
        await self.webhooks.start()
        await self._start_kannel_reports()
        profiles_dir = Path(self.config.modems.profiles_dir or default_profiles_dir())
        profiles = load_profiles(profiles_dir)
        self.dispatcher = Dispatcher(self.config.dispatch, self.store, clock=self.clock,
                                     rng=self.rng, send_timeout=self.config.modems.send_timeout,
                                     hub=self.hub)
        # Loaded before anything can be sent or accepted: no request may slip past it.
        self.blacklist = Blacklist(self.store, self.dispatcher,
                                   default_region=self.config.contacts.default_region)
        await self.blacklist.load()
        self.dispatcher.recipient_block = self.blacklist
        self.maintenance = Maintenance(self.store, rules_from_config(self.config),
                                       self.dispatcher.now)
        await self.maintenance.load()
        self.dispatcher.holds = self.maintenance.schedule
        self.recipient_caps = RecipientCap(self.store,
                                           self.config.policy_limits.max_recipients_per_send)
        await self.recipient_caps.load()
        self.policy = await build_policy(self.config, self.store, self.clock, self.audit,
                                         maintenance=self.maintenance,
                                         recipient_caps=self.recipient_caps)
        self.dispatcher.policy = self.policy
        self.inbox = Inbox(self.config.inbox, self.store, self.hub, clock=self.clock,
                           on_status_report=self.dispatcher.apply_status_report,
                           on_sender=self.dispatcher.remember_sender,
                           default_region=self.config.contacts.default_region)
        self.pool = ModemPool(self.config.modems, profiles, on_inbound=self.inbox.handle,
                              traffic_lines=self.config.log.traffic_lines)
        self.pool.listeners.append(self.dispatcher)
        self.pool.listeners.append(self.inbox)
        self.pool.listeners.append(HubPublisher(self.hub))
        self.rules = RulesEngine(self.config.rules, self.store, self.hub, self.dispatcher,
                                 self.blacklist, timezone=self.config.dispatch.timezone,
                                 clock=self.clock, webhooks=self.webhooks)
        await self.dispatcher.start()
        await self.inbox.start()
        await self.rules.start()  # after the dispatcher: the catch-up may send replies
        await self._start_schedules()
        await self.pool.start()
        await self._start_admin_socket()
        self.started = True
        self.started_at = time.monotonic()
        log.info("appliance started: %d port(s) watched", len(self.pool.static.present))

    def _start_accounts(self) -> None:
        from appliance.accounts.service import Accounts
        from appliance.audit import AuditLog

        self.audit = AuditLog(self.store, self.clock)
        self.accounts = Accounts(self.config.accounts, self.store, clock=self.clock)

    async def _start_schedules(self) -> None:
        from appliance.compose.runner import ScheduleRunner

        self.schedules = ScheduleRunner(
            self.store, self.dispatcher, region=self.config.contacts.default_region,
            blocked=self.blacklist.blocked_reason,
            consent_required=self.config.consent.required_for_marketing,
            clock=self.dispatcher.now)
        await self.schedules.start()

    async def _start_kannel_reports(self) -> None:
        from appliance.compat.kannel_reports import KannelReports

        # Subscribed before the dispatcher starts: no state change goes unseen. Its GETs go
        # through the webhooks' durable queue (Deliverer.enqueue_get).
        self.kannel_reports = KannelReports(self.store, self.hub, self.webhooks)
        await self.kannel_reports.start()

    async def _start_admin_socket(self) -> None:
        from appliance.admin_socket.server import AdminSocketError, AdminSocketServer
        from appliance.backup import backup_dir_for

        server = AdminSocketServer(self, self.config.admin.socket, accounts=self.admin_accounts,
                                   backup_dir=backup_dir_for(self.config.database.url))
        try:
            await server.start()
        except AdminSocketError as exc:
            # The gateway's work goes on without it; the technician console says it cannot
            # reach the appliance and shows what the database holds.
            log.error("%s; the technician console cannot reach this appliance", exc)
            return
        self.admin_socket = server

    async def stop(self) -> None:
        self.started = False
        if self.admin_socket is not None:  # first: no console request into parts stopping
            await self.admin_socket.stop()
            self.admin_socket = None
        if self.schedules is not None:  # before the dispatcher it submits to
            await self.schedules.stop()
        if self.rules is not None:
            await self.rules.stop()  # before the dispatcher it submits replies to
        # The dispatcher first: it lets sends in flight finish (a modem closed under a +CMGS
        # would make its part ambiguous) and hands claimed work back; then the modems go.
        if self.dispatcher is not None:
            await self.dispatcher.stop()
            if self.pool is not None and self.dispatcher in self.pool.listeners:
                self.pool.listeners.remove(self.dispatcher)
        if self.pool is not None:
            await self.pool.stop()  # the modems first: a handler in flight commits, then they go
        if self.inbox is not None:
            await self.inbox.stop()
        if self.kannel_reports is not None:  # before the queue it hands its GETs to
            await self.kannel_reports.stop()
        # After the publishers (their last events get their rows), before the store.
        if self.webhooks is not None:
            await self.webhooks.stop()
        if self.audit is not None:  # the sends' entries still queued
            await self.audit.drain()
        if self.store is not None:
            await self.store.stop()
        if self.db is not None:
            self.db.close()

    def counters_for(self, supervisor) -> dict:
        if self.dispatcher is None:
            return {}
        return self.dispatcher.counters_for(supervisor.status.identity.sim.iccid)


def create_app(appliance: Appliance, *, on_start=None, on_stop=None) -> Sanic:
    """The sanic app for an appliance; starting the server starts the appliance.

    `on_start`/`on_stop` (async callables) run before the appliance starts and after it stops:
    the demo starts its simulated modems there, on the same event loop.
    """
    from appliance.api.android import bp as android_bp
    from appliance.api.approvals import bp as approvals_bp
    from appliance.api.audit import bp as audit_bp
    from appliance.api.audit_trail import install_audit_trail
    from appliance.api.backup import bp as backup_bp
    from appliance.api.blacklist import bp as blacklist_bp
    from appliance.api.contacts import bp as contacts_bp
    from appliance.api.conversations import bp as conversations_bp
    from appliance.api.inbox import bp as inbox_bp
    from appliance.api.kannel import bp as kannel_bp
    from appliance.api.maintenance import bp as maintenance_bp
    from appliance.api.messages import bp as messages_bp
    from appliance.api.metrics import install_metrics
    from appliance.api.modems import bp as modems_bp
    from appliance.api.openapi import bp as openapi_bp
    from appliance.api.playsms import bp as playsms_bp
    from appliance.api.policy import bp as policy_bp
    from appliance.api.quotas import bp as quotas_bp
    from appliance.api.recipient_caps import bp as recipient_caps_bp
    from appliance.api.reports import bp as reports_bp
    from appliance.api.rules import bp as rules_bp
    from appliance.api.sims import bp as sims_bp
    from appliance.api.users import bp as users_bp
    from appliance.api.webhooks import bp as webhooks_bp
    from appliance.console_web import install_console

    app = Sanic(f"cardgate_{next(_app_numbers)}", configure_logging=False)
    # sanic-ext would otherwise extend the app on its own and fetch its UI assets from a CDN.
    app.config.AUTO_EXTEND = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.REQUEST_MAX_SIZE = 1024 * 1024  # 10,000 recipients fit in ~200 KB
    app.ctx.appliance = appliance
    install_error_handlers(app)
    app.blueprint(modems_bp)
    app.blueprint(messages_bp)
    app.blueprint(contacts_bp)
    app.blueprint(blacklist_bp)
    app.blueprint(conversations_bp)
    app.blueprint(inbox_bp)
    app.blueprint(rules_bp)
    app.blueprint(sims_bp)
    app.blueprint(webhooks_bp)
    app.blueprint(maintenance_bp)
    app.blueprint(recipient_caps_bp)
    app.blueprint(policy_bp)
    app.blueprint(reports_bp)
    app.blueprint(approvals_bp)
    app.blueprint(backup_bp)
    app.blueprint(quotas_bp)
    app.blueprint(users_bp)
    app.blueprint(audit_bp)
    install_audit_trail(app)  # an audit entry for each change made through the admin API
    app.blueprint(openapi_bp)  # GET /api/v1/openapi.json: the document only, no UI
    app.blueprint(kannel_bp)
    install_metrics(app)  # GET /metrics, and the HTTP request counter (a response middleware)
    app.blueprint(playsms_bp)
    app.blueprint(android_bp)
    install_console(app)  # GET / and /console/...: the web console; /static/: its assets

    @app.before_server_start
    async def _start(app: Sanic) -> None:
        if on_start is not None:
            await on_start()
        await appliance.start()

    @app.after_server_stop
    async def _stop(app: Sanic) -> None:
        await appliance.stop()
        if on_stop is not None:
            await on_stop()

    return app


def run_appliance(config: Config, *, banner: str | None = None, on_start=None,
                  on_stop=None, config_path: Path | None = None) -> None:
    """`cardgate run`: serve until SIGTERM/SIGINT, in this one process."""
    appliance = Appliance(config, config_path=config_path)
    app = create_app(appliance, on_start=on_start, on_stop=on_stop)
    notify_systemd(app, appliance)  # under systemd: READY, STATUS, STOPPING, the watchdog

    @app.before_server_start
    async def _stack_dumps(app: Sanic) -> None:
        from appliance.stacks import install_stack_dumps

        install_stack_dumps(asyncio.get_running_loop())  # kill -USR1 / -USR2: what it does

    @app.after_server_start
    async def _freeze_start_up_heap(app: Sanic) -> None:
        # What start-up built (modules, routes, profiles, the policy's lists, the blacklist,
        # dedupe's record of recent sends) lives as long as the process: frozen, the
        # collector no longer walks it on every full collection. Collected first, so no
        # start-up garbage is frozen with it. Only here, in `cardgate run`'s own process: a
        # test process that builds many apps must keep collecting what each leaves behind.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    if banner:
        @app.after_server_start
        async def _banner(app: Sanic) -> None:
            print(banner, flush=True)
    app.run(host=config.http.host, port=config.http.port, single_process=True,
            access_log=False, motd=False, protocol=LenientHttpProtocol)
