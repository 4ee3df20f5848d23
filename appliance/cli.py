"""The `cardgate` command line: a thin front door over the appliance.

Knows: argument parsing, and how each sub-command starts the parts it needs.
Must not know: AT commands, balancing, storage details.

Bad input ends with one line on stderr naming the problem and exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from appliance import cli_money
from appliance.cli_accounts import add_parsers as add_account_parsers
from appliance.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config

EXIT_USAGE = 2
T = TypeVar("T")


class CliError(Exception):
    """A problem with what the user asked for; printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        where = self.prog.removeprefix("cardgate").strip()
        raise CliError(f"{where}: {message}" if where else message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def _port_number(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cardgate", description="SMS gateway on a pool of GSM modems")
    sub = parser.add_subparsers(dest="command",
                                metavar="{run,demo,sim,apikey,user,department,audit,console,"
                                        "backup,restore,quota,balance,approval}",
                                required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the appliance")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)

    demo = sub.add_parser("demo", help="run the appliance on simulated modems")
    demo.add_argument("--modems", type=_positive_int, default=4)
    demo.add_argument("--port", type=_port_number, default=8080)
    demo.add_argument("--data", type=Path, default=Path("demo-data"),
                      help="folder for the demo's database and ports (default ./demo-data)")
    demo.add_argument("--latency", type=_seconds, default=0.5,
                      help="simulated +CMGS latency in seconds")

    sim = sub.add_parser("sim", help="standalone simulated modems on pseudo-terminals")
    sim.add_argument("--count", type=_positive_int, required=True)
    sim.add_argument("--dir", type=Path, required=True)
    sim.add_argument("--latency", type=_seconds, default=0.0)

    console = sub.add_parser("console", help="the technician console (serial line or stdin)")
    console.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    console.add_argument("--device", type=Path, default=None, metavar="TTY",
                         help="serial line to run on at 115200 baud (default: this terminal)")

    backup = sub.add_parser("backup", help="back up the database and the config as one file")
    backup.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    backup.add_argument("--output", type=Path, default=None, metavar="FILE",
                        help="the archive to write (default: backups/ beside the database)")
    restore = sub.add_parser("restore", help="restore a backup into a (fresh) data folder")
    restore.add_argument("file", type=Path)
    restore.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    restore.add_argument("--force", action="store_true",
                         help="replace an existing database (kept beside it, renamed); stop "
                              "the appliance first")

    apikey = sub.add_parser("apikey", help="manage API keys")
    apikey_sub = apikey.add_subparsers(dest="apikey_command",
                                       metavar="{create,list,limit,revoke}", required=True,
                                       parser_class=_Parser)
    create = apikey_sub.add_parser("create", help="create a key; printed alone on the last line")
    create.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    create.add_argument("--name", default="")
    create.add_argument("--scopes", default="send,read")
    create.add_argument("--user", default=None, metavar="NAME",
                        help="bind the key to a user: its sends count as theirs")
    create.add_argument("--department", default=None, metavar="NAME",
                        help="bind the key to a department: its sends count as the "
                             "department's")
    _limit_options(create)
    listing = apikey_sub.add_parser("list", help="every key: name, prefix, scopes, limits, use")
    listing.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    limit = apikey_sub.add_parser("limit", help="change a key's rate and/or networks")
    limit.add_argument("name")
    limit.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    _limit_options(limit)
    revoke = apikey_sub.add_parser("revoke", help="revoke a key (its callers get 401)")
    revoke.add_argument("name")
    revoke.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    cli_money.add_parsers(sub, _Parser)
    add_account_parsers(sub, _Parser)
    return parser


def _limit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate-per-minute", type=int, default=None, metavar="N",
                        help="requests per minute this key may make (0: no limit)")
    parser.add_argument("--allow-from", default=None, metavar="CIDR[,CIDR...]",
                        help='networks the key may be used from ("": anywhere)')


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _check_database(url: str) -> None:
    from appliance.store.service import DatabaseUnavailable, check_database

    try:
        check_database(url)
    except DatabaseUnavailable as exc:
        raise CliError(str(exc)) from None


def _serve(setting: str, listen: str, serve: Callable[[], T]) -> T:
    """Run the server; a listen address that cannot be bound is one line, not a traceback."""
    try:
        return serve()
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        raise CliError(f"{setting}: cannot listen on {listen}: {exc.strerror}") from None


def cmd_run(args: argparse.Namespace) -> int:
    from appliance.app import run_appliance

    config = _load(args.config)
    _setup_logging(config.log.level)
    _check_database(config.database.url)
    _serve("http.listen", config.http.listen,
           lambda: run_appliance(config, config_path=args.config))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from appliance.demo import run_demo
    from appliance.store.service import DatabaseUnavailable

    _setup_logging(os.environ.get("CARDGATE_LOG", "INFO"))
    try:
        try:
            (args.data / "ports").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CliError(f"--data: cannot use {args.data} as the demo's folder: "
                           f"{exc.strerror}") from None
        return _serve("--port", f"127.0.0.1:{args.port}", lambda: run_demo(
            modems=args.modems, port=args.port, data=args.data, latency=args.latency))
    except DatabaseUnavailable as exc:
        raise CliError(f"--data: {exc}") from None


def cmd_sim(args: argparse.Namespace) -> int:
    from appliance.sim.fleet import run_sim

    return run_sim(args.count, str(args.dir), args.latency)


def cmd_apikey_create(args: argparse.Namespace) -> int:
    from appliance.audit import Actor, append
    from appliance.store.apikeys import SCOPES, create_api_key
    from appliance.store.service import DatabaseUnavailable, run_in_database

    config = _load(args.config)
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise CliError(f"unknown scope {unknown[0]!r} (known: {', '.join(sorted(SCOPES))})")
    if not scopes:
        raise CliError("--scopes: at least one scope is needed")
    name = args.name or f"key-{os.urandom(3).hex()}"
    limits = _limits(args)

    def create() -> str:
        from appliance.store import accounts as accounts_store

        binding: dict[str, int | None] = {}
        if args.user:
            user = accounts_store.get_user_by_name(args.user)
            if user is None:
                raise ValueError(f'--user: no user named "{args.user}"')
            binding["user_id"] = user.id
        if args.department:
            binding["department_id"] = accounts_store.department_id_by_name(args.department)
        key = create_api_key(name, scopes, **limits, **binding)
        append(Actor.command_line(), "apikey.create", f"apikey:{name}",
               {"scopes": scopes, **{k: v for k, v in limits.items() if k != "allowed_from"},
                "allowed_from": list(limits.get("allowed_from", ())), **binding})
        return key

    try:
        key = run_in_database(config.database.url, create)
    except (ValueError, DatabaseUnavailable) as exc:
        raise CliError(str(exc)) from None
    bound = (f" for user {args.user!r}" if args.user else "") + (
        f" for department {args.department!r}" if args.department else "")
    print(f"created API key {name!r} with scopes {','.join(scopes)}{bound}; "
          f"it is shown only once:")
    print(key)
    return 0


def _limits(args: argparse.Namespace) -> dict[str, object]:
    """The limit options given (checked here, so a bad one is one line before any change)."""
    from appliance.store.apikeys import check_networks, check_rate

    limits: dict[str, object] = {}
    try:
        if args.rate_per_minute is not None:
            limits["rate_per_minute"] = check_rate(args.rate_per_minute)
        if args.allow_from is not None:
            limits["allowed_from"] = check_networks(args.allow_from)
    except ValueError as exc:
        option = "--allow-from" if "CIDR" in str(exc) else "--rate-per-minute"
        raise CliError(f"{option}: {exc}") from None
    return limits


def _describe_limits(rate: int | None, networks: list[str] | tuple[str, ...]) -> str:
    return (f"{rate or 'no limit of its own'}{' requests/minute' if rate else ''}, "
            f"from {', '.join(networks) if networks else 'anywhere'}")


def cmd_apikey_list(args: argparse.Namespace) -> int:
    from appliance.store.apikeys import list_api_keys
    from appliance.store.service import DatabaseUnavailable, run_in_database

    config = _load(args.config)
    try:
        keys = run_in_database(config.database.url, list_api_keys)
    except DatabaseUnavailable as exc:
        raise CliError(str(exc)) from None
    if not keys:
        print("no API keys (create one: cardgate apikey create --name NAME --scopes send,read)")
    for k in keys:
        used = k["last_used_at"].strftime("%Y-%m-%d %H:%M UTC") if k["last_used_at"] else "never"
        state = "REVOKED" if k["revoked"] else "active"
        print(f"{k['name']}\tcg_{k['prefix']}_…\t{','.join(k['scopes'])}\t{state}\t"
              f"{_describe_limits(k['rate_per_minute'], k['allowed_from'])}\tlast used {used}")
    return 0


def cmd_apikey_limit(args: argparse.Namespace) -> int:
    from appliance.store.apikeys import set_api_key_limits
    from appliance.store.service import DatabaseUnavailable, run_in_database

    config = _load(args.config)
    limits = _limits(args)
    if not limits:
        raise CliError("apikey limit: give --rate-per-minute and/or --allow-from")
    try:
        now = run_in_database(config.database.url, lambda: _audited(
            "apikey.limit", args.name, set_api_key_limits(args.name, **limits),
            {k: list(v) if isinstance(v, tuple) else v for k, v in limits.items()}))
    except (ValueError, DatabaseUnavailable) as exc:
        raise CliError(str(exc)) from None
    print(f"API key {args.name!r}: "
          f"{_describe_limits(now.rate_per_minute, now.allowed_from)} "
          f"(a running appliance applies it within seconds)")
    return 0


def _audited(action: str, name: str, outcome: T, detail: dict) -> T:
    """`outcome`, after an audit entry of the change (in the same transaction) if it was made."""
    from appliance.audit import Actor, append

    if outcome:
        append(Actor.command_line(), action, f"apikey:{name}", detail)
    return outcome


def cmd_apikey_revoke(args: argparse.Namespace) -> int:
    from appliance.store.apikeys import revoke_api_key
    from appliance.store.service import DatabaseUnavailable, run_in_database

    config = _load(args.config)
    try:
        found = run_in_database(config.database.url, lambda: _audited(
            "apikey.revoke", args.name, revoke_api_key(args.name), {}))
    except DatabaseUnavailable as exc:
        raise CliError(str(exc)) from None
    if not found:
        raise CliError(f'no API key named "{args.name}"')
    print(f"API key {args.name!r} revoked (a running appliance refuses it within seconds)")
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    from appliance.serial_console.session import ConsoleStartError, run_console

    config = _load(args.config)
    try:
        return run_console(config, config_path=args.config, device=args.device)
    except ConsoleStartError as exc:
        raise CliError(str(exc)) from None


def cmd_backup(args: argparse.Namespace) -> int:
    from appliance.backup import BackupError, backup_dir_for, create_backup, default_backup_path

    config = _load(args.config)
    try:
        folder = backup_dir_for(config.database.url)
        output = args.output or default_backup_path(folder or Path("."))
        manifest = create_backup(config.database.url, args.config, output)
    except BackupError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"--output: cannot write {exc.filename or ''}: {exc.strerror}") from None
    print(f"backup written: {output} (schema {manifest['schema_version']}, "
          f"{', '.join(manifest['members'])})")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from appliance.backup import BackupError, restore_backup

    url = None
    if args.config.exists():
        config = _load(args.config)
        url = config.database.url
        from appliance.serial_console.client import AdminClient

        if AdminClient(config.admin.socket).available():
            raise CliError(f"the appliance is running (it answers on {config.admin.socket}): "
                           "stop it before restoring")
    try:
        done = restore_backup(args.file, url, args.config, force=args.force)
    except BackupError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"restore: {exc.strerror}: {exc.filename or ''}") from None
    print(f"restored {args.file} (made {done['manifest']['created_at']}) into {done['database']}")
    if "replaced" in done:
        print(f"  the database that was there is kept as {done['replaced']}")
    if "config" in done:
        _load(Path(done["config"]))  # written as archived: say now if it does not load here
        print(f"  config written to {done['config']}")
    if "config_beside" in done:
        print(f"  {args.config} differs from the archived config, which is written beside it "
              f"as {done['config_beside']}: compare and merge by hand")
    return 0


def main(argv: list[str] | None = None) -> int:
    from appliance.memory import keep_large_buffers_out_of_the_heap, share_malloc_arenas

    keep_large_buffers_out_of_the_heap()  # scrypt's 16 MiB, returned after each check
    share_malloc_arenas()  # before any thread starts
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "sim":
            return cmd_sim(args)
        if args.command in ("console", "backup", "restore"):
            return {"console": cmd_console, "backup": cmd_backup,
                    "restore": cmd_restore}[args.command](args)
        if args.command == "apikey":
            commands = {"create": cmd_apikey_create, "list": cmd_apikey_list,
                        "limit": cmd_apikey_limit, "revoke": cmd_apikey_revoke}
            return commands[args.apikey_command](args)
        if args.command in ("quota", "balance", "approval"):
            return cli_money.run(args, _load, CliError)
        if args.command in ("user", "department", "audit"):
            from appliance import cli_accounts

            return {"user": cli_accounts.cmd_user, "department": cli_accounts.cmd_department,
                    "audit": cli_accounts.cmd_audit}[args.command](args)
        raise CliError(f"unknown command {args.command!r}")
    except CliError as exc:
        print(f"cardgate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
