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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from .commands import BAD, HANDLERS, ModemError, int_arg, split_args
from .errors import CME_TO_CMS, final_error
from .identity import SimProfile
from .record import AcceptedPdu, JsonlRecorder
from .storage import MessageStore

CHINA_TIME = timezone(timedelta(hours=8))  # SCTS of Chinese networks carry +08:00
CTRL_Z, ESC, CR, LF, BACKSPACE, DEL = 0x1A, 0x1B, 0x0D, 0x0A, 0x08, 0x7F
MAX_LINE = 4096  # a runaway line is dropped, as a modem's line buffer would overflow


@dataclass(frozen=True)
class Hang:
    """A hung firmware: silent for `commands` (None = everything) until `clear_on` happens."""

    clear_on: str  # "reset" (AT+CFUN=1,1 still heard), "reopen" (port opened again), "never"
    commands: frozenset[str] | None


def _command_name(text: str) -> str:
    name = text.strip().upper()
    return name[2:] if name.startswith("AT") else name


class SimulatedModem:
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
        self.radio_on = True
        self._fail_sends: deque[int] = deque()
        self._swallow_sends = 0
        self._sim_busy = 0
        self._hang: Hang | None = None
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
        """+CREG <stat>: 1 registered (home), 0 not registered and not searching."""
        ready = self.sim_status == "READY"
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
        """<length> of +CMGS/+CMGR/+CMT: octets after the SMSC address (TS 27.005 §3.1)."""
        return len(pdu_hex) // 2 - 1 - int(pdu_hex[:2], 16)

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
            command = text.strip()
            if command[:2].upper() != "AT":
                return  # noise without the AT prefix gets no answer on the sticks
            hung_all = self._hang is not None and self._hang.commands is None
            if not hung_all:
                await self._execute(command[2:])
            elif self._hang.clear_on == "reset" and _command_name(command) == "+CFUN=1,1":
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
        if self._fail_sends:
            code = self._fail_sends.popleft()
            self._emit(f"\r\n{final_error('CMS', code, self.cmee)}\r\n".encode())
            return
        swallow = self._swallow_sends > 0
        if swallow:
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
        if self.latency > 0:
            await asyncio.sleep(self.latency)
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

    # ---- inbound --------------------------------------------------------------------------
    def inject_sms(self, sender: str, text: str, *, stored_before_start: bool = False,
                   force_ucs2: bool = False, concat_bits: int = 8,
                   timestamp: datetime | None = None, flash: bool = False) -> list[int | None]:
        """Deliver an SMS from the network: one SMS-DELIVER per part (several if long).

        Each part is stored with a +CMTI URC, or shown with +CMT when +CNMI <mt>=2 (not
        stored), according to +CNMI. `stored_before_start` puts the parts on the SIM silently,
        as messages that arrived while nothing listened. Returns each part's slot (None: shown
        directly, or refused because the store is full).
        """
        from appliance.pdu import encode_deliver

        if timestamp is not None and timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=CHINA_TIME)  # an SCTS always has a zone
        reference = self._next_concat
        self._next_concat = (self._next_concat + 1) % (256 if concat_bits == 8 else 65536)
        pdus = encode_deliver(sender, text, timestamp or datetime.now(CHINA_TIME),
                              smsc=self.profile.smsc, reference=reference,
                              force_ucs2=force_ucs2, concat_bits=concat_bits, flash=flash)
        return [self._arrive(pdu, stored_before_start, status_report=False) for pdu in pdus]

    def inject_status_report(self, message_reference: int, status: int = 0) -> int | None:
        """Deliver an SMS-STATUS-REPORT for `message_reference` (status 0 = delivered).

        Routed per +CNMI <ds>: 1 → +CDS shown directly, 2 → stored with +CDSI, 0 → dropped.
        """
        from appliance.pdu import encode_status_report

        sent = next((a for a in reversed(self.accepted)
                     if a.message_reference == message_reference), None)
        recipient = getattr(sent.submit, "to", None) if sent else None
        now = datetime.now(CHINA_TIME)
        scts = datetime.fromtimestamp(sent.at, UTC).astimezone(CHINA_TIME) if sent else now
        pdu = encode_status_report(message_reference, recipient or "+8613800000000", status,
                                   scts, now, smsc=self.profile.smsc)
        return self._arrive(pdu, False, status_report=True)

    def _arrive(self, pdu: str, silently: bool, *, status_report: bool) -> int | None:
        if not self.profile.sim_present:
            return None
        mode, mt, _bm, ds, _bfr = self.cnmi
        route = ds if status_report else mt
        if status_report and route == 0:
            return None
        direct = route == (1 if status_report else 2)
        if direct and not silently and mode != 0:
            head = "+CDS: " if status_report else "+CMT: ,"
            self._urc(f"{head}{self.tpdu_length(pdu)}", pdu)
            return None
        index = self.store.store(pdu)
        if index is None:
            if self.profile.memory_full_urc and not silently:
                self._urc(self.profile.memory_full_urc)
            return None
        if not silently and mode != 0 and route != 0:
            self._urc(f'{"+CDSI" if status_report else "+CMTI"}: "{self.cpms[2]}",{index}')
        return index

    # ---- faults and the outside world -----------------------------------------------------
    def fail_next_sends(self, code: int, count: int = 1) -> None:
        """The next `count` submits answer +CMS ERROR: <code> (nothing was sent)."""
        self._fail_sends.extend([code] * count)

    def swallow_next_sends(self, count: int = 1) -> None:
        """The next `count` submits are transmitted and recorded but never answered."""
        self._swallow_sends += count

    def sim_busy(self, count: int) -> None:
        """The next `count` SIM-touching commands fail with SIM busy (CME 14 / CMS 314)."""
        self._sim_busy += count

    def hang(self, clear_on: str = "reset", commands: set[str] | None = None) -> None:
        """Stop answering `commands` ("+CMGL", or "AT+CMGL") or everything when None."""
        if clear_on not in ("reset", "reopen", "never"):
            raise ValueError(f"clear_on must be reset, reopen or never, not {clear_on!r}")
        names = frozenset(_command_name(c) for c in commands) if commands else None
        self._hang = Hang(clear_on, names)

    def clear_hang(self) -> None:
        self._hang = None

    @property
    def hung(self) -> bool:
        return self._hang is not None

    def remove_sim(self) -> None:
        self.profile.sim_present = False
        self.sim_unlocked = False
        self._each_urc(self.profile.sim_removed_urcs)
        self.update_registration()

    def insert_sim(self) -> None:
        self.profile.sim_present = True
        self.sim_unlocked = self.profile.pin is None
        self._urc(f"+CPIN: {self.sim_status}")
        self.update_registration()

    def flood_urcs(self, n: int, line: str = "^RSSI:17") -> None:
        """`n` copies of an unsolicited line at once (Huawei sticks chatter ^RSSI/^BOOT)."""
        self._each_urc([line] * n)

    def set_signal(self, csq: int) -> None:
        self.profile.signal = csq

    def deregister(self) -> None:
        self.network_up = False
        self.update_registration()

    def register(self) -> None:
        self.network_up = True
        self.update_registration()

    def _later(self, delay: float, action: Callable[[], object]) -> None:
        def fire() -> None:
            self._timers.discard(handle)
            action()

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(handle)


_OWN_COMMANDS = {"+CMGS": SimulatedModem._cmgs, "+CFUN": SimulatedModem._cfun}
