"""The AT-command framing core: bytes from a modem in, events out, no I/O (h11 style).

Knows: how a modem's output is framed (ITU-T V.250 §5.7: result codes and information text
between CR LF pairs; 3GPP TS 27.007 §9.2 and TS 27.005 §3.2.5 final result codes; the SMS prompt
"> " of TS 27.005 §3.5.1 that has no line terminator), command echo (V.250 §6.2.4 ATE), which
lines are unsolicited result codes (URCs), the two-line URCs of TS 27.005 §3.4.1 / §4, and the
late answer of an abandoned command that the caller says may still come (a late "+CMGS: <mr>").
Must not know: serial ports, asyncio, timeouts, SMS policy, or what a response means. The caller
tells it when a command starts (`begin`) and ends (`end`); everything else is inferred from bytes.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from appliance.at.errors import cme_code, cms_code

__all__ = [
    "DEFAULT_URC_PREFIXES",
    "MAX_LINE_BYTES",
    "AtParser",
    "Event",
    "FinalKind",
    "FinalResult",
    "LateAnswer",
    "Noise",
    "Prompt",
    "ResponseLine",
    "Urc",
    "parse_final",
]


class FinalKind(enum.Enum):
    OK = "OK"
    ERROR = "ERROR"
    CME_ERROR = "+CME ERROR"
    CMS_ERROR = "+CMS ERROR"
    NO_CARRIER = "NO CARRIER"
    BUSY = "BUSY"
    NO_ANSWER = "NO ANSWER"
    NO_DIALTONE = "NO DIALTONE"
    CONNECT = "CONNECT"


@dataclass(frozen=True)
class FinalResult:
    """A final result code: the command is over. `text` is the raw line."""

    kind: FinalKind
    code: int | None
    text: str

    @property
    def is_error(self) -> bool:
        return self.kind in (FinalKind.ERROR, FinalKind.CME_ERROR, FinalKind.CMS_ERROR)


@dataclass(frozen=True)
class ResponseLine:
    """Information text belonging to the command in flight."""

    text: str


@dataclass(frozen=True)
class Urc:
    """An unsolicited result code; `body` is the second line of a two-line URC (+CMT/+CDS/+CBM)."""

    name: str
    text: str
    body: str | None = None


@dataclass(frozen=True)
class Prompt:
    """The SMS prompt "> " (TS 27.005 §3.5.1): the modem waits for the PDU and Ctrl-Z."""


@dataclass(frozen=True)
class Noise:
    """Bytes that are neither a response nor a URC (stray final result, overflow, garbage)."""

    data: bytes


@dataclass(frozen=True)
class LateAnswer:
    """The information line of an abandoned command's answer that came after all (a late
    "+CMGS: <mr>" after the send timed out); the final result after it is swallowed."""

    text: str


Event = FinalResult | ResponseLine | Urc | Prompt | Noise | LateAnswer

DEFAULT_URC_PREFIXES: frozenset[str] = frozenset(
    {
        # TS 27.005 §3.4.1 new-message indications (+CNMI)
        "+CMTI", "+CMT", "+CDSI", "+CDS", "+CBM", "+CBMI",
        # TS 27.007 §7.2, §10.1.19, §10.1.22 registration
        "+CREG", "+CGREG", "+CEREG",
        # TS 27.007 §6.11, §7.6, §7.15, §8.10 call and indicator events
        "RING", "+CRING", "+CLIP", "+CUSD", "+CIEV", "+CCWA",
        # Huawei E173/E3372 status reports (^CURC), call progress
        "^RSSI", "^HCSQ", "^BOOT", "^MODE", "^SRVST", "^SIMST", "^DSFLOWRPT", "^CEND", "^ORIG",
        "^CONF", "^CONN", "^STIN", "^RFSWITCH", "^NDISSTAT",
        # Quectel EC2x/UC20: +QIND, and "RDY" after power-up
        "+QIND", "RDY", "+QUSIM",
        # SIMCom SIM800/SIM7600 boot chatter and network time
        "Call Ready", "SMS Ready", "+CPIN", "+CFUN", "+PACSP", "+STIN", "*PSUTTZ", "+CTZV",
        "+NITZ", "*PSNWID", "DST", "PB DONE", "+CGEV", "NORMAL POWER DOWN", "UNDER-VOLTAGE",
        # ZTE
        "+ZPASR", "+ZUSIMR", "+ZEND",
        # Wavecom/Sierra
        "+WIND",
    }
)  # fmt: skip

# V.250 §5.7 allows 2048-character information text; 4 KiB bounds memory with margin for
# long +CMGL PDU lines (TS 27.005 §4.1: up to 2 * 176 hex digits) and vendor banners.
MAX_LINE_BYTES = 4096

_SIMPLE_FINALS: dict[str, FinalKind] = {
    "OK": FinalKind.OK,
    "ERROR": FinalKind.ERROR,
    "NO CARRIER": FinalKind.NO_CARRIER,
    "BUSY": FinalKind.BUSY,
    "NO ANSWER": FinalKind.NO_ANSWER,
    "NO DIALTONE": FinalKind.NO_DIALTONE,
    "NO DIAL TONE": FinalKind.NO_DIALTONE,
    "CONNECT": FinalKind.CONNECT,
    # Huawei E1752 answers unknown commands with this instead of ERROR (python-gsmmodem
    # test/fakemodems.py, HuaweiE1752).
    "COMMAND NOT SUPPORT": FinalKind.ERROR,
}

# TS 27.005 §3.4.1 / §4: +CMT and +CBM always carry a second line (PDU or text); +CDS does
# so only in PDU mode, where its header is just "+CDS: <length>".
_TWO_LINE_ALWAYS = frozenset({"+CMT", "+CBM"})
_CDS_PDU_HEADER = re.compile(r"^\+CDS:\s*\d+\s*$")

# Bytes that are not text: C0 controls except the terminators (CR, LF, and Ctrl-Z which ends
# an echoed PDU), plus DEL. A noisy USB line or a modem rebooting emits these.
_CONTROL = bytes(b for b in range(32) if b not in (0x0A, 0x0D, 0x1A)) + b"\x7f"
_TERMINATORS = re.compile(rb"[\r\n\x1a]")
# Read/test commands ("AT+CREG?", "AT+CPMS=?") answer with their own name (TS 27.007 §4.1),
# so their info line is the response even when the same name is also a URC.
_QUERY = re.compile(r"^AT([+^$*%][A-Z0-9]+)=?\?$", re.IGNORECASE)


def parse_final(line: str) -> FinalResult | None:
    """The final result code in `line`, or None if the line is not one."""
    upper = line.upper()
    kind = _SIMPLE_FINALS.get(upper)
    if kind is not None:
        return FinalResult(kind, None, line)
    if upper.startswith("CONNECT "):  # V.250 §6.4: "CONNECT <text>" (rate) is still CONNECT
        return FinalResult(FinalKind.CONNECT, None, line)
    for prefix, kind, lookup in (
        ("+CME ERROR", FinalKind.CME_ERROR, cme_code),
        ("+CMS ERROR", FinalKind.CMS_ERROR, cms_code),
    ):
        if upper.startswith(prefix):
            rest = line[len(prefix) :].lstrip()
            if rest.startswith(":"):
                return FinalResult(kind, lookup(rest[1:]), line)
    return None


def _has_prefix(line: str, prefix: str) -> bool:
    # "+CMT" must not match "+CMTI: ...": the prefix ends at ':' / space / end of line.
    if not line.upper().startswith(prefix.upper()):
        return False
    rest = line[len(prefix) :]
    return rest == "" or rest[0] in ": "


def _decode(raw: bytes) -> str | None:
    """The line as text, or None if it is mostly binary garbage."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    high = sum(1 for b in raw if b >= 0x80)
    if high * 2 > len(raw):
        return None  # wrong baud rate or line noise, not text
    return raw.decode("latin-1")


