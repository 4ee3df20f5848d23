"""Quiet hours and maintenance windows, from tables; the dispatcher's index skips held
categories."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta

import pytest

from appliance.dispatch.balancer import PRIORITY, Pending
from appliance.dispatch.pending import PendingIndex, Waiting
from appliance.policy.holds import (
    MAINTENANCE,
    QUIET_HOURS,
    HoldRules,
    HoldSchedule,
    QuietHours,
    Window,
    windows_from_strings,
)
from appliance.policy.maintenance import CATEGORIES

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
QUIET = QuietHours(time(21, 0), time(8, 0), frozenset({"notice", "marketing"}))


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=SH)


def rules(**kw) -> HoldRules:
    return HoldRules(tz=SH, categories=CATEGORIES, **{"quiet": QUIET, **kw})


def test_categories_are_the_dispatchers():
    assert frozenset(PRIORITY) == CATEGORIES


@pytest.mark.parametrize(("now", "held", "until"), [
    (at(7, 20, 59, 59), False, None),
    (at(7, 21, 0), True, at(8, 8, 0)),
    (at(7, 23, 30), True, at(8, 8, 0)),
    (at(8, 0, 0), True, at(8, 8, 0)),  # midnight: still the same night's quiet hours
    (at(8, 7, 59, 59), True, at(8, 8, 0)),
    (at(8, 8, 0), False, None),
    (at(8, 12, 0), False, None),
])
def test_quiet_hours_across_midnight(now, held, until):
    state = rules().state_at(now)
    for category in ("notice", "marketing"):
        hold = state.hold_of(category)
        assert (hold is not None) is held, (now, category)
        if held:
            assert hold == (hold.__class__(QUIET_HOURS, until))
    assert state.hold_of("alert") is None and state.hold_of("otp") is None  # they pass


@pytest.mark.parametrize(("start", "end", "now", "held"), [
    (time(8, 0), time(21, 0), at(7, 12), True),  # a span within one day
    (time(8, 0), time(21, 0), at(7, 21), False),
    (time(21, 0), time(21, 0), at(7, 22), False),  # start == end: no quiet hours
])
def test_other_spans(start, end, now, held):
    quiet = QuietHours(start, end, frozenset({"notice"}))
    assert (rules(quiet=quiet).state_at(now).hold_of("notice") is not None) is held


def test_maintenance_window_holds_everything_but_alerts():
    window = Window(at(7, 10), at(7, 12))
    r = rules(quiet=None, windows=(window,))
    inside = r.state_at(at(7, 11))
    assert {c for c in CATEGORIES if inside.hold_of(c)} == {"otp", "notice", "marketing"}
    assert inside.hold_of("otp").reason == MAINTENANCE
    assert inside.hold_of("otp").until == at(7, 12)
    assert r.state_at(at(7, 9, 59)).held == {}
    assert r.state_at(at(7, 12)).held == {}  # the end is not inside


def test_a_window_ending_inside_quiet_hours_holds_notices_until_the_quiet_hours_end():
    r = rules(windows=(Window(at(7, 19), at(7, 22)),))
    state = r.state_at(at(7, 20))
    assert state.hold_of("notice").reason == MAINTENANCE
    assert state.hold_of("notice").until == at(8, 8)  # then quiet hours until 08:00
    assert state.hold_of("otp").until == at(7, 22)  # otp passes quiet hours


def test_manual_maintenance_until_switched_off():
    r = rules(quiet=None, manual=Window(at(7, 10), None))
    hold = r.state_at(at(9, 10)).hold_of("notice")
    assert hold.reason == MAINTENANCE and hold.until is None
    assert r.state_at(at(9, 10)).hold_of("alert") is None


def test_the_schedule_recomputes_only_when_a_rule_starts_or_ends():
    schedule = HoldSchedule(rules())
    assert schedule.held(at(7, 20)) == frozenset()
    assert schedule.wake_at(at(7, 20)) == at(7, 21)
    first = schedule.state(at(7, 20, 30))
    assert schedule.state(at(7, 20, 59)) is first  # cached: nothing changes before 21:00
    assert schedule.held(at(7, 21)) == {"notice", "marketing"}
    assert schedule.wake_at(at(7, 21)) == at(8, 8)
    schedule.set_manual(Window(at(7, 21), None))
    assert schedule.held(at(7, 21, 1)) == {"notice", "marketing", "otp"}
    schedule.set_manual(None)
    assert schedule.held(at(8, 8)) == frozenset()


def test_configured_windows_parse_in_local_time_and_name_the_bad_one():
    (window,) = windows_from_strings(["2026-12-05T22:00/2026-12-06T02:00"], SH, "w")
    assert window.start == datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
    assert window.end - window.start == timedelta(hours=4)
    with pytest.raises(ValueError, match=r"w\[1\]: ends before it starts"):
        windows_from_strings(["2026-12-05T22:00/2026-12-06T02:00",
                              "2026-12-06T02:00/2026-12-05T22:00"], SH, "w")
    with pytest.raises(ValueError, match=r"w\[0\]: must be \"START/END\""):
        windows_from_strings(["tonight"], SH, "w")


def waiting(mid: int, category: str, pinned: str | None = None) -> Waiting:
    return Waiting(pending=Pending(message_id=mid, recipient=f"+86138001380{mid:02d}",
                                   network=None, parts=1, priority=PRIORITY["notice"],
                                   campaign_id=None, sticky_sim=None,
                                   created_at=at(7, 9)),
                   category=category, pinned_sim=pinned)


def test_the_index_hands_out_no_held_category_and_an_alert_is_not_stuck_behind_them():
    index = PendingIndex()
    now = at(7, 22)
    # Same priority and campaign: before lanes were split by category, the alert would sit
    # behind the held notices at the head of one lane.
    for mid in range(1, 20):
        index.add(waiting(mid, "notice"), now)
    index.add(waiting(50, "alert"), now)
    index.add(waiting(60, "notice", pinned="8986001"), now)
    index.add(waiting(61, "alert", pinned="8986001"), now)
    held = frozenset({"notice", "marketing"})
    assert [w.message_id for w in index.heads(per_lane=8, now=now, held=held)] == [50]
    assert [w.message_id for w in index.pinned_to("8986001", now, held)] == [61]
    assert len(list(index.heads(per_lane=8, now=now))) == 9  # nothing held: both lanes
    assert [w.message_id for w in index.pinned_to("8986001", now)] == [60, 61]


@pytest.mark.parametrize(("section", "values", "error"), [
    ("quiet_hours", {"start": "9pm"}, 'quiet_hours.start: must be a time of day "HH:MM"'),
    ("quiet_hours", {"categories": ["alert"]}, "quiet_hours.categories[0]: must be"),
    ("maintenance", {"windows": ["2026-12-05T22:00"]}, "maintenance.windows[0]: must be"),
    ("dedupe", {"window": "1d"}, 'dedupe.window: must be "working_day" or a number of hours'),
    ("dedupe", {"holidays": ["2026-13-01"]}, "dedupe.holidays[0]: not a date"),
    ("dedupe", {"working_weekend_days": ["2026-12-07"]},
     "dedupe.working_weekend_days: 2026-12-07 is not a Saturday or Sunday"),
    ("policy_limits", {"max_recipients_per_send": -1},
     "policy_limits.max_recipients_per_send: must be an integer >= 0"),
    ("quiet", {"x": 1}, "quiet: unknown key"),
])
def test_bad_settings_are_named(section, values, error):
    from appliance.config import ConfigError, config_from_dict

    with pytest.raises(ConfigError) as refused:
        config_from_dict({section: values})
    assert error in str(refused.value)


def test_the_defaults():
    from appliance.config import Config
    from appliance.policy.maintenance import rules_from_config

    config = Config()
    assert (config.dedupe.enabled, config.dedupe.window) == (True, "working_day")
    rules = rules_from_config(config)
    assert rules.quiet == QUIET and rules.windows == ()
    assert config.policy_limits.max_recipients_per_send == 0


@pytest.mark.parametrize(("category", "now", "send_at", "reason", "until"), [
    ("notice", at(7, 22), None, QUIET_HOURS, at(8, 8)),
    ("alert", at(7, 22), None, None, None),
    ("notice", at(7, 12), at(7, 23), QUIET_HOURS, at(8, 8)),  # scheduled into quiet hours
    ("notice", at(7, 22), at(8, 9), None, None),  # scheduled after them
    ("marketing", at(7, 12), None, None, None),
])
async def test_the_note_a_submitter_gets(category, now, send_at, reason, until):
    from appliance.dispatch.intake import SendRequest, check_request
    from appliance.policy.hold_note import HoldNote
    from appliance.policy.layer import Draft

    request = SendRequest(to=["+8613800138000"], text="通知", category=category,
                          send_at=send_at)
    valid = check_request(request, now, 86400.0)
    draft = Draft(request=request, rows=valid.rows, count=valid.count, now=now)
    await HoldNote(HoldSchedule(rules())).admit(draft)
    note = draft.notes.get("waiting")
    if reason is None:
        assert note is None
    else:
        assert note["reason"] == reason
        assert datetime.fromisoformat(note["until"]) == until
        assert note["message"] == (f"held back by quiet hours: {category} messages go at "
                                   f"{until.isoformat()}")
