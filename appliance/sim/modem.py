"""A simulated GSM modem: the AT interpreter, its state, inbound injection and faults.

Knows: the byte-level behaviour of a modem's AT port (echo as characters arrive, "\\r\\n"
framing, the "> " prompt of +CMGS and its Ctrl-Z / ESC ending, URCs, silence while rebooting),
the SIM (PIN, PUK, presence), registration, the message store, and the faults tests can switch
on. It uses the production codec `appliance.pdu` to read what it is asked to send and to build
what it delivers (STYLE item 9: fake devices built from the real codec).
Must not know: pseudo-terminals or file descriptors (bytes come in through `feed()` and leave
through the write callback given to `attach()`), or anything of the appliance above the port.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .commands import BAD, HANDLERS, ModemError, int_arg, split_args
from .errors import CME_TO_CMS, final_error
from .faults import FaultRates, FaultsMixin, Hang, command_name
from .identity import SimProfile
from .inbound import InboundMixin
from .record import AcceptedPdu, JsonlRecorder
from .storage import MessageStore

CTRL_Z, ESC, CR, LF, BACKSPACE, DEL = 0x1A, 0x1B, 0x0D, 0x0A, 0x08, 0x7F
MAX_LINE = 4096  # a runaway line is dropped, as a modem's line buffer would overflow


class SimulatedModem(FaultsMixin, InboundMixin):
    """One modem with its SIM. Drive it with `feed()`; its output goes to the `attach()`ed writer.

    All methods run on the event loop thread; the injection and fault methods are plain calls
    that tests make between their own awaits.
    """

    def __init__(self, profile: SimProfile, *, latency: float = 0.0, reboot_time: float = 0.3,
                 record_path: str | os.PathLike[str] | None = None):
        self.profile = profile
        self.latency = latency  # seconds between Ctrl-Z and "+CMGS: <mr>"
        self.reboot_time = reboot_time  # silence after AT+CFUN=1,1 before the boot URCs
        self.auto_status_report: float | None = None  # seconds after an accepted SRR submit
        self.accepted: list[AcceptedPdu] = []
        self.store = MessageStore(profile.storage_capacity, profile.first_storage_index)
        self.recorder = JsonlRecorder(record_path) if record_path else None
        self.resets = 0
        self.pin_tries_left = 3
        self.sim_unlocked = False
        self.network_up = True
        self.registration_denied = False  # the network refuses this SIM (+CREG stat 3)
        self.radio_on = True
        self.heard: deque[str] = deque(maxlen=200)  # command lines received, newest last
        self.ack_timeout = 15.0  # seconds a +CMT/+CDS waits for +CNMA when +CSMS=1
        self.acknowledged: list[str] = []  # PDUs of +CMT/+CDS acknowledged with +CNMA
        self.unacknowledged: list[str] = []  # ... refused (+CNMA=2) or never acknowledged
        self._awaiting_ack: deque[str] = deque()
        self._fail_sends: deque[int] = deque()
        self._swallow_sends = 0
        self._fault_rates = FaultRates()  # random faults per submit: set_fault_rates
        self._sim_busy = 0
        self._hang: Hang | None = None
        self._late_answers: deque[float] = deque()  # delays of the next submits' answers
        self._write: Callable[[bytes], None] | None = None
        self._input = bytearray()
        self._line = bytearray()
        self._mode = "command"  # "command", "pdu" (after the prompt), "rebooting"
        self._pdu_length = 0
        self._held_urcs: list[bytes] = []
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._next_mr = profile.first_message_reference
        self._next_concat = (profile.index * 37) % 256
        self._last_registration = 0
        self._power_on_state()

    # ---- wiring ---------------------------------------------------------------------------
    def attach(self, write: Callable[[bytes], None]) -> None:
        """Connect the output (a port's write). Output while detached is lost, like on a wire."""
        self._write = write

    def detach(self) -> None:
        self._write = None

    def feed(self, data: bytes) -> None:
        """Bytes from the client; they are handled in order by one worker task."""
        self._input += data
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    def close(self) -> None:
        """Stop the worker and pending timers (status reports)."""
        if self._worker is not None:
            self._worker.cancel()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def on_port_opened(self) -> None:
        """The port layer saw the client open the port (again): clears a "reopen" hang."""
        if self._hang is not None and self._hang.clear_on == "reopen":
            self._hang = None

    # ---- state ----------------------------------------------------------------------------
    def _power_on_state(self) -> None:
        self.restore_defaults()
        self.radio_on = True
        self.sim_unlocked = self.profile.pin is None
        self._mode = "command"
        self._line.clear()
        self._held_urcs.clear()
        self._awaiting_ack.clear()
        self._last_registration = self.registration_status()

    def restore_defaults(self) -> None:
        """Factory settings (power-on, ATZ, AT&F): echo on, bare ERROR, no SMS indications."""
        self.echo = True
        self.cmee = 0
        self.cmgf = 0
        self.cscs = "IRA"
        self.csms = 0
        self.cnmi: tuple[int, ...] = (0, 0, 0, 0, 0)
        self.creg_n = 0
        self.cops_format = 0
        self.cpms = ["SM", "SM", "SM"]

    @property
    def sim_status(self) -> str:
        """"ABSENT", "SIM PIN", "SIM PUK" or "READY" (as +CPIN? words it)."""
        if not self.profile.sim_present:
            return "ABSENT"
        if self.profile.pin is None:
            return "READY"
        if self.pin_tries_left <= 0:
            return "SIM PUK"
        return "READY" if self.sim_unlocked else "SIM PIN"

    def registration_status(self) -> int:
        """+CREG <stat>: 1 registered (home), 0 not registered and not searching, 3 denied
        (how an operator's barring of a SIM shows, TS 27.007 §7.2)."""
        ready = self.sim_status == "READY"
        if ready and self.radio_on and self.registration_denied:
            return 3
        return 1 if ready and self.radio_on and self.network_up else 0

    def update_registration(self) -> None:
        stat = self.registration_status()
        if stat != self._last_registration:
            self._last_registration = stat
            if self.creg_n == 1:
                self._urc(f"+CREG: {stat}")
            elif self.creg_n == 2:
                extra = f',"{self.profile.lac}","{self.profile.cell_id}"' if stat == 1 else ""
                self._urc(f"+CREG: {stat}{extra}")

    def require_sim(self, kind: str) -> None:
        """Raise the error a command touching the SIM gets when the SIM is not usable."""
        code = {"ABSENT": 10, "SIM PIN": 11, "SIM PUK": 12}.get(self.sim_status)
        if code is None and self._sim_busy > 0:
            self._sim_busy -= 1
            code = 14
        if code is not None:
            raise ModemError(kind, CME_TO_CMS[code] if kind == "CMS" else code)

    @staticmethod
    def tpdu_length(pdu_hex: str) -> int:
        """<length> of +CMGS/+CMGR/+CMT: octets after the SMSC address (TS 27.005 §3.1).
        A garbage PDU (inject_raw_pdu) gets its octet count, as firmware would print some
        number rather than stop answering."""
        try:
            return max(0, len(pdu_hex) // 2 - 1 - int(pdu_hex[:2], 16))
        except ValueError:
            return len(pdu_hex) // 2

    # ---- output ---------------------------------------------------------------------------
    def _emit(self, data: bytes) -> None:
        if self._write is not None:
            self._write(data)

    def _respond(self, lines: list[str], final: str = "OK") -> None:
        info = ("\r\n" + "\r\n".join(lines) + "\r\n") if lines else ""
        self._emit(f"{info}\r\n{final}\r\n".encode())

    def _urc(self, *lines: str) -> None:
        """One unsolicited result (two lines for +CMT/+CDS: header and PDU)."""
        self._urcs([("\r\n" + "\r\n".join(lines) + "\r\n")])

    def _each_urc(self, lines: tuple[str, ...] | list[str]) -> None:
        """Several one-line unsolicited results, each framed on its own."""
        self._urcs([f"\r\n{line}\r\n" for line in lines])

    def _urcs(self, framed: list[str]) -> None:
        """Held while the "> " prompt is open (the TA-TE link is reserved, TS 27.005 §3.4.1),
        dropped while rebooting or hung."""
        if self._mode == "rebooting" or (self._hang is not None and self._hang.commands is None):
            return
        data = "".join(framed).encode()
        if self._mode == "pdu":
            self._held_urcs.append(data)
        else:
            self._emit(data)

    def _release_urcs(self) -> None:
        held, self._held_urcs = self._held_urcs, []
        for data in held:
            self._emit(data)

    # ---- input ----------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._input:
                action = self._consume()
                if action is not None:
                    await self._perform(*action)

    def _consume(self) -> tuple[str, str] | None:
        """Take bytes until a command line or a PDU is complete; echo what a modem echoes."""
        echo = bytearray()
        action: tuple[str, str] | None = None
        taken = 0
        for byte in self._input:
            taken += 1
            if self._mode == "pdu":
                if byte in (CTRL_Z, ESC):
                    action = ("pdu" if byte == CTRL_Z else "abort", self._line.decode("latin-1"))
                    self._line.clear()
                    break
                self._line.append(byte)
                echo.append(byte)
            elif byte == CR:
                echo.append(byte)
                action = ("line", self._line.decode("latin-1"))
                self._line.clear()
                break
            elif byte in (BACKSPACE, DEL):
                del self._line[-1:]
                echo.append(byte)
            elif byte != LF:  # a stray LF after CR is ignored (S4), never part of a command
                self._line.append(byte)
                echo.append(byte)
        del self._input[:taken]
        if len(self._line) > MAX_LINE:
            self._line.clear()
        hung_all = self._hang is not None and self._hang.commands is None
        if echo and self.echo and not hung_all:
            self._emit(bytes(echo))
        return action

    async def _perform(self, what: str, text: str) -> None:
        if what == "line":
            # V.250 §5.2.1: characters before the "AT" prefix are ignored (an ESC sent to
            # cancel a prompt that was not open, line noise); a line without it gets no answer.
            start = text.upper().find("AT")
            if start < 0:
                return
            command = text[start:].strip()
            self.heard.append(command)
            hung_all = self._hang is not None and self._hang.commands is None
            if not hung_all:
                await self._execute(command[2:])
            elif self._hang.clear_on == "reset" and command_name(command) == "+CFUN=1,1":
                await self._reboot(answer=True)
        elif what == "abort":
            self._mode = "command"
            self._respond([])  # ESC: "sending cancelled", answered OK by the sticks we mimic
            self._release_urcs()
        else:
            self._mode = "command"
            await self._finish_submit(text)
            self._release_urcs()

    async def _execute(self, body: str) -> None:
        name, kind, args = self._parse(body)
        if self._hang is not None and self._hang.commands and name in self._hang.commands:
            return
        # +CMGS and +CFUN change the interpreter's own mode (prompt, reboot), so they live here.
        handler: Any = _OWN_COMMANDS.get(name) or HANDLERS.get(name)
        if handler is None and name in self.profile.vendor_settings:
            handler = HANDLERS[""]  # a vendor setting this firmware accepts: plain OK
        try:
            if handler is None:
                raise BAD
            result = handler(self, kind, args)
            if inspect.isawaitable(result):
                result = await result
        except ModemError as error:
            self._emit(f"\r\n{self._error_line(error)}\r\n".encode())
            return
        if result is not None:
            self._respond(result)

    def _error_line(self, error: ModemError) -> str:
        if error.kind is None:
            return "ERROR"
        return final_error(error.kind, error.code, self.cmee)

    @staticmethod
    def _parse(body: str) -> tuple[str, str, list[str]]:
        """"+CMGL=4" → ("+CMGL", "set", ["4"]); "+CPIN?" → ("+CPIN", "read", [])."""
        if not body or body[0] not in "+^":
            return body.upper(), "exec", []
        cut = min((i for i in (body.find("="), body.find("?")) if i >= 0), default=len(body))
        name, rest = body[:cut].upper(), body[cut:]
        if rest.startswith("=?"):
            return name, "test", []
        if rest.startswith("?"):
            return name, "read", []
        if rest.startswith("="):
            return name, "set", split_args(rest[1:])
        return name, "exec", []

    # ---- +CMGS ----------------------------------------------------------------------------
    def _cmgs(self, kind: str, args: list[str]) -> list[str] | None:
        if kind == "test":
            return []
        if kind != "set":
            raise BAD
        self.require_sim("CMS")
        if self.cmgf != 0:
            raise ModemError("CMS", 302)  # this simulator speaks PDU mode only
        self._pdu_length = int_arg(args, 0, allowed=range(7, 165))
        self._mode = "pdu"
        self._emit(b"\r\n> ")
        return None

    async def _finish_submit(self, text: str) -> None:
        pdu_hex = "".join(text.split()).upper()
        try:
            submit = self._decode_submit(pdu_hex)
        except ModemError as error:
            self._emit(f"\r\n{self._error_line(error)}\r\n".encode())
            return
        if self.registration_status() != 1:
            self._emit(f"\r\n{final_error('CMS', 331, self.cmee)}\r\n".encode())
            return
        fail_code, swallow = self._draw_send_fault()  # set_fault_rates; queued faults first
        if self._fail_sends or fail_code is not None:
            code = self._fail_sends.popleft() if self._fail_sends else fail_code
            self._emit(f"\r\n{final_error('CMS', code, self.cmee)}\r\n".encode())
            return
        if self._swallow_sends > 0:
            swallow = True
            self._swallow_sends -= 1
        reference = self._next_mr
        self._next_mr = (self._next_mr + 1) % 256
        accepted = AcceptedPdu(time.time(), pdu_hex, reference, submit, answered=not swallow)
        self.accepted.append(accepted)
        if self.recorder is not None:  # durable before any answer (see record.py)
            self.recorder.append(accepted, imei=self.profile.imei, iccid=self.profile.iccid)
        if self.auto_status_report is not None and getattr(submit, "status_report_requested",
                                                           False):
            delay = self.latency + self.auto_status_report
            self._later(delay, lambda: self.inject_status_report(reference, 0))
        if swallow:
            return
        # A late answer keeps the interpreter busy meanwhile, as a modem waiting for the
        # network's RP-ACK is: commands written in the meantime are answered after it.
        delay = self._late_answers.popleft() if self._late_answers else self.latency
        if delay > 0:
            await asyncio.sleep(delay)
        self._respond([f"+CMGS: {reference}"])

    def _decode_submit(self, pdu_hex: str) -> Any:
        """Validate like firmware does: hex, <length> against the TPDU, then the TPDU itself."""
        from appliance.pdu import PduError, decode_submit  # written concurrently; see module doc

        try:
            octets = bytes.fromhex(pdu_hex)
        except ValueError:
            raise ModemError("CMS", 304) from None
        if not octets or len(octets) - 1 - octets[0] != self._pdu_length:
            raise ModemError("CMS", 304)
        try:
            return decode_submit(pdu_hex)
        except (PduError, ValueError, IndexError):
            raise ModemError("CMS", 304) from None

    # ---- +CFUN and rebooting --------------------------------------------------------------
    async def _cfun(self, kind: str, args: list[str]) -> list[str] | None:
        if kind == "read":
            return [f"+CFUN: {1 if self.radio_on else 0}"]
        if kind == "test":
            return ["+CFUN: (0,1,4),(0,1)"]
        if kind != "set":
            raise BAD
        fun = int_arg(args, 0, allowed=range(0, 5))
        if int_arg(args, 1, default=0, allowed=range(0, 2)) == 1:
            await self._reboot(answer=True)
            return None
        self.radio_on = fun == 1
        self.update_registration()
        return []

    async def _reboot(self, *, answer: bool) -> None:
        """OK, then silence for `reboot_time`, then boot URCs with power-on settings."""
        if answer:
            self._respond([])
        self._mode = "rebooting"
        self.resets += 1
        if self._hang is not None and self._hang.clear_on == "reset":
            self._hang = None
        await asyncio.sleep(self.reboot_time)
        self._input.clear()  # whatever arrived while rebooting was never heard
        self._boot()

    def power_on(self) -> None:
        """A power cycle (replug): boots afresh; clears any hang not meant to last "never"."""
        if self._hang is not None and self._hang.clear_on != "never":
            self._hang = None
        self._input.clear()
        self._boot()

    def _boot(self) -> None:
        """Power-on settings, then the boot URCs ending with the SIM's +CPIN state."""
        self._power_on_state()
        cpin = {"ABSENT": "NOT INSERTED"}.get(self.sim_status, self.sim_status)
        self._each_urc([*self.profile.boot_urcs, f"+CPIN: {cpin}"])

    def _later(self, delay: float, action: Callable[[], object]) -> None:
        def fire() -> None:
            self._timers.discard(handle)
            action()

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(handle)


_OWN_COMMANDS = {"+CMGS": SimulatedModem._cmgs, "+CFUN": SimulatedModem._cfun}
