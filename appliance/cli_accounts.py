"""`cardgate user ...`, `cardgate department ...`, `cardgate audit ...`: accounts and the audit
log from the box's shell.

Knows: these sub-commands' arguments, reading a password from standard input (a second line,
if given, must repeat it), and printing users, departments and the audit check.
Must not know: SQL (store.accounts, store.audit), password rules (accounts.passwords).

Every change is written with its audit entry in one transaction; the actor is the OS account
that ran the command. Bad input: one line on stderr, exit 2 (`CliError`); `audit verify` exits
1 when the chain is broken, naming the first bad entry.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from appliance.config import DEFAULT_CONFIG_PATH

T = TypeVar("T")


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    user = sub.add_parser("user", help="console users (web and serial)")
    user_sub = user.add_subparsers(dest="user_command", required=True, parser_class=parser_class,
                                   metavar="{add,list,passwd,disable,enable,role}")
    add = user_sub.add_parser("add", help="add a user; the password is read from stdin")
    add.add_argument("name")
    add.add_argument("--role", required=True)
    add.add_argument("--department", default=None, metavar="NAME")
    add.add_argument("--display-name", default="")
    for name, what in (("list", "every user"), ("passwd", "set a user's password (stdin)"),
                       ("disable", "disable a user (sessions end, bound keys stop)"),
                       ("enable", "enable a user again")):
        command = user_sub.add_parser(name, help=what)
        if name != "list":
            command.add_argument("name")
    role = user_sub.add_parser("role", help="change a user's role")
    role.add_argument("name")
    role.add_argument("role")

    department = sub.add_parser("department", help="departments")
    dep_sub = department.add_subparsers(dest="department_command", required=True,
                                        parser_class=parser_class, metavar="{add,list}")
    dep_add = dep_sub.add_parser("add", help="add a department")
    dep_add.add_argument("name")
    dep_add.add_argument("--short", default="", metavar="简称",
                         help="its short name (the signature 【简称】)")
    dep_sub.add_parser("list", help="every department")

    audit = sub.add_parser("audit", help="the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True,
                                     parser_class=parser_class, metavar="{verify,export}")
    audit_sub.add_parser("verify", help="check the hash chain (exit 1 naming the first bad "
                                        "entry)")
    export = audit_sub.add_parser("export", help="the log on stdout, oldest first")
    export.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    export.add_argument("--since", default=None, metavar="ISO-TIME")

    for parent in (user_sub, dep_sub, audit_sub):
        for command in parent.choices.values():
            command.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)


def _run(args: argparse.Namespace, fn: Callable[[], T]) -> T:
    from appliance.cli import CliError, _load
    from appliance.store.accounts import AccountError
    from appliance.store.service import DatabaseUnavailable, run_in_database

    config = _load(args.config)
    try:
        return run_in_database(config.database.url, fn)
    except AccountError as exc:
        raise CliError(str(exc)) from None
    except (ValueError, DatabaseUnavailable) as exc:
        raise CliError(str(exc)) from None


def read_password(stdin=None) -> str:
    """The password from standard input: one line, or two equal lines (a script's
    `printf 'pw\\npw\\n' | cardgate user add ...`); on a terminal, asked for twice."""
    from appliance.cli import CliError

    stdin = stdin or sys.stdin
    if stdin.isatty():
        first = getpass.getpass("password: ")
        second = getpass.getpass("again: ")
    else:
        lines = stdin.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        lines = [line.removesuffix("\r") for line in lines]
        if not lines or not lines[0]:
            raise CliError("no password on standard input (give it on the first line)")
        if len(lines) > 2:
            raise CliError("standard input: expected the password on one line, or on two "
                           "equal lines")
        first, second = lines[0], lines[-1]
    if first != second:
        raise CliError("the two passwords differ")
    return first


def _password_hash(args: argparse.Namespace, name: str) -> str:
    from appliance.accounts.manage import prepare_password
    from appliance.accounts.passwords import PasswordRefused
    from appliance.cli import CliError, _load

    config = _load(args.config)
    password = read_password()
    try:
        return prepare_password(name, password, config.accounts.min_password_length)
    except PasswordRefused as exc:
        raise CliError(str(exc)) from None


def cmd_user(args: argparse.Namespace) -> int:
    from appliance.accounts import manage
    from appliance.accounts.roles import ROLES
    from appliance.audit import Actor
    from appliance.cli import CliError
    from appliance.store import accounts as accounts_store

    actor = Actor.command_line()
    command = args.user_command
    if command == "list":
        users = _run(args, accounts_store.list_users)
        if not users:
            print("no users (add one: cardgate user add NAME --role admin)")
        for u in users:
            state = "disabled" if u.disabled else (
                "must change password" if u.must_change_password else "active")
            login = u.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if u.last_login_at else "never"
            print(f"{u.name}\t{u.role}\t{u.department_name or '-'}\t{state}\t"
                  f"last login {login}")
        return 0
    if command == "add":
        if args.role not in ROLES:
            raise CliError(f"--role: unknown role {args.role!r} (one of {', '.join(ROLES)})")
        manage.check_user_name(args.name)
        hashed = _password_hash(args, args.name)

        def add() -> Any:
            department = (accounts_store.department_id_by_name(args.department)
                          if args.department else None)
            return manage.add_user(actor, args.name, args.role, hashed,
                                   department_id=department, display_name=args.display_name)

        user = _run(args, add)
        print(f"user {user.name!r} added as {user.role}"
              f"{' in ' + user.department_name if user.department_name else ''}; "
              f"they must change the password at their first login")
        return 0
    if command == "passwd":
        hashed = _password_hash(args, args.name)
        _run(args, lambda: manage.reset_password(actor, _user_id(args.name), hashed))
        print(f"password of {args.name!r} set; they must change it at their next login "
              f"(their sessions ended)")
        return 0
    if command in ("disable", "enable"):
        _run(args, lambda: manage.change_user(actor, _user_id(args.name),
                                              {"disabled": command == "disable"}))
        print(f"user {args.name!r} {command}d")
        return 0
    if command == "role":
        if args.role not in ROLES:
            raise CliError(f"unknown role {args.role!r} (one of {', '.join(ROLES)})")
        _run(args, lambda: manage.change_user(actor, _user_id(args.name), {"role": args.role}))
        print(f"user {args.name!r} is now {args.role}")
        return 0
    raise CliError(f"unknown user command {command!r}")


def _user_id(name: str) -> int:
    from appliance.store import accounts as accounts_store
    from appliance.store.accounts import AccountError

    user = accounts_store.get_user_by_name(name)
    if user is None:
        raise AccountError(f'no user named "{name}"', "name")
    return user.id


def cmd_department(args: argparse.Namespace) -> int:
    from appliance.accounts import manage
    from appliance.audit import Actor
    from appliance.store import accounts as accounts_store

    if args.department_command == "add":
        department = _run(args, lambda: manage.add_department(Actor.command_line(), args.name,
                                                              args.short))
        print(f"department {department['name']!r} added (id {department['id']})")
        return 0
    departments = _run(args, accounts_store.list_departments)
    if not departments:
        print("no departments (add one: cardgate department add NAME --short 简称)")
    for d in departments:
        print(f"{d['id']}\t{d['name']}\t{d['short_name'] or '-'}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from appliance.audit.export import chunks
    from appliance.cli import CliError
    from appliance.store import audit as audit_store

    if args.audit_command == "verify":
        check = _run(args, audit_store.verify_chain)
        if check.ok:
            print(f"audit log intact: {check.entries} entries; last hash {check.last_hash}")
            return 0
        print(f"audit log BROKEN at entry {check.bad_seq}: {check.reason} "
              f"({check.entries} entries before it verified)", file=sys.stderr)
        return 1
    since = None
    if args.since:
        from datetime import UTC, datetime

        try:
            since = datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        except ValueError:
            raise CliError(f"--since: not an ISO 8601 time: {args.since!r}") from None
        since = since if since.tzinfo else since.replace(tzinfo=UTC)

    def export() -> None:
        batches = _batches(since)
        for chunk in chunks(args.format, batches):
            sys.stdout.write(chunk)

    _run(args, export)
    sys.stdout.flush()
    return 0


def _batches(since):
    from appliance.store import audit as audit_store

    seq = 0
    while True:
        rows = audit_store.entries_after(seq, since_time=since, limit=1000)
        if not rows:
            return
        yield rows
        seq = rows[-1]["seq"]
