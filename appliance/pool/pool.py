"""The modem pool: which modems exist now, and what each one is.

Knows: ports appearing and vanishing (udev and static), which port of a stick carries AT
(profile data, else probing), one supervisor per modem, and the identity history of modems (by
IMEI) and SIMs (by ICCID), so a stick re-plugged into another port keeps its history.
Must not know: SMS policy (the dispatcher listens to the pool), HTTP, AT syntax.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.config import ModemsConfig
from appliance.modem.contract import InboundHandler, ModemIdentity
from appliance.modem.profile import ModemProfile, match_profile
from appliance.pool.events import (
    ModemIdentified,
    ModemStatusChanged,
    PoolEvent,
    PoolListener,
    RegistrationChanged,
    SimAttached,
    SimLost,
)
from appliance.pool.ports import FoundPort, StaticPortWatcher
from appliance.pool.probe import find_at_port
from appliance.pool.sender import SupervisedSender
from appliance.pool.supervisor import ModemSupervisor, PoolState, SupervisorSettings
from appliance.pool.udev import UdevDiscovery

log = logging.getLogger(__name__)

GROUP_SETTLE_SECONDS = 1.0  # a stick's ttys appear within a few hundred ms of each other
DEPARTED_KEPT = 64  # vanished modems still shown as gone (bounded: a flapping hub)


@dataclass
class ModemHistory:
    """What the pool remembers of a modem across plugs (keyed by IMEI, never by tty name)."""

    imei: str
    first_seen: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.time)
    plugs: int = 0
    ports: list[str] = field(default_factory=list)
    iccids: list[str] = field(default_factory=list)
    recoveries: int = 0
    """Hang recoveries over every plug before the current one (the live count is on the
    supervisor's status)."""
    profile: str = ""


class ModemPool:
    def __init__(self, config: ModemsConfig, profiles: list[ModemProfile], *,
                 on_inbound: InboundHandler | None = None, traffic_lines: int = 500,
                 settings: SupervisorSettings | None = None):
        self.config = config
        self.profiles = profiles
        self.on_inbound = on_inbound
        self.settings = settings or SupervisorSettings(
            baudrate=config.baudrate, pin=config.pin, poll_interval=config.poll_interval,
            command_timeout=config.command_timeout, send_timeout=config.send_timeout,
            traffic_lines=traffic_lines)
        self.supervisors: dict[str, ModemSupervisor] = {}
        # Unplugged modems, by IMEI (or port when never identified), shown as gone until
        # they come back: the technician sees which stick fell out, and since when.
        self.departed: dict[str, ModemSupervisor] = {}
        self.history: dict[str, ModemHistory] = {}
        self.listeners: list[PoolListener] = []
        self.ignored: dict[str, str] = {}  # path -> why it is not supervised
        self.pin_refused: set[str] = set()  # IMEIs whose SIM refused the configured PIN
        self._was_ready: weakref.WeakSet[ModemSupervisor] = weakref.WeakSet()
        self._remembered: weakref.WeakSet[ModemSupervisor] = weakref.WeakSet()
        self._groups: dict[str, list[FoundPort]] = {}
        self._group_tasks: dict[str, asyncio.Task] = {}
        self._stopping: set[asyncio.Task] = set()  # held so the loop cannot drop them
        self.static = StaticPortWatcher(config.ports, on_added=self._port_added,
                                        on_removed=self._port_removed)
        self.udev = UdevDiscovery(on_added=self._port_added, on_removed=self._port_removed)

    # -- life ----------------------------------------------------------------------------
    async def start(self) -> None:
        if self.config.autodetect:
            self.udev.start()
        self.static.scan()  # the ports present at start are announced before start() returns
        self.static.start()

    async def stop(self) -> None:
        await self.static.stop()
        await self.udev.stop()
        for task in self._group_tasks.values():
            task.cancel()
        await asyncio.gather(*self._group_tasks.values(), *self._stopping,
                             return_exceptions=True)
        await asyncio.gather(*(s.stop("appliance stopping") for s in self.supervisors.values()),
                             return_exceptions=True)
        self.supervisors.clear()

    # -- views ---------------------------------------------------------------------------
    def ready(self) -> list[ModemSupervisor]:
        return [s for s in self.supervisors.values() if s.ready]

    def any_ready(self) -> bool:
        """Whether a modem is ready now (asked per Kannel sendsms request: no list built)."""
        return any(s.ready for s in self.supervisors.values())

    def all(self) -> list[ModemSupervisor]:
        """Every modem present, then the unplugged ones (state gone) not back yet."""
        return [*self.supervisors.values(), *self.departed.values()]

    def find_by_iccid(self, iccid: str) -> ModemSupervisor | None:
        for sup in self.supervisors.values():
            if sup.status.identity.sim.iccid == iccid:
                return sup
        return None

    # -- ports ---------------------------------------------------------------------------
    def _profile_for(self, port: FoundPort) -> ModemProfile:
        return match_profile(self.profiles, usb_id=port.usb_id, interface=port.interface)

    def _profile_chooser(self, port: FoundPort) -> Callable[[ModemIdentity], ModemProfile]:
        """After bring-up: the profile by the modem's own words as well as the port's USB id
        (which decides alone when exactly one profile claims it)."""

        def choose(identity: ModemIdentity) -> ModemProfile:
            text = " ".join(filter(None, (identity.manufacturer, identity.model,
                                          identity.revision)))
            return match_profile(self.profiles, usb_id=port.usb_id, interface=port.interface,
                                 identity_text=text)

        return choose

    def _port_added(self, port: FoundPort) -> None:
        if port.path in self.supervisors:
            return
        if port.source == "udev":
            # By USB id alone: the profile says which interface is AT, so asking with this
            # tty's interface would miss it for every other tty of the stick.
            profile = match_profile(self.profiles, usb_id=port.usb_id)
            at_interface = profile.match.at_interface
            if at_interface is not None and port.interface is not None:
                if port.interface != at_interface:
                    self.ignored[port.path] = f"interface {port.interface} is not AT"
                    return
                self._supervise(port, profile)
                return
            # Unknown AT interface: gather the stick's ttys, then probe them.
            key = port.group or port.path
            self._groups.setdefault(key, []).append(port)
            if key not in self._group_tasks:
                self._group_tasks[key] = asyncio.get_running_loop().create_task(
                    self._probe_group(key), name=f"probe:{key}")
            return
        self._supervise(port, self._profile_for(port))

    async def _probe_group(self, key: str) -> None:
        try:
            await asyncio.sleep(GROUP_SETTLE_SECONDS)
            ports = self._groups.pop(key, [])
            paths = [p.path for p in ports]
            if len(paths) == 1:
                chosen: str | None = paths[0]
            else:
                profile = self._profile_for(ports[0]) if ports else None
                tries = profile.serial.probe_tries if profile else 3
                chosen = await find_at_port(paths, baudrate=self.config.baudrate, tries=tries)
            for port in ports:
                if port.path == chosen:
                    self._supervise(port, self._profile_for(port))
                else:
                    self.ignored[port.path] = "did not answer AT"
            if chosen is None:
                log.warning("no tty of %s answers AT (%s)", key, ", ".join(paths))
        finally:
            self._group_tasks.pop(key, None)

    def _supervise(self, port: FoundPort, profile: ModemProfile) -> None:
        sup = ModemSupervisor(port, profile, self.settings, on_inbound=self.on_inbound,
                              on_change=self._on_change,
                              choose_profile=self._profile_chooser(port),
                              pin_refused=self.pin_refused)
        sup.on_registration = self._on_registration
        sup.on_signal = self._tell_status
        self.supervisors[port.path] = sup
        log.info("modem port %s found (%s, profile %s)", port.path, port.source, profile.name)
        sup.start()

    def _port_removed(self, port: FoundPort) -> None:
        self.ignored.pop(port.path, None)
        sup = self.supervisors.pop(port.path, None)
        if sup is not None:
            log.info("modem port %s removed", port.path)
            sup.mark_gone("unplugged")
            self._depart(sup)
            task = asyncio.get_running_loop().create_task(sup.stop("unplugged"))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    def _depart(self, sup: ModemSupervisor) -> None:
        imei = sup.status.identity.imei
        self.departed.pop(imei or sup.port.path, None)
        self.departed[imei or sup.port.path] = sup
        while len(self.departed) > DEPARTED_KEPT:
            del self.departed[next(iter(self.departed))]
        entry = self.history.get(imei) if imei else None
        if entry is not None:
            entry.recoveries += sup.status.recoveries
            entry.last_seen = time.time()

    # -- events --------------------------------------------------------------------------
    def _tell(self, event: PoolEvent) -> None:
        for listener in self.listeners:
            try:
                listener.pool_event(event)
            except Exception:  # a listener's bug must not stop the pool
                log.exception("pool listener failed on %s", type(event).__name__)

    def _tell_status(self, sup: ModemSupervisor) -> None:
        status = sup.status
        self._tell(ModemStatusChanged(sup.port.path, status.identity.sim.iccid,
                                      status.state.value, status.reason, status.bars,
                                      status.dbm))

    def _on_change(self, sup: ModemSupervisor) -> None:
        if sup.status.identity.imei and sup.status.state is not PoolState.gone:
            self._remember(sup)
        self._tell_status(sup)
        identity, port = sup.status.identity, sup.port.path
        if sup.status.state is PoolState.ready and sup not in self._was_ready:
            self._was_ready.add(sup)
            self._tell(ModemIdentified(port, identity))
            sim = identity.sim
            if not sim.iccid:
                log.warning("modem on %s is ready but its SIM has no ICCID; not used for "
                            "sending", port)
                return
            self._tell(SimAttached(port, sim.iccid, sim.operator, sim.operator_code,
                                   SupervisedSender(sup)))
        elif sup.status.state is not PoolState.ready and sup in self._was_ready:
            self._was_ready.discard(sup)
            if identity.sim.iccid:
                self._tell(SimLost(port, identity.sim.iccid,
                                   sup.status.reason or sup.status.state.value))

    def _on_registration(self, sup: ModemSupervisor) -> None:
        status = sup.status
        if status.identity.sim.iccid:
            self._tell(RegistrationChanged(sup.port.path, status.identity.sim.iccid,
                                           str(status.registration), status.registered,
                                           status.registration == "denied"))

    def _remember(self, sup: ModemSupervisor) -> None:
        """Record the modem under its IMEI: one plug per supervisor, every port and SIM seen."""
        identity = sup.status.identity
        entry = self.history.setdefault(identity.imei, ModemHistory(imei=identity.imei))
        entry.last_seen = time.time()
        entry.profile = sup.status.profile
        if sup not in self._remembered:
            self._remembered.add(sup)
            entry.plugs += 1
            # Back on whatever port: no longer shown as gone.
            self.departed.pop(identity.imei, None)
            self.departed.pop(sup.port.path, None)
        if sup.port.path not in entry.ports:
            entry.ports.append(sup.port.path)
        if identity.sim.iccid and identity.sim.iccid not in entry.iccids:
            entry.iccids.append(identity.sim.iccid)
