"""Consent and number quality from tables, and their store functions on a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import peewee
import pytest

from appliance.config import ConsentConfig
from appliance.contacts.quality import is_cn_mobile, number_problem, quality_report
from appliance.dispatch.intake import SendRequest
from appliance.policy.consent import (
    NO_CONSENT,
    WITHDRAWN,
    ConsentCheck,
    contact_consent,
    marketing_refusal,
)
from appliance.policy.layer import Draft
from appliance.store import consent as consent_store
from appliance.store import contacts as book
from appliance.store import number_quality
from appliance.store.db import open_database
from appliance.store.messages import NewMessage
from appliance.store.migrations import migrate
from appliance.store.writer import Store

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("state", "required", "why"), [
    (None, False, None), ("granted", False, None), ("withdrawn", False, WITHDRAWN),
    (None, True, NO_CONSENT), ("granted", True, None), ("withdrawn", True, WITHDRAWN),
])
def test_who_may_get_marketing(state: str | None, required: bool, why: str | None) -> None:
    record = {"state": state, "source": "staff", "at": T0} if state else None
    assert marketing_refusal(record, required) == why


def _rec(state: str, source: str = "staff", at: datetime = T0) -> dict:
    return {"state": state, "source": source, "detail": "", "at": at}


@pytest.mark.parametrize(("numbers", "on_file", "want"), [
    ([], {}, ("unknown", None, None)),
    (["+1"], {}, ("unknown", None, None)),
    (["+1"], {"+1": _rec("granted", "reply")}, ("granted", "reply", T0)),
    (["+1", "+2"], {"+1": _rec("granted"), "+2": _rec("granted", "imported", T1)},
     ("granted", "imported", T1)),
    (["+1", "+2"], {"+1": _rec("granted")}, ("mixed", "staff", T0)),
    (["+1", "+2"], {"+1": _rec("granted"), "+2": _rec("withdrawn", "reply", T1)},
     ("mixed", "reply", T1)),
])
def test_a_contacts_consent_from_its_numbers(numbers: list, on_file: dict, want: tuple) -> None:
    shown = contact_consent(numbers, on_file)
    assert (shown["state"], shown["source"], shown["at"]) == want
    assert set(shown["numbers"]) == set(numbers)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[peewee.Database]:
    database = open_database(f"sqlite:///{tmp_path / 'cg.db'}")
    migrate(database)
    yield database
    database.close()


def test_consent_is_recorded_replaced_and_forgotten(db: peewee.Database) -> None:
    with db.atomic():
        consent_store.record("+8613800000001", "granted", "imported", "list of May", T0)
        consent_store.record("+8613800000001", "withdrawn", "reply", "replied 'TD'", T1)
        consent_store.record("+8613800000002", "granted", "staff", "", T0)
        consent_store.record("+8613800000002", "unknown", "staff")
    got = consent_store.of_numbers(["+8613800000001", "+8613800000002", "+8613800000003"])
    assert got == {"+8613800000001": {"state": "withdrawn", "source": "reply",
                                      "detail": "replied 'TD'", "at": T1}}
    with pytest.raises(ValueError, match="state"):
        consent_store.record("+1", "maybe", "staff")
    with pytest.raises(ValueError, match="source"):
        consent_store.record("+1", "granted", "rumour")


def _row(number: str) -> NewMessage:
    return NewMessage(recipient=number, text="上新了 回T退订", priority=0, category="marketing")


@pytest.mark.parametrize(("required", "category", "kept", "rejected"), [
    (False, "marketing", ["+8613800000001", "+8613800000003"],
     [("+8613800000002", WITHDRAWN)]),
    (True, "marketing", ["+8613800000001"],
     [("+8613800000002", WITHDRAWN), ("+8613800000003", NO_CONSENT)]),
    (True, "notice", ["+8613800000001", "+8613800000002", "+8613800000003"], []),
])
async def test_the_check_leaves_out_who_may_not_get_marketing(
        db: peewee.Database, required: bool, category: str, kept: list, rejected: list) -> None:
    with db.atomic():
        consent_store.record("+8613800000001", "granted", "reply", "", T0)
        consent_store.record("+8613800000002", "withdrawn", "reply", "", T0)
    store = Store(db)
    await store.start()
    try:
        numbers = ["+8613800000001", "+8613800000002", "+8613800000003"]
        request = SendRequest(to=numbers, text="上新了", category=category)
        draft = Draft(request=request, rows=[_row(n) for n in numbers], count=None, now=T0)
        await ConsentCheck(ConsentConfig(required_for_marketing=required), store).admit(draft)
        assert [r.recipient for r in draft.rows] == kept
        assert draft.rejected == rejected
    finally:
        await store.stop()


@pytest.mark.parametrize(("number", "problem"), [
    ("+8613800138000", None),
    ("+8619912345678", None),
    ("+8614912345678", None),  # a Telecom data segment phonenumbers does not list: intake's rule
    ("+14155552671", None),  # a US number that may be a mobile
    ("+861012345678", "fixed line"),
    ("+8610123", "not a valid number"),
    ("BANK", "sender id"),
    ("10086", "short code"),
])
def test_number_problems(number: str, problem: str | None) -> None:
    got = number_problem(number)
    assert (got is None) if problem is None else (problem in got)


@pytest.mark.parametrize(("number", "mobile"), [
    ("+8613800138000", True), ("+8614912345678", True), ("+861012345678", False),
    ("+447911123456", False), ("BANK", False),
])
def test_valid_chinese_mobiles(number: str, mobile: bool) -> None:
    assert is_cn_mobile(number) is mobile


def test_the_number_quality_report(db: peewee.Database) -> None:
    with db.atomic():
        ok = book.create_contact("张三", ["+8613800000001"])
        landline = book.create_contact("前台", ["+861012345678"])
        both = book.create_contact("李四", ["+8613800000002", "+861087654321"])
        bank = book.create_contact("银行A", ["BANK"])
        bank2 = book.create_contact("银行B", ["bank"])  # the same sender id, kept as given
        empty = book.create_contact("无号码", [])
        staff = book.create_group("员工")
        book.add_contacts_to_group(staff["id"], [ok["id"], landline["id"], both["id"]])
        book.create_group("空组")
        report = quality_report(number_quality.contacts_with_numbers(),
                                number_quality.groups_with_members())
    assert report["contacts"] == 6
    invalid = {(i["contact_id"], i["number"]): i["why"] for i in report["invalid"]}
    assert set(invalid) == {(landline["id"], "+861012345678"), (both["id"], "+861087654321"),
                            (bank["id"], "BANK"), (bank2["id"], "bank"), (empty["id"], None)}
    assert "fixed line" in invalid[(landline["id"], "+861012345678")]
    assert invalid[(empty["id"], None)] == "no number"
    assert report["shared"] == [{"number": "bank", "as_stored": ["BANK", "bank"],
                                 "contacts": [{"id": bank["id"], "name": "银行A"},
                                              {"id": bank2["id"], "name": "银行B"}]}]
    groups = {g["name"]: g for g in report["groups"]}
    assert groups["员工"] == {"id": staff["id"], "name": "员工", "members": 3,
                             "valid_mobile": 2, "share": 0.6667}
    assert groups["空组"]["members"] == 0 and groups["空组"]["share"] is None
