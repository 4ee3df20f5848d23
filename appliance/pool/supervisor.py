"""One supervisor task per modem: bring-up, health polling, hang recovery, loss.

Knows: the life of one modem in the pool (probing → ready ⇄ resting → gone), when to reopen the
port and when to reset the modem, bounded backoff.
Must not know: AT syntax (the driver does it), SMS policy, the database, HTTP.

Hang recovery follows what these sticks need in the field: a modem that stops answering (Huawei
sticks stop answering +CMGL every few tens of minutes) is first reopened — closing the tty clears
many USB-serial stalls — then reset with the profile's reset command (AT+CFUN=1,1), with a
bounded backoff between rounds. A failure is logged once, its recovery once.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from appliance.at import AtError, AtTimeout, ChannelClosed, TrafficLog
from appliance.modem.contract import InboundHandler, ModemIdentity
from appliance.modem.driver import Modem, ModemState
from appliance.modem.profile import ModemProfile
from appliance.pool.backoff import Backoff, FailureNotice
from appliance.pool.ports import FoundPort

log = logging.getLogger(__name__)


class PoolState(enum.StrEnum):
    probing = "probing"
    ready = "ready"
    no_sim = "no_sim"
    pin_needed = "pin_needed"
    resting = "resting"
    gone = "gone"


# How a driver's view of its modem shows in the pool.
_FROM_MODEM_STATE = {
    ModemState.PROBING: PoolState.probing,
    ModemState.READY: PoolState.ready,
    ModemState.NO_SIM: PoolState.no_sim,
    ModemState.PIN_NEEDED: PoolState.pin_needed,
    ModemState.SIM_BLOCKED: PoolState.pin_needed,
    ModemState.RESTING: PoolState.resting,
    ModemState.GONE: PoolState.gone,
}


class ModemHung(AtTimeout):
    """The modem stopped answering (the driver's `hung`: no answer within hang_timeout)."""


@dataclass
class SupervisorSettings:
    baudrate: int = 115200
    pin: str = ""
    poll_interval: float = 30.0
    command_timeout: float = 5.0
    send_timeout: float = 60.0
    hang_polls: int = 1  # unanswered polls before recovery starts
    reset_wait: float = 20.0  # how long a reset modem may take to answer again
    backoff_first: float = 1.0
    backoff_cap: float = 60.0
    traffic_lines: int = 500


@dataclass
class ModemStatus:
    """What the pool shows of one modem (the API's /modems reads this)."""

    port: str
    state: PoolState = PoolState.probing
    reason: str = ""
    since: float = field(default_factory=time.time)
    profile: str = ""
    identity: ModemIdentity = field(default_factory=ModemIdentity)
    rssi: int | None = None
    dbm: int | None = None
    bars: int = 0
    registration: str = "unknown"
    recoveries: int = 0
    usb_id: str | None = None


class ModemSupervisor:
    """Keeps one modem on one port alive for as long as the port exists."""

    def __init__(self, port: FoundPort, profile: ModemProfile, settings: SupervisorSettings, *,
                 on_inbound: InboundHandler | None = None,
                 on_change: Callable[[ModemSupervisor], Awaitable[None] | None] | None = None,
                 open_modem: Callable[..., Awaitable[Modem]] | None = None):
        self.port = port
        self.profile = profile
        self.settings = settings
        self.on_inbound = on_inbound
        self.on_change = on_change
        self._open_modem = open_modem or Modem.open
        self.status = ModemStatus(port=port.path, profile=profile.name, usb_id=port.usb_id)
        self.traffic = TrafficLog(maxlen=settings.traffic_lines)
        self.modem: Modem | None = None
        self.notice = FailureNotice(log, f"modem on {port.path}")
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._wake = asyncio.Event()

    # -- state ---------------------------------------------------------------------------
    def _set_state(self, state: PoolState, reason: str = "") -> None:
        changed = state != self.status.state or reason != self.status.reason
        if state != self.status.state:
            self.status.since = time.time()
        self.status.state = state
        self.status.reason = reason
        if changed and self.on_change is not None:
            result = self.on_change(self)
            if asyncio.iscoroutine(result):
                asyncio.get_running_loop().create_task(result)

    def _copy_modem_view(self) -> None:
        modem = self.modem
        if modem is None:
            return
        self.status.identity = modem.identity
        signal = modem.signal
        self.status.rssi = getattr(signal, "rssi", None)
        self.status.dbm = getattr(signal, "dbm", None)
        self.status.bars = getattr(signal, "bars", 0) or 0
        registration = getattr(modem, "registration", None)
        self.status.registration = getattr(registration, "name", "unknown").lower()

    @property
    def ready(self) -> bool:
        return self.status.state is PoolState.ready and self.modem is not None

    # -- life ----------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"modem:{self.port.path}")

    async def stop(self, reason: str = "stopped") -> None:
        """End supervision: the port vanished or the appliance stops."""
        self._stopping = True
        self._wake.set()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self._close_modem()
        self._set_state(PoolState.gone, reason)

    async def _close_modem(self) -> None:
        modem, self.modem = self.modem, None
        if modem is not None:
            try:
                await modem.close()
            except Exception:  # closing a vanished port may fail in many ways
                log.debug("closing %s failed", self.port.path, exc_info=True)

    def _port_exists(self) -> bool:
        return os.path.exists(self.port.path)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _bring_up(self) -> bool:
        """Open and initialise; True when the modem answers (whatever its SIM says)."""
        self._set_state(PoolState.probing, "opening port")
        s = self.settings
        self.modem = await self._open_modem(
            self.port.path, self.profile, baudrate=s.baudrate, pin=s.pin,
            on_inbound=self.on_inbound, traffic=self.traffic,
            command_timeout=s.command_timeout, send_timeout=s.send_timeout)
        modem_state = await self.modem.initialize()
        if modem_state is ModemState.GONE:
            raise ChannelClosed(self.modem.state_reason or "port closed during bring-up")
        if modem_state is ModemState.PROBING:  # it never answered AT
            raise ModemHung("AT", payload_written=False)
        self._copy_modem_view()
        self._set_state(_FROM_MODEM_STATE.get(modem_state, PoolState.probing),
                        self.modem.state_reason or "")
        if self.status.state is PoolState.ready:
            try:
                await self.modem.read_stored()
            except AtError as exc:  # stored messages are read again at the next bring-up
                log.warning("%s: reading stored messages failed: %s", self.port.path, exc)
        return True

    async def _poll_until_trouble(self) -> None:
        """Poll health until the modem stops answering (raises) or we are stopped."""
        while not self._stopping:
            await self._sleep(self.settings.poll_interval)
            modem = self.modem
            if self._stopping or modem is None:
                return
            state = await modem.refresh_status()
            if state is ModemState.GONE or modem.channel.closed:
                raise ChannelClosed(modem.state_reason or "port closed")
            if modem.hung:
                raise ModemHung("AT+CSQ", payload_written=False)
            self._copy_modem_view()
            self._set_state(_FROM_MODEM_STATE.get(state, self.status.state),
                            modem.state_reason or "")

    async def _recover_hang(self) -> bool:
        """Reopen the port, then reset the modem; True when it answers again."""
        self._set_state(PoolState.resting, "not answering: reopening the port")
        await self._close_modem()
        try:
            await self._bring_up()
            return True
        except AtError as exc:  # ChannelClosed and ModemHung included
            if not self._port_exists():
                raise ChannelClosed("port vanished") from None
            log.info("%s: reopening did not help (%s); resetting the modem", self.port.path, exc)
        modem = self.modem
        if modem is None or modem.channel.closed:
            return False
        self._set_state(PoolState.resting, "not answering: resetting the modem")
        # The driver sends the profile's reset command and re-initialises once it answers.
        state = await modem.reset()
        if state in (ModemState.GONE, ModemState.PROBING) or modem.channel.closed:
            if not self._port_exists():
                raise ChannelClosed("port vanished during reset")
            await self._close_modem()
            return False
        self._copy_modem_view()
        self._set_state(_FROM_MODEM_STATE.get(state, PoolState.probing), modem.state_reason or "")
        if self.status.state is PoolState.ready:
            try:
                await modem.read_stored()
            except AtError:
                pass
        return True

    async def _run(self) -> None:
        backoff = Backoff(self.settings.backoff_first, self.settings.backoff_cap)
        while not self._stopping:
            try:
                if self.modem is None:
                    await self._bring_up()
                self.notice.recovered()
                backoff.reset()
                await self._poll_until_trouble()
            except asyncio.CancelledError:
                raise
            except AtTimeout as exc:
                self.notice.failed(f"not answering ({exc})")
                try:
                    if await self._recover_hang():
                        self.status.recoveries += 1
                        self.notice.recovered()
                        backoff.reset()
                        continue
                except ChannelClosed as closed:
                    await self._on_closed(str(closed))
                    if self._stopping:
                        return
                self._set_state(PoolState.resting, "not answering after reset; backing off")
                await self._close_modem()
                await self._sleep(backoff.next_delay())
            except ChannelClosed as exc:
                await self._on_closed(str(exc))
                if self._stopping:
                    return
                await self._sleep(backoff.next_delay())
            except (AtError, OSError) as exc:
                self.notice.failed(str(exc))
                await self._close_modem()
                if not self._port_exists():
                    await self._on_closed("port vanished")
                    return
                self._set_state(PoolState.resting, f"{exc}; retrying")
                await self._sleep(backoff.next_delay())
            except Exception as exc:  # a bug must not kill supervision silently
                log.exception("%s: supervisor error", self.port.path)
                await self._close_modem()
                self._set_state(PoolState.resting, f"internal error: {exc}")
                await self._sleep(backoff.next_delay())

    async def _on_closed(self, reason: str) -> None:
        await self._close_modem()
        if not self._port_exists():
            self._stopping = True
            self._set_state(PoolState.gone, f"port vanished: {reason}")
        else:
            self.notice.failed(f"port closed: {reason}")
            self._set_state(PoolState.resting, f"port closed: {reason}; reopening")