class AtParser:
    """Turns a modem's byte stream into `Event`s. Feed `receive_data`, drain `next_event`."""

    def __init__(self, urc_prefixes: Iterable[str] = DEFAULT_URC_PREFIXES) -> None:
        # Longest first so "+CMTI" wins over "+CMT".
        self._urc_prefixes = sorted(set(urc_prefixes), key=len, reverse=True)
        # One regex instead of a loop of _has_prefix calls per line (the send path's hottest
        # parser step): the same rule, the prefix followed by ':', ' ' or the end of the line.
        self._urc_regex = (
            re.compile(
                "(?:" + "|".join(re.escape(p) for p in self._urc_prefixes) + r")(?=[: ]|\Z)",
                re.IGNORECASE,
            )
            if self._urc_prefixes
            else None
        )
        self._urc_canonical: dict[str, str] = {}
        for prefix in reversed(self._urc_prefixes):  # the longest first wins, as in the loop
            self._urc_canonical[prefix.upper()] = prefix
        self._buf = bytearray()
        self._discarding = False  # inside an over-long line: drop until its terminator
        self._events: deque[Event] = deque()
        self._command: str | None = None
        self._response_prefix: str | None = None
        self._expects_prompt = False
        self._echo_pending = False
        self._payload: str | None = None
        self._pending_urc: Urc | None = None
        # After a command is abandoned without its final result, its late answer may still
        # arrive: until the next begin(), only lines with a known URC prefix are URCs.
        self._stale = False
        # After the prompt, hold further bytes until payload_sent()/end(): what follows is
        # the PDU's echo, which can only be recognised once the payload is known.
        self._held_after_prompt = False
        # expect_late_answer(): the prefix of an abandoned command's answer that may still
        # come ("+CMGS"), and whether the final result after such a line is still to come.
        self._late_prefix: str | None = None
        self._late_final_pending = False

    # -- command framing -------------------------------------------------------------------

    @property
    def in_command(self) -> bool:
        """True while a command has begun and its final result has not been seen."""
        return self._command is not None

    def begin(
        self, command: str, *, response_prefix: str | None = None, expects_prompt: bool = False
    ) -> None:
        """A command was (or is about to be) written; lines until its final result are its."""
        command = command.strip()
        self._command = command
        if response_prefix is None:
            query = _QUERY.match(command)
            response_prefix = query.group(1) if query else None
        self._response_prefix = response_prefix
        self._expects_prompt = expects_prompt
        self._echo_pending = True
        self._payload = None
        self._stale = False

    def payload_sent(self, payload: str) -> None:
        """The PDU written after the prompt: its echo is dropped."""
        self._payload = payload.strip().casefold()
        self._expects_prompt = False
        self._held_after_prompt = False
        self._drain_buffer()

    def payload_cancelled(self) -> None:
        """The prompt was left with ESC instead of a payload: bytes held since the prompt
        are framed again (the modem's answer to ESC is the command's final result)."""
        self._expects_prompt = False
        self._held_after_prompt = False
        self._drain_buffer()

    def expect_late_answer(self, prefix: str) -> None:
        """The command just abandoned may still answer with a `prefix` line and a final
        result: such a line becomes a LateAnswer (and its final is swallowed) wherever it
        lands, idle or inside a later command that does not expect `prefix` itself. Ends
        with the next "> " prompt: a modem gives the prompt only once it is done with the
        previous submit (TS 27.005 §3.5.1), so a `prefix` line after it is that command's."""
        self._late_prefix = prefix

    def stop_expecting_late_answer(self) -> None:
        self._late_prefix = None
        self._late_final_pending = False

    @property
    def expecting_late_answer(self) -> bool:
        return self._late_prefix is not None

    def end(self) -> None:
        """The command finished or was abandoned."""
        if self._command is not None:
            self._stale = True
        self._finish_command()
        if self._held_after_prompt:
            self._held_after_prompt = False
            self._drain_buffer()

    def _finish_command(self) -> None:
        self._command = None
        self._response_prefix = None
        self._expects_prompt = False
        self._echo_pending = False
        self._payload = None

    # -- bytes in, events out --------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the modem. Never raises."""
        if not data:
            return
        self._buf += bytes(data).translate(None, _CONTROL)
        self._drain_buffer()

    def next_event(self) -> Event | None:
        """The next event, or None when more bytes are needed."""
        return self._events.popleft() if self._events else None

    def _drain_buffer(self) -> None:
        if self._held_after_prompt and len(self._buf) > MAX_LINE_BYTES:
            self._held_after_prompt = False  # nobody sent a payload: do not grow without bound
        while self._buf and not self._held_after_prompt:
            if self._discarding:
                match = _TERMINATORS.search(self._buf)
                end = match.start() if match else len(self._buf)
                if end:
                    self._events.append(Noise(bytes(self._buf[:end])))
                del self._buf[: match.end() if match else end]
                self._discarding = match is None
                continue
            if self._buf[0] in b"\r\n\x1a":
                del self._buf[0]
                continue
            if self._expects_prompt and self._buf.startswith(b"> "):
                # TS 27.005 §3.5.1: "> " with no CR LF after it; it may be followed at once by
                # the echo of the PDU, so it must be cut off before line splitting.
                del self._buf[:2]
                self._prompted()
                continue
            match = _TERMINATORS.search(self._buf)
            if match is None:
                if len(self._buf) > MAX_LINE_BYTES:
                    self._events.append(Noise(bytes(self._buf)))
                    self._buf.clear()
                    self._discarding = True
                return
            raw = bytes(self._buf[: match.start()])
            del self._buf[: match.end()]
            if len(raw) > MAX_LINE_BYTES:
                self._events.append(Noise(raw))
                continue
            self._line(raw)

    def _line(self, raw: bytes) -> None:
        text = _decode(raw)
        if text is None:
            self._events.append(Noise(raw))
            return
        line = text.strip()
        if not line:
            return
        if self._pending_urc is not None:
            urc, self._pending_urc = self._pending_urc, None
            self._events.append(Urc(urc.name, urc.text, line))
            return
        if (self._late_prefix is not None or self._late_final_pending) and self._late_line(line):
            return
        if self._command is not None:
            self._line_in_command(line, raw)
        else:
            self._line_idle(line, raw)

    def _prompted(self) -> None:
        self._expects_prompt = False
        self._held_after_prompt = True
        # The modem is done with any earlier submit: its late answer can no longer come.
        self.stop_expecting_late_answer()
        self._events.append(Prompt())

    def _late_line(self, line: str) -> bool:
        """True when `line` belongs to the late answer of an abandoned command (and was
        turned into an event here). Inside a command, a `prefix` line is late unless the
        command expects it itself; a command still waiting for its prompt expects none
        (+CMGS=<n> answers "> " or an error, never information text)."""
        if self._late_final_pending:
            final = parse_final(line)
            if final is not None:
                self._late_final_pending = False
                self._events.append(Noise(line.encode()))
                return True
        prefix = self._late_prefix
        if prefix is None or not _has_prefix(line, prefix):
            return False
        if (self._command is not None and not self._expects_prompt
                and self._response_prefix is not None
                and _has_prefix(line, self._response_prefix)):
            return False  # the command in flight asked for this very answer
        self._late_prefix = None  # only the one abandoned command's answer is awaited
        self._late_final_pending = True
        self._events.append(LateAnswer(line))
        return True

    def _line_in_command(self, line: str, raw: bytes) -> None:
        assert self._command is not None
        if self._echo_pending and line.casefold() == self._command.casefold():
            self._echo_pending = False  # V.250 §6.2.4: echo of the command line (ATE1)
            return
        if self._expects_prompt and line == ">":
            self._prompted()  # a prompt some firmware ends with CR LF
            return
        if self._payload is not None and self._is_payload_echo(line):
            return
        final = parse_final(line)
        if final is not None:
            self._events.append(final)
            # The command is over as far as framing goes: what follows is unsolicited.
            self._finish_command()
            return
        name = self._urc_name(line)
        if name is not None and not (
            self._response_prefix and _has_prefix(line, self._response_prefix)
        ):
            self._emit_urc(name, line)
            return
        self._echo_pending = False
        self._events.append(ResponseLine(line))

    def _line_idle(self, line: str, raw: bytes) -> None:
        if parse_final(line) is not None:
            self._events.append(Noise(raw))  # a final result with no command is stray
            return
        name = self._urc_name(line)
        if name is None:
            if self._stale:
                self._events.append(Noise(raw))  # the late answer of an abandoned command
                return
            name = line.split(":", 1)[0].strip()
        self._emit_urc(name, line)

    def _is_payload_echo(self, line: str) -> bool:
        # The modem echoes the PDU, often after another "> " (TS 27.005 §3.5.1 lets each
        # text line be prompted); Ctrl-Z itself already ended the line.
        assert self._payload is not None
        echoed = line.lstrip("> ").strip().casefold()
        if echoed and (echoed == self._payload or self._payload.startswith(echoed)):
            if echoed == self._payload:
                self._payload = None
            return True
        return False

    def _urc_name(self, line: str) -> str | None:
        match = self._urc_regex.match(line) if self._urc_regex is not None else None
        return self._urc_canonical[match.group().upper()] if match else None

    def _emit_urc(self, name: str, line: str) -> None:
        if name in _TWO_LINE_ALWAYS or (name == "+CDS" and _CDS_PDU_HEADER.match(line)):
            self._pending_urc = Urc(name, line)
            return
        self._events.append(Urc(name, line))
