"""One supervisor task per modem: bring-up, health polling, hang recovery, loss.

Knows: the life of one modem in the pool (probing → ready ⇄ resting → gone, as a transition
table), when to reopen the port and when to reset the modem, bounded backoff.
Must not know: AT syntax (the driver does it), SMS policy, the database, HTTP.

Hang recovery follows what these sticks need in the field: a modem that stops answering (Huawei
sticks stop answering +CMGL every few tens of minutes) is first reopened — closing the tty clears
many USB-serial stalls — then reset with the profile's reset command (AT+CFUN=1,1), with a
bounded backoff between rounds. A failure is logged once, its recovery once.
"""

from __future__ import annotations

import asyncio
import dataclasses
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
    probing = "probing"  # the port is being opened and the modem initialised
    ready = "ready"  # the modem answers and its SIM can send
    no_sim = "no_sim"
    pin_needed = "pin_needed"  # the SIM asks for a PIN (or PUK) the pool will not send
    resting = "resting"  # being recovered (reopen, reset) or backing off after failures
    gone = "gone"  # the port vanished or supervision stopped: this supervisor is done


_P = PoolState

# Every move a supervisor may make (after appliance/store/states.py); anything else is a bug
# in the supervisor and raises InvalidPoolTransition. A re-plugged modem gets a new
# supervisor, so gone is final.
POOL_TRANSITIONS: dict[PoolState, frozenset[PoolState]] = {
    _P.probing: frozenset({_P.ready, _P.no_sim, _P.pin_needed, _P.resting, _P.gone}),
    # From ready: a SIM pulled or locked (health poll, URC), a hang, an unplug.
    _P.ready: frozenset({_P.no_sim, _P.pin_needed, _P.resting, _P.gone, _P.probing}),
    # The SIM states are re-probed at each poll: a SIM inserted or unlocked shows as ready.
    _P.no_sim: frozenset({_P.ready, _P.pin_needed, _P.resting, _P.gone, _P.probing}),
    _P.pin_needed: frozenset({_P.ready, _P.no_sim, _P.resting, _P.gone, _P.probing}),
    # A recovery ends in a reopen (probing), a reset that brought the modem back (its state
    # shown at once), or the port's loss.
    _P.resting: frozenset({_P.probing, _P.ready, _P.no_sim, _P.pin_needed, _P.gone}),
    _P.gone: frozenset(),
}


class InvalidPoolTransition(RuntimeError):
    """A pool state change the table does not allow; names both states."""

    def __init__(self, old: PoolState, new: PoolState) -> None:
        super().__init__(f"pool state cannot go from {old} to {new}")
        self.old = old
        self.new = new


def check_transition(old: PoolState, new: PoolState) -> None:
    """Raise InvalidPoolTransition unless `old` -> `new` is in the table (staying is allowed:
    the reason may change)."""
    if old is not new and new not in POOL_TRANSITIONS[old]:
        raise InvalidPoolTransition(old, new)


# How a driver's view of its modem shows in the pool.
_FROM_MODEM_STATE = {
    ModemState.PROBING: PoolState.probing,
    ModemState.READY: PoolState.ready,
    ModemState.NO_SIM: PoolState.no_sim,
    ModemState.PIN_NEEDED: PoolState.pin_needed,
    ModemState.SIM_BLOCKED: PoolState.pin_needed,
    ModemState.GONE: PoolState.gone,
}


# A modem in these states is re-probed at each poll instead of polled.
_WAITING_FOR_SIM = frozenset({ModemState.NO_SIM, ModemState.PIN_NEEDED, ModemState.SIM_BLOCKED})


class ModemHung(AtTimeout):
    """The modem stopped answering: a health poll got no answer at all, no answer came for
    longer than the profile's hang_timeout, or bring-up found nothing answering AT."""


@dataclass
class SupervisorSettings:
    baudrate: int = 115200
    pin: str = ""
    poll_interval: float = 30.0
    command_timeout: float = 5.0
    send_timeout: float = 60.0
    hang_polls: int = 1
    """Health polls in a row that get no answer at all before recovery starts."""
    hang_timeout: float | None = None
    """Seconds without any answer that count as a hang; None: the profile's hang_timeout."""
    reset_wait: float | None = None
    """Seconds a reset modem may take to answer again; None: the profile's reset_wait."""
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
    registered: bool = False
    recoveries: int = 0
    usb_id: str | None = None


# The pool answers "which profile fits what this modem says about itself" (ATI/+CGMI/+CGMM);
# the supervisor asks once per plug, after the first bring-up.
ProfileChooser = Callable[[ModemIdentity], ModemProfile]

