"""The AT-command channel: one serial port, one command in flight, URCs delivered on the side.

Knows: asyncio and pyserial-asyncio-fast (the transport), writing commands ("\\r"-terminated,
V.250 §5.1) and PDUs (Ctrl-Z-terminated, TS 27.005 §3.5.1; ESC aborts), the caller's hook at
the open prompt, queuing callers by priority, timeouts and resynchronising after one, the late
answer of a command abandoned after its payload, pacing of command lines, unplug, and the
traffic log.
Must not know: SMS policy, PDUs' contents, modem vendors (their quirks reach it as data:
URC prefixes, pacing), or what a hung modem should lead to (its supervisor decides).
Framing is the I/O-free `AtParser`'s job; this module is the thin shell around it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import serial
import serial_asyncio_fast

from appliance.at.parser import (
    DEFAULT_URC_PREFIXES,
    FinalKind,
    FinalResult,
    LateAnswer,
    Noise,
    Prompt,
    ResponseLine,
    Urc,
)
from appliance.at.parser import AtParser as _AtParser
from appliance.at.traffic import FROM_MODEM, TO_MODEM, TrafficLog, redact

__all__ = [
    "AtChannel",
    "AtCommandFailed",
    "AtError",
    "AtResponse",
    "AtTimeout",
    "ChannelClosed",
    "PayloadCancelled",
    "open_channel",
]

log = logging.getLogger(__name__)

CTRL_Z = "\x1a"  # TS 27.005 §3.5.1: ends the PDU and sends it
ESC = "\x1b"  # TS 27.005 §3.5.1: cancels the send without sending
RESYNC_TRIES = 3
RESYNC_TIMEOUT = 1.0
_LOG_LINE_MAX = 4096
_RX_LINE_END = re.compile(rb"[\r\n]")


class AtError(Exception):
    """Base of every error the channel raises."""


class AtCommandFailed(AtError):
    """The modem answered ERROR, +CME ERROR or +CMS ERROR. `command` has its secrets masked
    (a refused AT+CPIN ends up in logs and in the modem's state reason)."""

    def __init__(self, command: str, final: FinalResult) -> None:
        command = redact(command)
        super().__init__(f"{command!r} failed: {final.text}")
        self.command = command
        self.final = final

    @property
    def cme_error(self) -> int | None:
        return self.final.code if self.final.kind is FinalKind.CME_ERROR else None

    @property
    def cms_error(self) -> int | None:
        return self.final.code if self.final.kind is FinalKind.CMS_ERROR else None


class AtTimeout(AtError):
    """No final result in time. payload_written=True: a PDU went out and no answer came, so
    the network may have taken it (the caller must treat the send as ambiguous). `command`
    has its secrets masked."""

    def __init__(
        self, command: str, *, payload_written: bool = False, waited_for: str = ""
    ) -> None:
        command = redact(command)
        what = waited_for or ("answer after the PDU" if payload_written else "final result")
        super().__init__(f"{command!r}: no {what} in time")
        self.command = command
        self.payload_written = payload_written


class PayloadCancelled(AtError):
    """The caller's `before_payload` hook raised at the "> " prompt: ESC was written instead
    of the payload, so nothing was sent. The hook's exception is the __cause__."""

    def __init__(self, command: str, cause: BaseException, *, modem_answered: bool) -> None:
        command = redact(command)
        super().__init__(f"{command!r}: payload withheld at the prompt ({cause!r})")
        self.command = command
        self.modem_answered = modem_answered  # False: the next command resynchronises first


class ChannelClosed(AtError):
    """The port vanished (unplug: EIO / SerialException) or close() was called.

    payload_written=True: the port went while a PDU had been handed to the port (or later),
    so it may have been sent; False: no PDU of the failed command can have left."""

    def __init__(self, reason: str, *, payload_written: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.payload_written = payload_written


@dataclass
class AtResponse:
    command: str
    lines: list[str]
    final: FinalResult

    @property
    def ok(self) -> bool:
        return self.final.kind is FinalKind.OK

    def values(self, prefix: str) -> list[str]:
        """The text after "<prefix>:" of each line with that prefix ("+CSQ" -> ["17,99"])."""
        out = []
        for line in self.lines:
            if line.upper().startswith(prefix.upper()):
                rest = line[len(prefix) :]
                if rest.startswith(":"):
                    out.append(rest[1:].strip())
                elif rest == "":
                    out.append("")
        return out


@dataclass
class _InFlight:
    command: str
    final: asyncio.Future[FinalResult]
    prompt: asyncio.Future[None]
    lines: list[str] = field(default_factory=list)
    payload_written: bool = False


@dataclass(order=True)
class _Waiter:
    sort_key: tuple[int, int]
    future: asyncio.Future[None] = field(compare=False)


class AtChannel(asyncio.Protocol):
    """An asyncio Protocol for one AT port. Use `open_channel()` to attach it to a serial port."""

    def __init__(
        self,
        *,
        name: str = "",
        on_urc: Callable[[Urc], None] | None = None,
        traffic: TrafficLog | None = None,
        urc_prefixes: Iterable[str] = DEFAULT_URC_PREFIXES,
        min_interval: float = 0.0,
        resync_tries: int = RESYNC_TRIES,
        resync_timeout: float = RESYNC_TIMEOUT,
    ) -> None:
        self.name = name
        self.resync_tries = resync_tries
        self.resync_timeout = resync_timeout
        self.on_urc = on_urc
        self.traffic = traffic
        self.min_interval = min_interval
        self.closed = False
        self.close_reason: str | None = None
        self._parser = _AtParser(urc_prefixes)
        self._transport: asyncio.Transport | None = None
        self._current: _InFlight | None = None
        self._busy = False
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._needs_resync = False
        self._last_command_at: float | None = None
        # The late answer still awaited from the last command abandoned after its payload
        # (one at a time: a newer one replaces it), and the loop time after which it is
        # no longer passed on.
        self._late_callback: Callable[[str], None] | None = None
        self._late_deadline = 0.0
        self._rx_partial = bytearray()
        self._closed_event = asyncio.Event()
        self._connected = asyncio.Event()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._connected.set()

    def data_received(self, data: bytes) -> None:
        self._log_rx(data)
        self._parser.receive_data(data)
        while (event := self._parser.next_event()) is not None:
            current = self._current
            if isinstance(event, Urc):
                self._deliver_urc(event)
            elif isinstance(event, LateAnswer):
                self._deliver_late_answer(event.text)
            elif isinstance(event, Noise):
                log.debug("%s: noise %r", self.name, event.data[:80])
            elif current is None:
                log.debug("%s: %r with no command in flight", self.name, event)
            elif isinstance(event, ResponseLine):
                current.lines.append(event.text)
            elif isinstance(event, Prompt):
                self._late_callback = None  # the parser stopped expecting it too
                if not current.prompt.done():
                    current.prompt.set_result(None)
            elif isinstance(event, FinalResult) and not current.final.done():
                current.final.set_result(event)
                if not current.prompt.done():
                    current.prompt.set_result(None)  # no prompt will come: stop waiting

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"port lost: {exc}" if exc is not None else "port closed"
        self._mark_closed(reason)
        self._closed_event.set()

    # -- public API ------------------------------------------------------------------------

    async def command(
        self,
        command: str,
        *,
        timeout: float = 5.0,
        response_prefix: str | None = None,
        payload: str | None = None,
        prompt_timeout: float = 5.0,
        priority: int = 0,
        check: bool = True,
        resync_tries: int | None = None,
        resync_timeout: float | None = None,
        before_payload: Callable[[], Awaitable[None]] | None = None,
        on_late_answer: Callable[[str], None] | None = None,
        late_answer_window: float = 300.0,
    ) -> AtResponse:
        """Send `command` (and `payload` after the "> " prompt); return its response.

        `before_payload` is awaited while the prompt is open, before a byte of the payload is
        written; if it raises, ESC leaves the prompt (TS 27.005 §3.5.1) and PayloadCancelled
        is raised with the hook's exception as its cause: nothing was sent.
        `on_late_answer`: when the answer times out after the payload was written, a
        `response_prefix` line that still comes later (before the next prompt, and within
        `late_answer_window` seconds) is passed to it instead of being dropped as stale, and
        is never taken for a later command's answer.

        `prompt_timeout` bounds the wait for "> "; `timeout` the wait for the final result
        after the command (after the PDU when there is a payload). `response_prefix` names
        information lines that would otherwise look like URCs ("+CREG" for AT+CREG?; inferred
        for read/test commands). Raises AtCommandFailed (ERROR/+CME/+CMS, when check),
        AtTimeout, ChannelClosed. Higher `priority` overtakes queued callers; equal priorities
        go first come, first served.

        If an earlier command was abandoned, bare "AT" probes resynchronise first: the
        channel's `resync_tries` x `resync_timeout` unless this call says otherwise. A caller
        that knows the modem is silent (a reset of a hung modem) asks for fewer or shorter
        probes; `resync_tries=0` skips them (for a command that is itself a bare "AT" probe).
        """
        self._raise_if_closed()
        await self._acquire(priority)
        try:
            if self._needs_resync:
                await self._resync(
                    self.resync_tries if resync_tries is None else resync_tries,
                    self.resync_timeout if resync_timeout is None else resync_timeout,
                )
            await self._pace()
            response = await self._exchange(
                command,
                timeout=timeout,
                response_prefix=response_prefix,
                payload=payload,
                prompt_timeout=prompt_timeout,
                before_payload=before_payload,
            )
        except AtTimeout as exc:
            if exc.payload_written and on_late_answer is not None and response_prefix:
                self._await_late_answer(response_prefix, on_late_answer, late_answer_window)
            raise
        finally:
            self._release()
        if check and response.final.is_error:
            raise AtCommandFailed(command, response.final)
        return response

    @property
    def waiting(self) -> int:
        """How many callers are queued behind the command in flight."""
        return sum(1 for waiter in self._waiters if not waiter.future.done())

    async def close(self) -> None:
        """Close the port; pending and later commands raise ChannelClosed."""
        self._mark_closed("closed by caller")
        if self._transport is None:
            self._closed_event.set()
        elif not self._transport.is_closing():
            self._transport.close()  # connection_lost() follows and sets wait_closed()

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    # -- one exchange ----------------------------------------------------------------------

    async def _exchange(
        self,
        command: str,
        *,
        timeout: float,
        response_prefix: str | None,
        payload: str | None,
        prompt_timeout: float,
        before_payload: Callable[[], Awaitable[None]] | None = None,
    ) -> AtResponse:
        loop = asyncio.get_running_loop()
        current = _InFlight(command, loop.create_future(), loop.create_future())
        # Listener first, then the write (zigpy-znp): a fast modem cannot answer into a void.
        self._current = current
        self._parser.begin(
            command, response_prefix=response_prefix, expects_prompt=payload is not None
        )
        finished = False
        try:
            self._write(command + "\r")
            self._last_command_at = loop.time()
            if payload is not None:
                # A final result before the prompt completes the prompt future too.
                prompted = await _within(current.prompt, prompt_timeout)
                if not current.final.done():
                    if not prompted:
                        # TS 27.005 §3.5.1: ESC leaves the prompt without sending anything.
                        self._write(ESC)
                        self._needs_resync = True
                        raise AtTimeout(command, waited_for="'> ' prompt")
                    if before_payload is not None:
                        try:
                            await self._run_before_payload(
                                command, current, before_payload, prompt_timeout
                            )
                        except PayloadCancelled as exc:
                            finished = exc.modem_answered  # ESC answered: command state
                            raise
                    # No pacing here: command_interval separates command exchanges; the
                    # PDU answers the prompt and goes out at once.
                    if not current.final.done():  # the modem may have ended the prompt itself
                        self._parser.payload_sent(payload)
                        # From here on a lost port means "maybe sent": the bytes may be out.
                        current.payload_written = True
                        self._write(payload + CTRL_Z)
            if not await _within(current.final, timeout):
                self._needs_resync = True
                raise AtTimeout(command, payload_written=current.payload_written)
            finished = True
            return AtResponse(command, list(current.lines), current.final.result())
        finally:
            if not finished and not self.closed:
                # Abandoned (timeout, cancellation): the modem's state is unknown.
                self._needs_resync = True
            self._current = None
            self._parser.end()
            for fut in (current.final, current.prompt):
                if fut.done() and not fut.cancelled():
                    fut.exception()  # mark retrieved: no "never retrieved" warning
                elif not fut.done():
                    fut.cancel()

    async def _run_before_payload(
        self,
        command: str,
        current: _InFlight,
        before_payload: Callable[[], Awaitable[None]],
        wait: float,
    ) -> None:
        """Await the caller's hook at the open prompt; on failure leave the prompt with ESC
        and wait (at most `wait`) for the modem's answer to it, so the modem is known to be
        back in command state; without that answer the next command resynchronises."""
        try:
            await before_payload()
        except BaseException as exc:
            if not self.closed:
                # TS 27.005 §3.5.1: ESC leaves the prompt without sending anything.
                self._write(ESC)
                self._parser.payload_cancelled()
            if not isinstance(exc, Exception):
                raise  # cancelled: the finally of _exchange marks the channel for resync
            answered = False
            if not self.closed:
                # Most firmware answers ESC with OK (the sticks the simulator mimics); some
                # say nothing, and then the resync probes tell.
                done, _ = await asyncio.wait((current.final,), timeout=min(wait, 2.0))
                answered = bool(done) and current.final.exception() is None
            self._raise_if_closed()
            raise PayloadCancelled(command, exc, modem_answered=answered) from exc

    async def probe(self, *, timeout: float = 2.0, priority: int = 0) -> bool:
        """One bare "AT", with no resync probes before it: True when the modem answered
        anything at all. An answer other than a clean OK (a stale line, an error) leaves the
        channel to resynchronise before the next command. Raises ChannelClosed."""
        try:
            response = await self.command(
                "AT", timeout=timeout, prompt_timeout=timeout, priority=priority, check=False,
                resync_tries=0,
            )
        except AtTimeout:
            return False  # abandoned: the channel already resynchronises next time
        if response.lines or response.final.kind is not FinalKind.OK:
            self._needs_resync = True
        return True

    def _await_late_answer(
        self, prefix: str, callback: Callable[[str], None], window: float
    ) -> None:
        self._late_callback = callback
        self._late_deadline = asyncio.get_running_loop().time() + window
        self._parser.expect_late_answer(prefix)

    def _deliver_late_answer(self, text: str) -> None:
        callback, self._late_callback = self._late_callback, None
        if callback is None:
            log.debug("%s: late answer %r with nobody waiting", self.name, text)
            return
        if asyncio.get_running_loop().time() > self._late_deadline:
            log.info("%s: late answer %r came after its window; dropped", self.name, text)
            return
        try:
            callback(text)
        except Exception:  # a broken listener must not stop the reader
            log.exception("%s: late-answer listener failed on %r", self.name, text)

    async def _resync(self, tries: int, timeout: float) -> None:
        """After a timeout: probe with bare "AT" until a clean OK, discarding stale lines.
        With tries=0 nothing is sent; the parser still drops a late answer that arrives
        before the next command is written (it is stale: not a URC, not ours)."""
        self._needs_resync = False
        for attempt in range(1, tries + 1):
            try:
                probe = await self._exchange(
                    "AT",
                    timeout=timeout,
                    response_prefix=None,
                    payload=None,
                    prompt_timeout=timeout,
                )
            except AtTimeout:
                log.info("%s: resync probe %d/%d unanswered", self.name, attempt, tries)
                continue
            # A bare AT has no information text: lines or an error mean the OK may belong
            # to the abandoned command's late answer, so probe again.
            if probe.final.kind is FinalKind.OK and not probe.lines:
                self._needs_resync = False
                return
        self._needs_resync = False  # the next command proceeds; its caller judges the modem
        if tries:
            log.warning("%s: no resync after %d probes", self.name, tries)

    def pace_delay(self, now: float) -> float:
        """Seconds a command line written at loop time `now` must still wait: the profile's
        command_interval between two command lines written (Kannel's sendline-sleep), so
        commands never follow each other too closely for the modem's UART buffer (SIM800).
        An exchange that took longer than the interval (a +CMGS waiting on the network) has
        paid it already; the PDU after a prompt is never paced (the prompt asks for it)."""
        if self.min_interval <= 0 or self._last_command_at is None:
            return 0.0
        return max(0.0, self._last_command_at + self.min_interval - now)

    async def _pace(self) -> None:
        delay = self.pace_delay(asyncio.get_running_loop().time())
        if delay > 0:
            await asyncio.sleep(delay)

    # -- queue: one command in flight, priority then FIFO ----------------------------------

    async def _acquire(self, priority: int) -> None:
        if not self._busy and not self._waiters:
            self._busy = True
            return
        waiter = _Waiter((-priority, next(self._seq)), asyncio.get_running_loop().create_future())
        heapq.heappush(self._waiters, waiter)
        try:
            await waiter.future
        except BaseException:
            if waiter.future.done() and not waiter.future.cancelled():
                if waiter.future.exception() is None:
                    self._release()  # the slot was handed to us as we were cancelled
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
                heapq.heapify(self._waiters)
            raise
        if self.closed:
            self._release()
            self._raise_if_closed()

    def _release(self) -> None:
        while self._waiters:
            waiter = heapq.heappop(self._waiters)
            if not waiter.future.done():
                waiter.future.set_result(None)  # the slot passes on; _busy stays True
                return
        self._busy = False

    def cancel_pending_input(self) -> None:
        """Write ESC: a modem left at the SMS prompt ("> ", by a crash or an unplug between
        AT+CMGS=<n> and the PDU) takes every byte as PDU text, "AT" included, until ESC
        cancels the send (TS 27.005 §3.5.1). In command state ESC is ignored (V.250 §5.2.1
        treats anything before "AT" as noise), so it is safe before probing any modem."""
        self._write(ESC)

    # -- I/O helpers -----------------------------------------------------------------------

    def _write(self, text: str) -> None:
        self._raise_if_closed()
        transport = self._transport
        if transport is None or transport.is_closing():
            raise ChannelClosed("port not open")
        if self.traffic is not None:
            self.traffic.record(TO_MODEM, text.rstrip("\r"))
        transport.write(text.encode("latin-1", errors="replace"))

    def _deliver_urc(self, urc: Urc) -> None:
        if self.on_urc is None:
            return
        try:
            self.on_urc(urc)
        except Exception:  # a broken listener must not stop the reader
            log.exception("%s: URC listener failed on %r", self.name, urc)

    def _log_rx(self, data: bytes) -> None:
        if self.traffic is None:
            return
        self._rx_partial += data
        if b"\r" in data or b"\n" in data:
            *lines, tail = _RX_LINE_END.split(self._rx_partial)
            for line in lines:
                if line:
                    self._record_rx(bytes(line))
            self._rx_partial = bytearray(tail)
        if self._rx_partial.startswith(b"> "):
            # The SMS prompt has no terminator (TS 27.005 §3.5.1): log it as its own line.
            self.traffic.record(FROM_MODEM, "> ")
            del self._rx_partial[:2]
        if len(self._rx_partial) > _LOG_LINE_MAX:
            self._record_rx(bytes(self._rx_partial))
            self._rx_partial.clear()

    def _record_rx(self, line: bytes) -> None:
        assert self.traffic is not None
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            text = line.decode("latin-1")
        self.traffic.record(FROM_MODEM, text)

    # -- closing ---------------------------------------------------------------------------

    def _raise_if_closed(self) -> None:
        if self.closed:
            raise ChannelClosed(self.close_reason or "closed")

    def _mark_closed(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        if self._rx_partial and self.traffic is not None:
            self._record_rx(bytes(self._rx_partial))
            self._rx_partial.clear()
        error = ChannelClosed(reason)
        current = self._current
        if current is not None:
            in_flight = ChannelClosed(reason, payload_written=current.payload_written)
            for fut in (current.final, current.prompt):
                if not fut.done():
                    fut.set_exception(in_flight)
        while self._waiters:
            waiter = heapq.heappop(self._waiters)
            if not waiter.future.done():
                waiter.future.set_exception(error)
        log.info("%s: channel closed (%s)", self.name, reason)


class _Expired(Exception):
    """Set on an exchange's future by its timer: the wait for it ran out."""


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(_Expired())


async def _within(future: asyncio.Future[Any], timeout: float) -> bool:
    """Wait at most `timeout` seconds for `future`: True once it is done (its exception, such
    as ChannelClosed, raised here), False when the time ran out. One timer handle, where
    wait_for(shield(...)) costs two extra futures and a task's worth of callbacks per wait
    (this runs twice for every part sent)."""
    if not future.done():
        timer = future.get_loop().call_later(timeout, _expire, future)
        try:
            await future
        except _Expired:
            return False
        finally:
            timer.cancel()
        return True
    if isinstance(future.exception(), _Expired):
        return False
    future.result()
    return True


async def open_channel(port: str, baudrate: int = 115200, **channel_kwargs: Any) -> AtChannel:
    """Open `port` and return its channel; raises ChannelClosed if the port cannot be opened."""
    channel_kwargs.setdefault("name", port)
    channel = AtChannel(**channel_kwargs)
    loop = asyncio.get_running_loop()
    try:
        await serial_asyncio_fast.create_serial_connection(
            loop, lambda: channel, port, baudrate=baudrate
        )
    except (serial.SerialException, OSError, ValueError) as exc:
        raise ChannelClosed(f"cannot open {port}: {exc}") from exc
    # pyserial-asyncio-fast schedules connection_made() with call_soon(): wait for it so the
    # first command can be written at once (or the port's loss is already known).
    connected = asyncio.ensure_future(channel._connected.wait())
    closed = asyncio.ensure_future(channel._closed_event.wait())
    await asyncio.wait((connected, closed), return_when=asyncio.FIRST_COMPLETED)
    for waiter in (connected, closed):
        waiter.cancel()
    channel._raise_if_closed()
    return channel
