"""The console's terminal: this process's own, or a serial line opened at 115200 baud.

Knows: opening a tty for the console (8N1 at 115200, no modem control, output post-processed
so "\n" is CR LF), writing lines, prompt_toolkit's input and output on that tty (CPR off: a
serial terminal may never answer the cursor-position request, and prompt_toolkit would wait),
a plain line reader for a dumb terminal, and reading Ctrl-C as a key while a follow runs
(ISIG off then: a serial line opened with --device is not this process's controlling
terminal, so no SIGINT would come).
Must not know: the commands.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import termios
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, TextIO

BAUD = termios.B115200
STOP_KEYS = (b"\x03", b"q", b"Q")


class Terminal:
    def __init__(self, stdin: TextIO, stdout: TextIO, *, name: str, term: str | None = None):
        self.stdin = stdin
        self.stdout = stdout
        self.name = name
        self.term = term  # None: the TERM of the environment (our own terminal)

    @classmethod
    def open_device(cls, path: Path) -> Terminal:
        """The serial line at `path`, set to 115200 8N1 raw-ish cooked mode like `stty sane`."""
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        attrs = termios.tcgetattr(fd)
        iflag, oflag, cflag, lflag, _, _, cc = attrs
        iflag = (iflag | termios.ICRNL) & ~(termios.IXON | termios.IXOFF | termios.INLCR)
        oflag = oflag | termios.OPOST | termios.ONLCR
        cflag = (cflag & ~(termios.CSIZE | termios.PARENB | termios.CSTOPB)) | termios.CS8 \
            | termios.CREAD | termios.CLOCAL
        lflag = lflag | termios.ICANON | termios.ECHO | termios.ISIG
        termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, BAUD, BAUD, cc])
        raw = io.FileIO(fd, "r+", closefd=True)
        stdin = io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8", errors="replace")
        out_raw = io.FileIO(os.dup(fd), "w", closefd=True)
        stdout = io.TextIOWrapper(io.BufferedWriter(out_raw), encoding="utf-8",
                                  errors="replace", line_buffering=True)
        return cls(stdin, stdout, name=str(path), term=os.environ.get("CARDGATE_TERM", "vt100"))

    def say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    @property
    def dumb(self) -> bool:
        """A terminal that cannot move its cursor (TERM=dumb or unknown or unset)."""
        term = self.term if self.term is not None else os.environ.get("TERM", "")
        return term.lower() in ("", "dumb", "unknown")

    def line_reader(self) -> LineReader:
        """prompt_toolkit's line editing and history on a VT100-like terminal; on a dumb one
        the tty's own line editing (erase, kill), as prompt_toolkit's dumb mode would echo
        each typed character of a password."""
        if self.dumb or not os.isatty(self.stdin.fileno()):  # a dumb terminal, or a pipe
            return PlainLineReader(self)
        os.environ.setdefault("PROMPT_TOOLKIT_NO_CPR", "1")
        from prompt_toolkit import PromptSession
        from prompt_toolkit.input import create_input
        from prompt_toolkit.output.vt100 import Vt100_Output

        return PromptSession(input=create_input(stdin=self.stdin),
                             output=Vt100_Output.from_pty(self.stdout, term=self.term
                                                          or os.environ.get("TERM")))

    @contextlib.contextmanager
    def keys(self) -> Iterator[StopKeys]:
        """While following: keys are read one by one, unechoed; Ctrl-C or q stops."""
        fd = self.stdin.fileno()
        if not os.isatty(fd):
            yield StopKeys(fd)
            return
        saved = termios.tcgetattr(fd)
        attrs = termios.tcgetattr(fd)
        attrs[3] &= ~(termios.ICANON | termios.ECHO | termios.ISIG)
        attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 0, 0
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        try:
            yield StopKeys(fd)
        finally:
            termios.tcsetattr(fd, termios.TCSANOW, saved)


class LineReader(Protocol):
    def prompt(self, message: str, *, is_password: bool = False) -> str:
        """One line typed after `message`; EOFError at the end of input, KeyboardInterrupt
        on Ctrl-C."""


class PlainLineReader:
    """Lines in the tty's cooked mode; a password read with echo off."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal

    def prompt(self, message: str, *, is_password: bool = False) -> str:
        out, stdin = self.terminal.stdout, self.terminal.stdin
        out.write(message)
        out.flush()
        fd = stdin.fileno()
        hide = is_password and os.isatty(fd)
        saved = termios.tcgetattr(fd) if hide else None
        if saved is not None:
            attrs = termios.tcgetattr(fd)
            attrs[3] &= ~termios.ECHO
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        try:
            line = stdin.readline()
        finally:
            if saved is not None:
                termios.tcsetattr(fd, termios.TCSANOW, saved)
                out.write("\n")
                out.flush()
        if not line:
            raise EOFError
        return line.rstrip("\r\n")


class StopKeys:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def pressed(self, timeout: float) -> bool:
        """True once the user pressed Ctrl-C or q (or the input ended) within `timeout`."""
        readable, _, _ = select.select([self.fd], [], [], timeout)
        if not readable:
            return False
        data = os.read(self.fd, 64)
        return not data or any(key in data for key in STOP_KEYS)


__all__ = ["LineReader", "PlainLineReader", "StopKeys", "Terminal"]
