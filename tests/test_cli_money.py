"""`cardgate quota`, `cardgate balance`, `cardgate approval`: the console script in
subprocesses over a real SQLite file; the rows they write are read back through the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.store.service import run_in_database
from tests.test_cli import cardgate, config, db_url, one_line_error

__all__ = ["config"]  # the fixture, shared with tests/test_cli.py


def test_quota_and_balance_commands_write_the_ledger(config: Path) -> None:
    from appliance.store import ledger

    done = cardgate("quota", "set", "--department-id", "2", "--monthly", "500",
                    "--config", config)
    assert done.returncode == 0, done.stderr
    assert "department:2\t500 parts a month\tnot prepaid" in done.stdout
    done = cardgate("balance", "topup", "--department-id", "2", "--parts", "300", "--note",
                    "十二月", "--config", config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "department:2: topup +300 parts; balance 300"
    done = cardgate("balance", "adjust", "--department-id", "2", "--parts", "-20", "--note",
                    "correction", "--config", config)
    assert done.stdout.strip() == "department:2: adjust -20 parts; balance 280"
    shown = cardgate("balance", "show", "--department-id", "2", "--config", config)
    assert "prepaid" in shown.stdout and "balance 280" in shown.stdout and "left 280" in \
        shown.stdout
    rows = run_in_database(db_url(config), lambda: ledger.entries("department:2"))
    assert [(r["kind"], r["delta"], r["note"]) for r in rows] == [
        ("adjust", -20, "correction"), ("topup", 300, "十二月")]
    assert rows[0]["by"].startswith("cli (")
    listed = cardgate("quota", "show", "--config", config)
    assert listed.stdout.startswith("department:2\t500 parts a month\tprepaid")


@pytest.mark.parametrize(("args", "needle"), [
    (("quota", "set", "--user-id", "0", "--monthly", "5"), "--user-id"),
    (("quota", "set", "--user-id", "3", "--monthly", "-5"), "--monthly"),
    (("quota", "set", "--user-id", "3"), "--monthly"),
    (("quota", "set", "--user-id", "3", "--department-id", "2", "--monthly", "5"),
     "not allowed with"),
    (("balance", "topup", "--user-id", "3", "--parts", "-5"), "--parts"),
    (("balance", "topup", "--user-id", "3", "--parts", "lots"), "--parts"),
    (("balance", "adjust", "--user-id", "3", "--parts", "5"), "--note"),
    (("approval", "rule", "--department-id", "2", "--mode", "category", "--categories",
      "spam"), "--categories"),
    (("approval", "rule", "--department-id", "2"), "--mode"),
])
def test_bad_input_is_one_line_naming_the_option(config: Path, args: tuple[str, ...],
                                                  needle: str) -> None:
    from appliance.store import ledger

    one_line_error(cardgate(*args, "--config", config), needle)
    assert run_in_database(db_url(config), lambda: ledger.entries()) == []


def test_approval_rules_per_department(config: Path) -> None:
    from appliance.store import approvals

    done = cardgate("approval", "rule", "--department-id", "4", "--mode", "above", "--above",
                    "20", "--config", config)
    assert done.stdout.strip() == "department 4: above 20 recipients"
    assert run_in_database(db_url(config), lambda: approvals.rule_of(4)) == \
        approvals.Rule("above", 20)
    listed = cardgate("approval", "rules", "--config", config)
    assert listed.stdout.splitlines() == ["default\tnone", "department 4\tabove 20 recipients"]
    cleared = cardgate("approval", "rule", "--department-id", "4", "--clear", "--config", config)
    assert "the box default applies" in cleared.stdout
    assert run_in_database(db_url(config), lambda: approvals.rule_of(4)) is None
