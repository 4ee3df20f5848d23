"""`cardgate quota ...`, `cardgate balance ...`, `cardgate approval ...`: quotas, prepaid
balances and departments' approval rules from the command line (a thin door over
store.ledger and store.approvals, on the configured database).

Knows: these sub-commands' arguments and output.
Must not know: SQL, how the rules are applied (policy.quota, policy.approval).

Accounts are named by id (`--user-id N`, `--department-id N`): users and departments live in
the accounts tables, and their names are resolved there.
"""

from __future__ import annotations

import argparse
import getpass
import zoneinfo
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.config import CATEGORIES, DEFAULT_CONFIG_PATH, Config

MONTHLY_HELP = "monthly limit in message parts (0: nothing may be sent)"


def _positive_id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**63:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return int(text)


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def _account_options(parser: argparse.ArgumentParser) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user-id", type=_positive_id, metavar="ID")
    who.add_argument("--department-id", type=_positive_id, metavar="ID")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """The quota, balance and approval sub-commands, on `cardgate`'s sub-parsers."""
    quota = sub.add_parser("quota", help="monthly limits per user and department (in parts)")
    quota_sub = quota.add_subparsers(dest="quota_command", metavar="{set,show}", required=True,
                                     parser_class=parser_class)
    qset = quota_sub.add_parser("set", help="set an account's monthly limit")
    _account_options(qset)
    limit = qset.add_mutually_exclusive_group(required=True)
    limit.add_argument("--monthly", type=_whole, metavar="N", help=MONTHLY_HELP)
    limit.add_argument("--no-limit", action="store_true", help="no monthly limit")
    qshow = quota_sub.add_parser("show", help="every account: limit, use, reserved, balance")
    qshow.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)

    balance = sub.add_parser("balance", help="prepaid balances (a ledger, in parts)")
    balance_sub = balance.add_subparsers(dest="balance_command", metavar="{topup,adjust,show}",
                                         required=True, parser_class=parser_class)
    topup = balance_sub.add_parser("topup", help="add parts (the account becomes prepaid)")
    _account_options(topup)
    topup.add_argument("--parts", type=_whole, required=True, metavar="N")
    topup.add_argument("--note", default="")
    adjust = balance_sub.add_parser("adjust", help="correct a balance (+N or -N), with a note")
    _account_options(adjust)
    adjust.add_argument("--parts", type=_whole, required=True, metavar="N")
    adjust.add_argument("--note", required=True)
    bshow = balance_sub.add_parser("show", help="an account's standing and latest rows")
    _account_options(bshow)
    bshow.add_argument("--entries", type=_whole, default=10, metavar="N")

    approval = sub.add_parser("approval", help="departments' approval rules")
    approval_sub = approval.add_subparsers(dest="approval_command", metavar="{rule,rules}",
                                           required=True, parser_class=parser_class)
    rule = approval_sub.add_parser("rule", help="set (or --clear) a department's own rule")
    rule.add_argument("--department-id", type=_positive_id, required=True, metavar="ID")
    rule.add_argument("--mode", choices=("none", "all", "above", "category"))
    rule.add_argument("--above", type=_whole, default=0, metavar="N",
                      help="mode above: more recipients than this need approval")
    rule.add_argument("--categories", default="",
                      help=f"mode category: comma-separated ({', '.join(CATEGORIES)})")
    rule.add_argument("--clear", action="store_true", help="the box default applies again")
    rule.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    rules = approval_sub.add_parser("rules", help="the box default and every department's rule")
    rules.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)


def _account(args: argparse.Namespace) -> str:
    from appliance.store.ledger import account_name

    if args.user_id is not None:
        return account_name("user", args.user_id)
    return account_name("department", args.department_id)


def _month(config: Config) -> tuple[datetime, datetime]:
    from appliance.policy.quota import month_bounds

    return month_bounds(datetime.now(UTC), zoneinfo.ZoneInfo(config.dispatch.timezone))


def _describe(fig: Any) -> str:
    limit = "no monthly limit" if fig.monthly_limit is None else \
        f"{fig.monthly_limit} parts a month"
    left = fig.left()
    return (f"{fig.account}\t{limit}\t{'prepaid' if fig.prepaid else 'not prepaid'}\t"
            f"used this month {fig.used}\treserved {fig.reserved}\tbalance {fig.balance}\t"
            f"left {'unbounded' if left is None else left}")


