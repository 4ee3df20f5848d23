"""The console's commands as a table: name, usage, how many words they take, and whether
they need the running appliance.

Knows: the command words and their argument counts, and how to suggest the nearest command
for a typo. Must not know: what a command does (session.py) or how it is worded (messages).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    min_args: int = 0
    max_args: int = 0
    rest: bool = False
    """The last argument takes the rest of the line, spaces included (`send`, `at`)."""
    needs_appliance: bool = False
    """Only the running appliance can do it (the database file alone cannot)."""


COMMANDS: tuple[Command, ...] = (
    Command("status", "status"),
    Command("modems", "modems"),
    Command("sims", "sims"),
    Command("modem", "modem <n>", 1, 1, needs_appliance=True),
    Command("at", "at <n> <command>", 2, 2, rest=True, needs_appliance=True),
    Command("send", "send <number> <text>", 2, 2, rest=True, needs_appliance=True),
    Command("inbox", "inbox"),
    Command("net", "net"),
    Command("logs", "logs [-f]", 0, 1),
    Command("restart", "restart [<n>]", 0, 1),
    Command("passwd", "passwd <user>", 1, 1, needs_appliance=True),
    Command("backup", "backup"),
    Command("factory-reset", "factory-reset"),
    Command("lang", "lang zh|en", 1, 1),
    Command("help", "help [<command>]", 0, 1),
    Command("quit", "quit"),
)
BY_NAME = {c.name: c for c in COMMANDS}
ALIASES = {"exit": "quit", "logout": "quit", "?": "help"}


class UsageError(ValueError):
    """The words do not fit the command's usage."""


def lookup(word: str) -> Command | None:
    word = word.lower()
    return BY_NAME.get(ALIASES.get(word, word))


def nearest(word: str) -> str | None:
    """The command a typo most likely meant ('modmes' -> 'modems'), or None."""
    names = [c.name for c in COMMANDS] + list(ALIASES)
    found = difflib.get_close_matches(word.lower(), names, n=1, cutoff=0.5)
    if not found:
        prefixed = [n for n in names if n.startswith(word.lower()[:2])] if len(word) >= 2 else []
        return ALIASES.get(prefixed[0], prefixed[0]) if prefixed else None
    return ALIASES.get(found[0], found[0])


def split(line: str, command: Command) -> list[str]:
    """The arguments of `line` (the command word removed) as the command takes them."""
    parts = line.strip().split(None, 1)
    rest = parts[1] if len(parts) > 1 else ""
    if command.rest:
        args = rest.split(None, command.max_args - 1) if rest else []
    else:
        args = rest.split()
    if not command.min_args <= len(args) <= command.max_args:
        raise UsageError(command.usage)
    return args


__all__ = ["ALIASES", "BY_NAME", "COMMANDS", "Command", "UsageError", "lookup", "nearest",
           "split"]
