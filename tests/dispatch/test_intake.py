"""Intake validation as a pure function: text rules, the length bound before counting, who may
overtake alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from appliance.dispatch import intake
from appliance.dispatch.intake import InvalidRequest, NotPermitted, SendRequest, check_request

NOW = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)
TO = ["+8613800138000"]


def _check(**kw):
    return check_request(SendRequest(**{"to": TO, "text": "hi", **kw}), NOW, 3600.0)


def test_a_mebibyte_of_text_is_refused_without_counting_parts(monkeypatch) -> None:
    monkeypatch.setattr(intake, "count_parts", lambda text: pytest.fail("counted"))
    with pytest.raises(InvalidRequest) as caught:
        _check(text="长" * (1 << 20))
    assert caught.value.field == "text" and "too long" in caught.value.message


@pytest.mark.parametrize("text", ["a" * 1531, "长" * 671, "€" * 766])
def test_the_bound_and_the_part_count_agree(text: str) -> None:
    # 1,531 GSM-7 characters, 671 UCS2 ones, 766 two-septet ones: all eleven parts or more
    with pytest.raises(InvalidRequest, match="too long"):
        _check(text=text)


def test_the_count_is_returned_for_reuse() -> None:
    valid = _check(text="长" * 670)
    assert (valid.count.parts, valid.count.encoding) == (10, "ucs2")
    assert [row.parts_count for row in valid.rows] == [10]


@pytest.mark.parametrize(("text", "where"), [("a\ud800b", 1), ("\udfff", 0)])
def test_lone_surrogates_are_refused_naming_the_position(text: str, where: int) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _check(text=text)
    assert caught.value.field == "text" and f"position {where}" in caught.value.message


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f",
                                  "\x7f", "\x80", "\x9f"])
def test_control_characters_are_refused(char: str) -> None:
    with pytest.raises(InvalidRequest, match=f"U\\+{ord(char):04X}"):
        _check(text=f"x{char}y")


def test_tab_cr_lf_and_emoji_pass() -> None:
    assert _check(text="a\tb\r\nc 🚀").count.parts == 1


def test_priority_above_alert_needs_a_privileged_submitter() -> None:
    with pytest.raises(NotPermitted) as caught:
        _check(priority=intake.MAX_UNPRIVILEGED_PRIORITY + 1)
    assert caught.value.field == "priority"
    assert _check(priority=100, privileged=True).rows[0].priority == 100
    assert _check(priority=intake.MAX_UNPRIVILEGED_PRIORITY).rows[0].priority == 20
    assert _check(category="otp").rows[0].priority == 30  # the category's own level
    with pytest.raises(InvalidRequest) as invalid:  # out of range is still invalid, not 403
        _check(priority=1000)
    assert not isinstance(invalid.value, NotPermitted)


# -- numbers and times: what later code relies on --------------------------------------------

@pytest.mark.parametrize(("send_at", "says"), [
    (datetime(1, 1, 1, tzinfo=UTC), "before 2000"),
    (datetime(1999, 12, 31, 23, 59, tzinfo=UTC), "before 2000"),
    (datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-14))), "out of range"),
    (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))), "out of range"),
    (NOW + timedelta(days=367), "a year ahead"),
    (datetime(2026, 1, 2, 9, 0), "time zone"),
    ("2026-01-02T09:00+00:00", "must be a time"),
])
def test_send_at_outside_the_sane_range_is_refused_naming_it(send_at, says: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _check(send_at=send_at)
    assert caught.value.field == "send_at" and says in caught.value.message


@pytest.mark.parametrize("ttl", [float("nan"), float("inf"), float("-inf"), 0, -1, True,
                                 intake.MAX_TTL + 1, 10**400, "60"])
def test_ttl_must_be_a_finite_positive_number(ttl) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _check(ttl=ttl)
    assert caught.value.field == "ttl"


@pytest.mark.parametrize(("field", "value"), [
    ("priority", float("nan")), ("priority", True), ("category", ["alert"]),
    ("campaign_id", float("inf")), ("campaign_id", 0), ("to", "+8613800138000"),
])
def test_odd_types_are_refused_naming_the_field(field: str, value) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _check(**{field: value})
    assert caught.value.field == field


def test_a_past_send_at_is_ready_now_and_its_validity_counts_from_acceptance() -> None:
    past = NOW - timedelta(days=3)
    (row,) = _check(send_at=past, ttl=600).rows
    assert row.send_at == past  # kept as asked: due at once
    assert row.expires_at == NOW + timedelta(seconds=600) and row.ttl == 600.0


def test_the_extreme_accepted_values_pass() -> None:
    for send_at in (intake.SEND_AT_EARLIEST,
                    NOW + intake.MAX_SCHEDULE_AHEAD,
                    (NOW + intake.MAX_SCHEDULE_AHEAD).astimezone(timezone(timedelta(hours=-14)))):
        (row,) = _check(send_at=send_at, ttl=intake.MAX_TTL).rows
        assert row.send_at == send_at and row.send_at.tzinfo is UTC
        assert row.expires_at == max(send_at, NOW) + timedelta(seconds=intake.MAX_TTL)


# -- one way in --------------------------------------------------------------------------------

def test_every_front_door_submits_through_intake_alone() -> None:
    """Only intake calls Dispatcher.submit, and only the acceptor (which submit uses) writes
    new messages: a front door that called either directly would bypass validation and the
    policy layer meant to wrap submit_request."""
    import re
    from pathlib import Path

    import appliance

    root = Path(appliance.__file__).parent
    callers: dict[str, set[str]] = {"submit": set(), "accept": set()}
    for path in root.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        name = path.relative_to(root).as_posix()
        if re.search(r"\bdispatcher\.submit\(|\bself\.submit\(", source):
            callers["submit"].add(name)
        if re.search(r"\baccept_(messages|new|many)\(", source) and not name.startswith("store/"):
            callers["accept"].add(name)
    assert callers == {"submit": {"dispatch/intake.py"}, "accept": {"dispatch/acceptor.py"}}