def run(args: argparse.Namespace, load: Any, fail: type[Exception]) -> int:
    """Run the sub-command; `load(path)` reads the config, `fail(message)` is raised for a
    problem (printed as one line, exit 2)."""
    from appliance.store import approvals, ledger
    from appliance.store.service import DatabaseUnavailable, run_in_database

    config: Config = load(args.config)
    url = config.database.url
    try:
        if args.command == "quota" and args.quota_command == "set":
            account = _account(args)
            monthly = None if args.no_limit else args.monthly
            start, end = _month(config)
            fig = run_in_database(url, lambda: (ledger.set_quota(account, monthly, None),
                                                ledger.figures(account, start, end))[1])
            print(_describe(fig))
        elif args.command == "quota":
            start, end = _month(config)
            rows = run_in_database(url, lambda: ledger.list_figures(start, end))
            if not rows:
                print("no quotas (set one: cardgate quota set --department-id ID --monthly N)")
            for fig in rows:
                print(_describe(fig))
        elif args.command == "balance" and args.balance_command in ("topup", "adjust"):
            account, kind = _account(args), args.balance_command
            actor = f"cli ({getpass.getuser()})"
            row = run_in_database(url, lambda: ledger.append(
                account, args.parts, kind, actor, note=args.note))
            total = run_in_database(url, lambda: ledger.balance(account))
            print(f"{account}: {kind} {row['delta']:+d} parts; balance {total}")
        elif args.command == "balance":
            account = _account(args)
            start, end = _month(config)
            fig, rows = run_in_database(url, lambda: (
                ledger.figures(account, start, end),
                ledger.entries(account, limit=max(0, args.entries))))
            print(_describe(fig))
            for r in rows:
                print(f"  {r['at']:%Y-%m-%d %H:%M} UTC\t{r['kind']}\t{r['delta']:+d}\t"
                      f"message {r['message_id'] or '-'}\t{r['by']}\t{r['note']}")
        elif args.approval_command == "rule":
            _approval_rule(args, url, fail)
        else:
            a = config.approval
            default = approvals.Rule(a.mode, a.above, tuple(a.categories))
            print(f"default\t{_rule_text(default.as_dict())}")
            for r in run_in_database(url, approvals.list_rules):
                print(f"department {r['department_id']}\t{_rule_text(r)}")
    except (ledger.LedgerInvalid, approvals.ApprovalProblem) as exc:
        raise fail(_option_named(str(exc))) from None
    except DatabaseUnavailable as exc:
        raise fail(str(exc)) from None
    return 0


def _option_named(message: str) -> str:
    """The store names fields as the API does ("monthly: ..."): name the option instead."""
    field, sep, rest = message.partition(": ")
    return f"--{field.replace('_', '-')}: {rest}" if sep and field.isidentifier() else message


def _rule_text(rule: dict[str, Any]) -> str:
    if rule["mode"] == "above":
        return f"above {rule['above']} recipients"
    if rule["mode"] == "category":
        return f"categories {', '.join(rule['categories'])}"
    return rule["mode"]


def _approval_rule(args: argparse.Namespace, url: str, fail: type[Exception]) -> None:
    from appliance.store import approvals
    from appliance.store.service import run_in_database

    department = args.department_id
    if args.clear:
        if args.mode is not None:
            raise fail("approval rule: give --mode or --clear, not both")
        found = run_in_database(url, lambda: approvals.delete_rule(department))
        print(f"department {department}: " + ("its own rule removed; the box default applies"
                                              if found else "had no rule of its own"))
        return
    if args.mode is None:
        raise fail("approval rule: give --mode none|all|above|category (or --clear)")
    categories = [c.strip() for c in args.categories.split(",") if c.strip()]
    rule = approvals.check_rule(args.mode, args.above, categories, CATEGORIES)
    run_in_database(url, lambda: approvals.set_rule(department, rule))
    print(f"department {department}: {_rule_text(rule.as_dict())}")
