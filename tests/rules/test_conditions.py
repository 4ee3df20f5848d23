"""Rule conditions as tables: senders, SIMs, time windows (across midnight) and weekdays."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from appliance.inbox.rules.conditions import ConditionError, Facts, parse_conditions

TZ = ZoneInfo("Asia/Shanghai")
# 2026-12-07 is a Monday.


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 12, day, hh, mm, tzinfo=TZ)


MONDAY_10 = at(7, 10)


def facts(when: datetime = MONDAY_10, *, sim: str = "8986001", known: bool = False,
          groups: frozenset[int] = frozenset()) -> Facts:
    return Facts(sim=sim, local_time=when, known=known, group_ids=groups)


# (case, conditions JSON, facts, holds)
CHECK = [
    ("none", None, facts(), True),
    ("any sender", {"senders": "any"}, facts(), True),
    ("known: a contact", {"senders": "known"}, facts(known=True), True),
    ("known: a stranger", {"senders": "known"}, facts(), False),
    ("unknown: a stranger", {"senders": "unknown"}, facts(), True),
    ("unknown: a contact", {"senders": "unknown"}, facts(known=True), False),
    ("group: member", {"senders": "group", "groups": [3, 4]},
     facts(known=True, groups=frozenset({4, 9})), True),
    ("group: not member", {"senders": "group", "groups": [3]},
     facts(known=True, groups=frozenset({4})), False),
    ("sim: listed", {"sims": ["8986001", "8986002"]}, facts(sim="8986002"), True),
    ("sim: not listed", {"sims": ["8986001"]}, facts(sim="8986003"), False),
    ("window: inside", {"time": {"from": "09:00", "to": "18:00"}}, facts(at(7, 9)), True),
    ("window: end excluded", {"time": {"from": "09:00", "to": "18:00"}}, facts(at(7, 18)),
     False),
    ("window: before", {"time": {"from": "09:00", "to": "18:00"}}, facts(at(7, 8, 59)), False),
    ("night: late", {"time": {"from": "22:00", "to": "08:00"}}, facts(at(7, 23)), True),
    ("night: early", {"time": {"from": "22:00", "to": "08:00"}}, facts(at(7, 3)), True),
    ("night: day", {"time": {"from": "22:00", "to": "08:00"}}, facts(at(7, 12)), False),
    ("weekday: monday", {"weekdays": ["mon"]}, facts(at(7, 10)), True),
    ("weekday: iso number", {"weekdays": [1, 2]}, facts(at(8, 10)), True),
    ("weekday: sunday not listed", {"weekdays": ["mon", "tue"]}, facts(at(6, 10)), False),
    ("weekend full names", {"weekdays": ["Saturday", "Sunday"]}, facts(at(6, 10)), True),
    # Friday night's window reaches into Saturday morning: it belongs to Friday.
    ("friday night, saturday 03:00", {"time": {"from": "22:00", "to": "08:00"},
                                      "weekdays": ["fri"]}, facts(at(12, 3)), True),
    ("friday night, friday 03:00", {"time": {"from": "22:00", "to": "08:00"},
                                    "weekdays": ["fri"]}, facts(at(11, 3)), False),
    ("friday night, friday 23:00", {"time": {"from": "22:00", "to": "08:00"},
                                    "weekdays": ["fri"]}, facts(at(11, 23)), True),
    ("all of them", {"senders": "known", "sims": ["8986001"],
                     "time": {"from": "09:00", "to": "18:00"}, "weekdays": ["mon"]},
     facts(at(7, 10), known=True), True),
    ("all but the sim", {"senders": "known", "sims": ["8986009"],
                         "time": {"from": "09:00", "to": "18:00"}, "weekdays": ["mon"]},
     facts(at(7, 10), known=True), False),
]


@pytest.mark.parametrize("case,data,fx,holds", CHECK, ids=[c[0] for c in CHECK])
def test_check(case, data, fx, holds):
    failed = parse_conditions(data).check(fx)
    assert (failed is None) == holds
    if not holds:
        assert failed  # says which condition


def test_round_trip():
    data = {"senders": "group", "groups": [4, 3], "sims": ["8986001"],
            "time": {"from": "22:00", "to": "08:00"}, "weekdays": [5, "mon"]}
    described = parse_conditions(data).describe()
    assert described == {"senders": "group", "groups": [3, 4], "sims": ["8986001"],
                         "time": {"from": "22:00", "to": "08:00"}, "weekdays": ["mon", "fri"]}
    assert parse_conditions(described) == parse_conditions(data)


# (case, JSON, the field named)
BAD = [
    ("not an object", [1], "conditions"),
    ("unknown key", {"when": 1}, "conditions.when"),
    ("bad senders", {"senders": "friends"}, "conditions.senders"),
    ("group without groups", {"senders": "group"}, "conditions.groups"),
    ("group id not int", {"senders": "group", "groups": ["vip"]}, "conditions.groups[0]"),
    ("groups without group", {"groups": [1]}, "conditions.groups"),
    ("sims not list", {"sims": "8986"}, "conditions.sims"),
    ("sim not iccid", {"sims": ["x y"]}, "conditions.sims[0]"),
    ("time not object", {"time": "09-18"}, "conditions.time"),
    ("time bad from", {"time": {"from": "9:00", "to": "18:00"}}, "conditions.time.from"),
    ("time bad to", {"time": {"from": "09:00", "to": "24:00"}}, "conditions.time.to"),
    ("time empty window", {"time": {"from": "09:00", "to": "09:00"}}, "conditions.time"),
    ("weekday unknown", {"weekdays": ["someday"]}, "conditions.weekdays[0]"),
    ("weekday zero", {"weekdays": [0]}, "conditions.weekdays[0]"),
    ("weekdays empty", {"weekdays": []}, "conditions.weekdays"),
]


@pytest.mark.parametrize("case,data,field", BAD, ids=[c[0] for c in BAD])
def test_bad_conditions_name_the_field(case, data, field):
    with pytest.raises(ConditionError) as err:
        parse_conditions(data)
    assert err.value.field == field