# Hangs in a row (without an answered health poll between them) before the modem is reset
# at once instead of first trying a reopen, and before each round rests with backoff.
RESET_AFTER_STRIKES = 2
REST_AFTER_STRIKES = 3


class ModemSupervisor:
    """Keeps one modem on one port alive for as long as the port exists."""

    def __init__(self, port: FoundPort, profile: ModemProfile, settings: SupervisorSettings, *,
                 on_inbound: InboundHandler | None = None,
                 on_change: Callable[[ModemSupervisor], Awaitable[None] | None] | None = None,
                 open_modem: Callable[..., Awaitable[Modem]] | None = None,
                 choose_profile: ProfileChooser | None = None,
                 pin_refused: set[str] | None = None):
        self.port = port
        self.profile = profile
        self.settings = settings
        self.on_inbound = on_inbound
        self.on_change = on_change
        self.on_registration: Callable[[ModemSupervisor], None] | None = None
        self.on_signal: Callable[[ModemSupervisor], None] | None = None
        """Called when a health poll reads another signal than the last one shown."""
        self.choose_profile = choose_profile
        self._open_modem = open_modem or Modem.open
        self.status = ModemStatus(port=port.path, profile=profile.name, usb_id=port.usb_id)
        self.traffic = TrafficLog(maxlen=settings.traffic_lines)
        self.modem: Modem | None = None
        self.notice = FailureNotice(log, f"modem on {port.path}")
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._ended = False  # gone for good: nothing but "gone" may be shown any more
        self._wake = asyncio.Event()
        self._profile_checked = choose_profile is None
        self._strikes = 0  # hangs since the last answered health poll
        self._backoff = Backoff(settings.backoff_first, settings.backoff_cap)
        # Modems (IMEI, else port) whose SIM refused the configured PIN. Shared by the pool's
        # supervisors: every reopen, reset re-probe or re-plug makes a new driver object,
        # and each would send the PIN once more; three wrong PINs block the SIM.
        self.pin_refused = pin_refused if pin_refused is not None else set()
        self._modem_key = ""  # the IMEI once the modem said it, else ""
        self._pin_sent = False

    # -- state ---------------------------------------------------------------------------
    def _set_state(self, state: PoolState, reason: str = "") -> None:
        if self._ended and state is not PoolState.gone:
            return  # the task may still run a step before its cancellation lands
        check_transition(self.status.state, state)
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
        rssi = getattr(signal, "rssi", None)
        signal_moved = rssi != self.status.rssi
        self.status.rssi = rssi
        self.status.dbm = getattr(signal, "dbm", None)
        self.status.bars = getattr(signal, "bars", 0) or 0
        if signal_moved and self.on_signal is not None:
            self.on_signal(self)
        registration = getattr(modem, "registration", None)
        name = getattr(registration, "name", "unknown").lower()
        if name != self.status.registration:
            self.status.registration = name
            self.status.registered = bool(getattr(registration, "registered", False))
            if self.on_registration is not None:
                self.on_registration(self)

    def _show_modem_state(self, modem_state: ModemState) -> None:
        assert self.modem is not None
        self._copy_modem_view()
        self._set_state(_FROM_MODEM_STATE.get(modem_state, PoolState.probing),
                        self.modem.state_reason or "")
        self._explain_withheld_pin()

    @property
    def ready(self) -> bool:
        return self.status.state is PoolState.ready and self.modem is not None

    # -- life ----------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"modem:{self.port.path}")

    def mark_gone(self, reason: str) -> None:
        """Show the modem gone at once (the pool calls this as the port vanishes, so the
        dispatcher hears of it before the task has wound down); stop() finishes the job."""
        self._stopping = True
        self._wake.set()
        self._set_state(PoolState.gone, reason)
        self._ended = True

    async def restart(self, reason: str) -> None:
        """Close the port and bring the modem up again (a technician's `restart <n>`): the
        supervision loop finds no modem and reopens it at once. A part in flight on this
        modem ends as the driver reports a closed port (not sent, or ambiguous)."""
        if self._ended:
            return
        self._set_state(PoolState.resting, reason)
        await self._close_modem()
        self._wake.set()

    async def stop(self, reason: str = "stopped") -> None:
        """End supervision: the port vanished or the appliance stops."""
        self.mark_gone(reason)
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

    def _effective_profile(self) -> ModemProfile:
        """The profile, with the settings' hang and reset bounds where they are set."""
        s = self.settings
        changes: dict[str, float] = {}
        if s.hang_timeout is not None:
            changes["hang_timeout"] = s.hang_timeout
        if s.reset_wait is not None:
            changes["reset_wait"] = s.reset_wait
        return dataclasses.replace(self.profile, **changes) if changes else self.profile

    def _pin_to_send(self) -> str:
        """The configured PIN, but only to a modem known by IMEI whose SIM never refused it:
        a re-plugged stick is first opened without it, until it has said who it is."""
        if not self.settings.pin or not self._modem_key or self._modem_key in self.pin_refused:
            return ""
        return self.settings.pin

    async def _open(self) -> Modem:
        # Whatever opened this port before must be closed first: two readers on one tty take
        # each other's answers (and the old one would still act on +CMTI).
        await self._close_modem()
        s = self.settings
        pin = self._pin_to_send()
        self._pin_sent = bool(pin)
        self.modem = await self._open_modem(
            self.port.path, self._effective_profile(), baudrate=s.baudrate, pin=pin,
            on_inbound=self.on_inbound, traffic=self.traffic,
            command_timeout=s.command_timeout, send_timeout=s.send_timeout,
            on_registration=lambda _: self._copy_modem_view())
        return self.modem

    async def _bring_up(self) -> None:
        """Open and initialise; returns when the modem answers (whatever its SIM says).
        Raises ChannelClosed when the port is gone, ModemHung when nothing answers AT."""
        self._set_state(PoolState.probing, "opening port")
        modem = await self._open()
        modem_state = await modem.initialize()
        if modem_state is ModemState.GONE:
            if modem.channel.closed:
                raise ChannelClosed(modem.state_reason or "port closed during bring-up")
            # Open but silent (or an init step the driver needs failed): a hang, which a
            # reset may cure; a plain reopen after backoff would never send the reset.
            raise ModemHung(f"bring-up: {modem.state_reason}", payload_written=False)
        if self._pin_outcome(modem_state) or await self._adopt_better_profile():
            return await self._bring_up()
        self._show_modem_state(modem_state)
        if self.status.state is PoolState.ready:
            await self._read_stored()

    def _pin_outcome(self, modem_state: ModemState) -> bool:
        """Learn from a bring-up what the PIN did; True when the modem must be opened again,
        now with the PIN (it asked for one before we knew which modem it was)."""
        assert self.modem is not None
        self._modem_key = self.modem.identity.imei or f"port:{self.port.path}"
        locked = modem_state in (ModemState.PIN_NEEDED, ModemState.SIM_BLOCKED)
        if locked and self._pin_sent:
            self.pin_refused.add(self._modem_key)  # refused, or still asking: never again
            return False
        return (modem_state is ModemState.PIN_NEEDED and bool(self._pin_to_send())
                and not self._pin_sent)

    def _explain_withheld_pin(self) -> None:
        if (self.status.state is PoolState.pin_needed and self.settings.pin
                and self._modem_key in self.pin_refused and not self._pin_sent):
            self._set_state(PoolState.pin_needed,
                            "the configured PIN was refused by this SIM; not tried again")

    async def _adopt_better_profile(self) -> bool:
        """Once per plug: match the profile again by what the modem says about itself (a
        static port has no USB id; several sticks share one). True when it changed and the
        modem must be brought up again with the new profile's init, URCs and ICCID commands."""
        if self._profile_checked or self.modem is None or self.choose_profile is None:
            return False
        self._profile_checked = True
        better = self.choose_profile(self.modem.identity)
        if better.name == self.profile.name:
            return False
        log.info("%s: %s %s is %s, not %s; reopening with that profile", self.port.path,
                 self.modem.identity.manufacturer, self.modem.identity.model, better.name,
                 self.profile.name)
        self.profile = better
        self.status.profile = better.name
        await self._close_modem()
        return True

    async def _read_stored(self) -> None:
        if self.modem is None:
            return
        try:
            await self.modem.read_stored()
        except AtError as exc:  # stored messages are read again at the next bring-up
            log.warning("%s: reading stored messages failed: %s", self.port.path, exc)

    async def _poll_until_trouble(self) -> None:
        """Poll health until the modem stops answering (raises) or we are stopped."""
        unanswered = 0
        while not self._stopping:
            await self._sleep(self.settings.poll_interval)
            modem = self.modem
            if self._stopping or modem is None:
                return
            answered_before = modem.last_answer
            if modem.state in _WAITING_FOR_SIM:
                # The driver's health poll does not look at the SIM again once it is missing
                # or locked; a full re-probe notices a SIM inserted or unlocked since (the
                # driver never resends a refused PIN, so this cannot burn PIN tries).
                state = await modem.initialize()
                if state is ModemState.GONE and not modem.channel.closed:
                    raise ModemHung(f"re-probe: {modem.state_reason}", payload_written=False)
            else:
                state = await modem.refresh_status()
            if state is ModemState.GONE or modem.channel.closed:
                raise ChannelClosed(modem.state_reason or "port closed")
            # refresh_status() stops at the first timeout and reports it only in the log:
            # a poll that moved no answer time got no answer at all.
            if modem.last_answer == answered_before:
                unanswered += 1
            else:
                unanswered = 0
                self._healthy()
            if modem.hung or unanswered >= self.settings.hang_polls:
                raise ModemHung("health poll (AT+CSQ)", payload_written=False)
            was_ready = self.status.state is PoolState.ready
            self._show_modem_state(state)
            if self.status.state is PoolState.ready and not was_ready:
                await self._read_stored()  # a SIM just inserted may hold messages

    def _healthy(self) -> None:
        """A health poll was answered: the last recovery held."""
        self._strikes = 0
        self._backoff.reset()
        self.notice.recovered()

    async def _recover_hang(self) -> bool:
        """Reopen the port (closing a tty clears many USB-serial stalls), then reset the
        modem; True when it answers again. A modem that hung again since the last recovery
        without answering one poll is reset at once: the reopen did not hold."""
        await self._close_modem()
        if self._strikes < RESET_AFTER_STRIKES:
            self._set_state(PoolState.resting, "not answering: reopening the port")
            try:
                await self._bring_up()
                return True
            except AtError as exc:  # ChannelClosed and ModemHung included
                if not self._port_exists():
                    raise ChannelClosed("port vanished") from None
                log.info("%s: reopening did not help (%s); resetting the modem",
                         self.port.path, exc)
        self._set_state(PoolState.resting, "not answering: resetting the modem")
        modem = self.modem
        if modem is None or modem.channel.closed:
            await self._close_modem()
            modem = await self._open()
        # The driver sends the profile's reset command and re-initialises once it answers.
        state = await modem.reset()
        if state in (ModemState.GONE, ModemState.PROBING) or modem.channel.closed:
            if not self._port_exists():
                raise ChannelClosed("port vanished during reset")
            await self._close_modem()
            return False
        self._show_modem_state(state)
        if self.status.state is PoolState.ready:
            await self._read_stored()
        return True

    async def _run(self) -> None:
        while not self._stopping:
            try:
                if self.modem is None:
                    await self._bring_up()
                await self._poll_until_trouble()
            except asyncio.CancelledError:
                raise
            except AtTimeout as exc:  # ModemHung included
                await self._on_hang(exc)
            except ChannelClosed as exc:
                await self._on_closed(str(exc))
                if self._stopping:
                    return
                await self._sleep(self._backoff.next_delay())
            except (AtError, OSError) as exc:
                self.notice.failed(str(exc))
                await self._close_modem()
                if not self._port_exists():
                    await self._on_closed("port vanished")
                    return
                self._set_state(PoolState.resting, f"{exc}; retrying")
                await self._sleep(self._backoff.next_delay())
            except Exception as exc:  # a bug must not kill supervision silently
                log.exception("%s: supervisor error", self.port.path)
                await self._close_modem()
                self._set_state(PoolState.resting, f"internal error: {exc}")
                await self._sleep(self._backoff.next_delay())

    async def _on_hang(self, exc: AtTimeout) -> None:
        self.notice.failed(f"not answering ({exc})")
        self._strikes += 1
        if self._strikes >= REST_AFTER_STRIKES:
            # Recovering over and over without one answered poll: rest first (bounded).
            await self._close_modem()
            self._set_state(PoolState.resting, "keeps hanging; backing off")
            await self._sleep(self._backoff.next_delay())
            if self._stopping:
                return
        try:
            recovered = await self._recover_hang()
        except ChannelClosed as closed:
            await self._on_closed(str(closed))
            if not self._stopping:
                await self._sleep(self._backoff.next_delay())
            return
        if recovered:
            self.status.recoveries += 1
            return
        self._set_state(PoolState.resting, "not answering after reset; backing off")
        await self._close_modem()
        await self._sleep(self._backoff.next_delay())

    async def _on_closed(self, reason: str) -> None:
        await self._close_modem()
        if not self._port_exists():
            self._stopping = True
            self._set_state(PoolState.gone, f"port vanished: {reason}")
            self._ended = True
        else:
            self.notice.failed(f"port closed: {reason}")
            self._set_state(PoolState.resting, f"port closed: {reason}; reopening")
