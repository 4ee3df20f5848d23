"""One modem: initialise it, know its SIM and signal, send PDUs, hand on what it receives.

Knows: the AT dialogue of 3GPP TS 27.007 (identity §5, PIN §8.3, registration §7.2, signal §8.5)
and TS 27.005 (PDU mode §3.2.3, storage §3.2.2, +CNMI §3.4.1, +CMGS §3.5.1), the driver
contract's rules (appliance.modem.contract), and the modem's profile (its quirks, as data).
Must not know: which SIM should send what, retries, quotas, storage of messages, or how ports
are found. Everything a device does differently comes from its ModemProfile; there is no
model name in this file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from appliance.at import (
    DEFAULT_URC_PREFIXES,
    AtChannel,
    AtCommandFailed,
    AtError,
    AtResponse,
    AtTimeout,
    ChannelClosed,
    PayloadCancelled,
    TrafficLog,
    Urc,
    open_channel,
)
from appliance.modem import identity as parse
from appliance.modem.contract import (
    InboundHandler,
    ModemIdentity,
    PartAmbiguous,
    PartNotSent,
)
from appliance.modem.inbound import InboundReader, parse_indication
from appliance.modem.profile import ModemProfile
from appliance.modem.signal import Signal
from appliance.modem.sim_card import CME_SIM_BUSY, SimCardMixin
from appliance.modem.state import ModemState, Registration, check_transition

log = logging.getLogger(__name__)

# TS 27.005 §3.2.5: the +CMS form of SIM busy.
CMS_SIM_BUSY = 314

# A SIM answers +CME ERROR: 14 (busy) for a few seconds after power-up or PIN entry
# (python-gsmmodem's fake Huawei/ZTE modems reproduce it); wait this long between tries.
SIM_BUSY_TRIES = 5
SIM_BUSY_PAUSE = 0.5

# A modem known to be hung (the supervisor resets it, or no answer for hang_timeout) gets ONE
# resync probe waiting at most this long before the next command, instead of the profile's
# resync_tries x resync_timeout: a modem that answers at all answers a bare AT within tens
# of milliseconds, and a late answer arriving after it is still dropped by the AT parser as
# stale until the next command is written.
HUNG_RESYNC_TIMEOUT = 0.5

# How long after an unanswered +CMGS its late "+CMGS: <mr>" is still passed on (it is awaited
# only until the next send's prompt in any case: contract rule 7).
LATE_ANSWER_WINDOW = 300.0

StateListener = Callable[[ModemState, str], None]


class Modem(SimCardMixin):
    """A modem on one AT channel (contract.PartSender). States are reported, never raised:
    read `state` and `state_reason`. Identity and SIM unlocking live in `SimCardMixin`."""

    def __init__(
        self,
        channel: AtChannel,
        profile: ModemProfile,
        *,
        pin: str = "",
        port: str = "",
        on_inbound: InboundHandler | None = None,
        command_timeout: float = 5.0,
        send_timeout: float = 60.0,
        on_state: StateListener | None = None,
        on_registration: Callable[[Registration], None] | None = None,
        late_answer_window: float = LATE_ANSWER_WINDOW,
    ) -> None:
        self.channel = channel
        self.profile = profile
        self.port = port or channel.name
        self._pin = pin
        self._pin_refused = False  # set once the configured PIN is refused; never sent again
        self.command_timeout = command_timeout
        self.send_timeout = send_timeout
        self.late_answer_window = late_answer_window
        self.on_state = on_state
        self.on_registration = on_registration  # told at once when a +CREG URC moves it
        self.state = ModemState.PROBING
        self.state_reason = "opened"
        self.identity = ModemIdentity()
        self.signal = Signal()
        self.registration = Registration.UNKNOWN
        self.cnmi: str | None = None  # the +CNMI parameter set the modem accepted
        self.last_answer: float | None = None  # loop time of the last answered command
        self.inbound = InboundReader(
            self._lines, lambda: self.identity.sim.iccid, on_inbound,
            ack_direct=profile.ack_direct,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._watch = asyncio.get_running_loop().create_task(self._watch_port())

    # -- opening and closing ---------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        port: str,
        profile: ModemProfile,
        *,
        baudrate: int | None = None,
        pin: str = "",
        on_inbound: InboundHandler | None = None,
        traffic: TrafficLog | None = None,
        command_timeout: float | None = None,
        send_timeout: float = 60.0,
        on_state: StateListener | None = None,
        on_registration: Callable[[Registration], None] | None = None,
        late_answer_window: float = LATE_ANSWER_WINDOW,
    ) -> Modem:
        """Open `port` with the profile's baud rate, pacing and URC prefixes, URCs routed to
        the new modem. Raises ChannelClosed if the port cannot be opened."""
        early: list[Urc] = []
        target: list[Modem] = []

        def on_urc(urc: Urc) -> None:
            # The channel exists before the modem does: hold URCs until it is there.
            if target:
                target[0].handle_urc(urc)
            else:
                early.append(urc)

        channel = await open_channel(
            port,
            baudrate or profile.serial.baudrate,
            name=port,
            on_urc=on_urc,
            traffic=traffic,
            urc_prefixes=DEFAULT_URC_PREFIXES | set(profile.urc_prefixes),
            min_interval=profile.serial.command_interval,
            resync_tries=profile.serial.resync_tries,
            resync_timeout=profile.serial.resync_timeout,
        )
        # open_channel() returns only once connection_made() has run: the first write is safe.
        modem = cls(
            channel, profile, pin=pin, port=port, on_inbound=on_inbound,
            command_timeout=command_timeout or profile.serial.command_timeout,
            send_timeout=send_timeout, on_state=on_state, on_registration=on_registration,
            late_answer_window=late_answer_window,
        )
        target.append(modem)
        for urc in early:
            modem.handle_urc(urc)
        return modem

    async def close(self) -> None:
        for task in [*self._tasks, self._watch]:
            task.cancel()
        await asyncio.gather(*self._tasks, self._watch, return_exceptions=True)
        await self.channel.close()

    async def _watch_port(self) -> None:
        await self.channel.wait_closed()
        self._set_state(ModemState.GONE, self.channel.close_reason or "port closed")

    # -- state -----------------------------------------------------------------------------

    def _set_state(self, new: ModemState, reason: str) -> None:
        old = self.state
        if old == ModemState.GONE and new != ModemState.PROBING:
            return  # nothing but a re-probe brings a vanished modem back
        check_transition(old, new)
        self.state, self.state_reason = new, reason
        if old != new:
            # Log changes, not noise (Home Assistant's coordinator): one line per transition.
            log.info("%s: %s -> %s (%s)", self.port, old, new, reason)
            if self.on_state is not None:
                self.on_state(new, reason)

    @property
    def hung(self) -> bool:
        """No answer for longer than the profile's hang_timeout (the supervisor resets)."""
        if self.last_answer is None or self.channel.closed:
            return False
        return asyncio.get_running_loop().time() - self.last_answer > self.profile.hang_timeout

    # -- commands --------------------------------------------------------------------------

    async def _command(
        self, cmd: str, *, timeout: float | None = None, busy_retry: bool = True,
        **kwargs: object,
    ) -> AtResponse:
        """One command; SIM busy (+CME ERROR: 14, +CMS ERROR: 314) is waited out a few times
        unless busy_retry is False (a send reports it instead: the dispatcher decides)."""
        loop = asyncio.get_running_loop()
        if self.hung:
            # Known hung: one short resync probe, not the profile's full set, so the next
            # command (often the reset) is not held up by probes that will not be answered.
            kwargs = {**self._hung_resync(), **kwargs}
        for attempt in range(1, SIM_BUSY_TRIES + 1):
            try:
                resp = await self.channel.command(
                    cmd, timeout=timeout or self.command_timeout,
                    **kwargs,  # type: ignore[arg-type]
                )
            except ChannelClosed as exc:
                self._set_state(ModemState.GONE, exc.reason)
                raise
            except AtCommandFailed as exc:
                self.last_answer = loop.time()
                busy = exc.cme_error == CME_SIM_BUSY or exc.cms_error == CMS_SIM_BUSY
                if not (busy and busy_retry and attempt < SIM_BUSY_TRIES):
                    raise
                await asyncio.sleep(SIM_BUSY_PAUSE)
                continue
            self.last_answer = loop.time()
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def _hung_resync(self) -> dict[str, object]:
        serial = self.profile.serial
        return {"resync_tries": min(1, serial.resync_tries),
                "resync_timeout": min(serial.resync_timeout, HUNG_RESYNC_TIMEOUT)}

    async def _lines(self, cmd: str, **kwargs: object) -> list[str]:
        return (await self._command(cmd, **kwargs)).lines

    async def _try_lines(self, cmd: str, **kwargs: object) -> list[str] | None:
        """Lines of a command that may not be supported: None on ERROR (not on unplug)."""
        try:
            return await self._lines(cmd, **kwargs)
        except AtCommandFailed:
            return None
        except AtTimeout:
            log.info("%s: %s unanswered", self.port, cmd)
            return None

    # -- initialisation --------------------------------------------------------------------

    async def initialize(self) -> ModemState:
        """Bring the modem up: probe, identity, SIM, SMS set-up, registration. Returns the
        state reached (ready, no_sim, pin_needed, sim_blocked, gone)."""
        self._set_state(ModemState.PROBING, "initialising")
        try:
            if not await self._probe():
                self._set_state(ModemState.GONE, "no answer to AT")
                return self.state
            await self._command("ATE0")  # V.250 §6.2.4: no echo
            await self._command("AT+CMEE=1")  # TS 27.007 §9.1: numeric +CME/+CMS errors
            await self._read_modem_identity()
            sim_state = await self._unlock_sim()
            if sim_state is not ModemState.READY:
                self._set_state(sim_state, self.state_reason)
                return self.state
            await self._read_sim_identity()
            await self._setup_sms()
            await self._read_registration()
            await self._read_signal()
            self._set_state(ModemState.READY, "initialised")
        except ChannelClosed as exc:
            self._set_state(ModemState.GONE, exc.reason)
        except AtError as exc:
            # A step the driver cannot do without (E0, CMEE, CMGF) failed or timed out.
            self._set_state(ModemState.GONE, f"initialisation failed: {exc}")
        return self.state

    async def _probe(self) -> bool:
        # It may have been left at the SMS prompt by whoever had the port before us.
        self.channel.cancel_pending_input()
        # A stick just plugged in (or reset) may need seconds before it answers.
        for _ in range(self.profile.serial.probe_tries):
            try:
                # The probe is itself a bare "AT": no resync probes before it.
                await self._command("AT", timeout=min(self.command_timeout, 2.0),
                                    resync_tries=0)
                return True
            except AtTimeout:
                continue
            except AtCommandFailed:
                return True  # an answer, even ERROR, means something AT-speaking is there
        return False

    async def _setup_sms(self) -> None:
        await self._command("AT+CMGF=0")  # TS 27.005 §3.2.3: PDU mode
        if self.profile.csms is not None:
            await self._try_lines(f"AT+CSMS={self.profile.csms}")
        mems = ",".join(f'"{m}"' for m in self.profile.storage)
        if await self._try_lines(f"AT+CPMS={mems}", response_prefix="+CPMS") is not None:
            self.inbound.read_storage = self.profile.storage[0]
        else:
            log.warning("%s: +CPMS=%s refused; using the modem's default storage", self.port, mems)
        # Fallbacks as a table (ModemManager's cnmi_sequence): first set answered OK wins.
        self.cnmi = None
        for params in self.profile.cnmi:
            if await self._try_lines(f"AT+CNMI={params}") is not None:
                self.cnmi = params
                break
        if self.cnmi is None:
            log.warning("%s: no +CNMI setting accepted; inbound only by read_stored()", self.port)
        for cmd in self.profile.init:
            if await self._try_lines("AT" + cmd) is None:
                log.warning("%s: profile %s init command %s refused",
                            self.port, self.profile.name, cmd)

    # -- status ----------------------------------------------------------------------------

    def _apply_creg(self, lines: list[str]) -> None:
        for line in lines:
            value = parse.value_after(line, "+CREG")
            stat = parse.parse_creg(value, solicited=True) if value is not None else None
            if stat is not None:
                self.registration = Registration.parse(stat)

    def _apply_csq(self, lines: list[str]) -> None:
        for line in lines:
            value = parse.value_after(line, "+CSQ")
            csq = parse.parse_csq(value) if value is not None else None
            if csq is not None:
                self.signal = Signal(*csq)

    async def _read_registration(self) -> None:
        self._apply_creg(await self._try_lines("AT+CREG?", response_prefix="+CREG") or [])

    async def _read_signal(self) -> None:
        self._apply_csq(await self._try_lines("AT+CSQ", response_prefix="+CSQ") or [])

    async def refresh_status(self) -> ModemState:
        """The supervisor's health poll: signal, registration, SIM presence. A timeout ends
        the poll at once (a hung modem will not answer the rest); `hung` tells the
        supervisor when to reset."""
        if self.state in (ModemState.GONE, ModemState.PROBING):
            return self.state
        try:
            self._apply_csq(await self._lines("AT+CSQ", response_prefix="+CSQ"))
            self._apply_creg(await self._lines("AT+CREG?", response_prefix="+CREG"))
            if self.state is ModemState.READY:
                code, cme = await self._cpin()
                sim_state = self._sim_state(code, cme)
                if sim_state is None:
                    self._set_state(ModemState.PIN_NEEDED, "SIM asks for its PIN again")
                elif sim_state is not ModemState.READY:
                    self._set_state(sim_state, self.state_reason)
        except ChannelClosed:
            pass  # _command already reported gone
        except AtError as exc:
            log.info("%s: health poll failed: %s", self.port, exc)
        return self.state

    async def reset(self) -> ModemState:
        """The profile's reset command, then re-initialisation once the modem answers again
        (bounded by the profile's reset_wait). A USB modem re-enumerates on reset: its port
        vanishes, the state becomes gone and the pool opens it again."""
        try:
            # Called for a modem that stopped answering: one short resync probe at most
            # before the reset command (the supervisor's reopen -> reset path must be quick).
            await self._command(
                "AT" + self.profile.reset_command, timeout=self.command_timeout,
                **self._hung_resync(),  # type: ignore[arg-type]
            )
        except ChannelClosed:
            return self.state
        except AtError as exc:
            log.info("%s: reset command: %s", self.port, exc)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.profile.reset_wait
        while loop.time() < deadline and not self.channel.closed:
            try:
                await self._command("AT", timeout=2.0, resync_tries=0)  # itself a probe
                return await self.initialize()
            except AtTimeout:
                continue
            except AtCommandFailed:
                return await self.initialize()
            except ChannelClosed:
                break
        if not self.channel.closed:
            self._set_state(ModemState.GONE, "no answer after reset")
        return self.state

    # -- sending (contract rules 1, 6, 7, 8) ----------------------------------------------

    async def send_part(
        self,
        pdu: str,
        tpdu_length: int,
        *,
        timeout: float | None = None,
        before_pdu: Callable[[], Awaitable[None]] | None = None,
        on_late_answer: Callable[[int], None] | None = None,
    ) -> int:
        """AT+CMGS=<length> and the PDU after the prompt (TS 27.005 §3.5.1); the TP-MR.

        `before_pdu` is awaited while the prompt is open, before the PDU is written (rule 6);
        `timeout` bounds the wait for the answer after the PDU (default: send_timeout);
        `on_late_answer(mr)` is called if the answer comes after that timeout (rule 7)."""
        if self.state is not ModemState.READY:
            raise PartNotSent(f"modem {self.state}: {self.state_reason}")
        if self.channel.closed:
            raise PartNotSent(f"port gone: {self.channel.close_reason}")
        waited = self.send_timeout if timeout is None else timeout
        late = None if on_late_answer is None else self._late_answer_parser(on_late_answer)
        try:
            resp = await self._command(
                f"AT+CMGS={tpdu_length}", payload=pdu, timeout=waited, busy_retry=False,
                prompt_timeout=self.command_timeout, response_prefix="+CMGS",
                before_payload=before_pdu, on_late_answer=late,
                late_answer_window=self.late_answer_window,
            )
        except PayloadCancelled as exc:
            cause = exc.__cause__ or exc
            raise PartNotSent(f"before_pdu failed at the prompt: {cause!r}") from cause
        except AtCommandFailed as exc:
            raise PartNotSent(exc.final.text, cms_error=exc.cms_error,
                              cme_error=exc.cme_error) from exc
        except AtTimeout as exc:
            if exc.payload_written:
                raise PartAmbiguous(f"no answer to +CMGS within {waited}s") from exc
            raise PartNotSent(f"no '> ' prompt: {exc}") from exc
        except ChannelClosed as exc:
            # The channel says whether the PDU had been handed to the port when it vanished.
            if exc.payload_written:
                raise PartAmbiguous(f"port gone during +CMGS: {exc.reason}") from exc
            raise PartNotSent(f"port gone before the PDU was written: {exc.reason}") from exc
        mr = _message_reference(resp.values("+CMGS"))
        if mr is None:
            # OK without a reference: the modem took it but we cannot match a status report.
            raise PartAmbiguous(f"+CMGS answered {resp.final.text} without a message reference")
        return mr

    def _late_answer_parser(self, on_late_answer: Callable[[int], None]) -> Callable[[str], None]:
        def late(line: str) -> None:
            self.last_answer = asyncio.get_running_loop().time()
            value = parse.value_after(line, "+CMGS")
            mr = _message_reference([value] if value is not None else [])
            if mr is None:
                log.warning("%s: late +CMGS answer without a reference: %r", self.port, line)
                return
            log.info("%s: late +CMGS answer: message reference %d", self.port, mr)
            on_late_answer(mr)

        return late

    async def check_alive(self, timeout: float = 2.0) -> bool:
        """One bare "AT" (no resync probes before it): True when the modem answered anything
        (rule 8). A modem that stays silent is left to its supervisor, which reopens and
        resets it once no answer came for the profile's hang_timeout."""
        if self.state is ModemState.GONE or self.channel.closed:
            return False
        try:
            answered = await self.channel.probe(timeout=timeout)
        except ChannelClosed as exc:
            self._set_state(ModemState.GONE, exc.reason)
            return False
        if answered:
            self.last_answer = asyncio.get_running_loop().time()
        return answered

    # -- receiving -------------------------------------------------------------------------

    async def read_stored(self) -> int:
        """Hand on every message stored on the modem (start-up, or after a handler failed)."""
        return await self.inbound.read_stored()

    def _spawn(self, coro) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, ChannelClosed):
                log.warning("%s: inbound processing failed: %s", self.port, exc)

    def handle_urc(self, urc: Urc) -> None:
        """The channel's URC callback. Never blocks: AT work is scheduled as a task."""
        name = urc.name
        if name in self.profile.ignore_urcs:
            return
        if name in ("+CMTI", "+CDSI"):
            where = parse_indication(urc.text, name)
            if where is not None:
                self._spawn(self.inbound.read_index(*where))
        elif name in ("+CMT", "+CDS"):
            self._spawn(self.inbound.deliver_direct(name, urc.body))
        elif name in ("+CREG", "+CGREG", "+CEREG"):
            value = parse.value_after(urc.text, name)
            stat = parse.parse_creg(value, solicited=False) if value is not None else None
            if stat is not None and name == "+CREG":
                self.registration = Registration.parse(stat)
                if self.on_registration is not None:
                    self.on_registration(self.registration)
        elif name in self.profile.signal_urcs:
            value = parse.value_after(urc.text, name)
            csq = parse.parse_csq(value) if value is not None else None
            if csq is not None:
                self.signal = Signal(*csq)
        elif name == "+CPIN":
            code = parse.parse_cpin([urc.text])
            if "NOT INSERTED" in code or "NOT READY" in code:
                if self.state is ModemState.READY:
                    self._set_state(ModemState.NO_SIM, f"SIM reported {code}")
        else:
            log.debug("%s: URC %s", self.port, urc.text)


def _message_reference(values: list[str]) -> int | None:
    """The TP-MR in "+CMGS: <mr>[,<scts>]" values (TS 27.005 §3.5.1), or None."""
    for value in values:
        mr = value.split(",", 1)[0].strip()
        if mr.isdigit():
            return int(mr)
    return None
