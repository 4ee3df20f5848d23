"""Intake validation as a pure function: text rules, the length bound before counting, who may
overtake alerts."""

from __future__ import annotations

from datetime import UTC, datetime

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
