"""Evaluation order and "stop here", and the safety catch, as tables."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appliance.inbox.rules.definition import compile_rule
from appliance.inbox.rules.evaluate import Received, Sender, evaluate
from appliance.inbox.rules.safety import (
    ReplyHistory,
    keyword_set,
    reply_refusal,
    unsubscribe_intent,
)

TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 12, 7, 2, 30, tzinfo=UTC)  # Monday 10:30 in Shanghai


def r(rule_id, match="any", pattern="", *, stop=True, reply=None, enabled=True, **cond):
    data = {"name": f"r{rule_id}", "match": match, "pattern": pattern, "stop": stop,
            "enabled": enabled, "conditions": cond or None,
            "actions": [{"type": "reply", "template": reply or f"reply {rule_id}"}]}
    return compile_rule(rule_id, rule_id, data)


def received(text, sender="+8613800138000", sim="8986001"):
    return Received(1, sender, sender, text, sim, AT)


# (case, rules in order, text, sender facts, rule ids whose actions run, stopped by)
ORDER = [
    ("first match stops", [r(1, "exact", "td"), r(2)], "TD", Sender(), [1], 1),
    ("falls through to any", [r(1, "exact", "td"), r(2)], "hello", Sender(), [2], 2),
    ("go on collects both", [r(1, "contains", "价", stop=False), r(2, "prefix", "价格")],
     "价格表", Sender(), [1, 2], 2),
    ("go on, later stop, rest skipped",
     [r(1, stop=False), r(2, "exact", "x"), r(3), r(4)], "x", Sender(), [1, 2], 2),
    ("disabled skipped", [r(1, "exact", "td", enabled=False), r(2)], "td", Sender(), [2], 2),
    ("condition fails, next rule", [r(1, senders="known"), r(2)], "hi", Sender(), [2], 2),
    ("condition holds", [r(1, senders="known"), r(2)], "hi", Sender(known=True), [1], 1),
    ("group condition", [r(1, senders="group", groups=[5]), r(2)], "hi",
     Sender(known=True, group_ids=frozenset({5})), [1], 1),
    ("sim condition", [r(1, sims=["8986999"]), r(2)], "hi", Sender(), [2], 2),
    ("time condition outside", [r(1, time={"from": "18:00", "to": "09:00"}), r(2)], "hi",
     Sender(), [2], 2),
    ("weekday condition", [r(1, weekdays=["mon"]), r(2)], "hi", Sender(), [1], 1),
    ("nothing matches", [r(1, "exact", "a"), r(2, "regex", "^b$")], "c", Sender(), [], None),
    ("width and case", [r(1, "exact", "unsubscribe")], "ＵＮＳＵＢＳＣＲＩＢＥ ", Sender(), [1], 1),
]


@pytest.mark.parametrize("case,rules,text,sender,runs,stopped", ORDER, ids=[c[0] for c in ORDER])
def test_order_and_stop(case, rules, text, sender, runs, stopped):
    out = evaluate(rules, received(text), sender, TZ, explain=True)
    assert [p.rule_id for p in out.planned] == runs
    assert out.matched == runs
    assert out.stopped_by == stopped
    considered = [c.rule_id for c in out.considered]
    assert considered == sorted(considered)  # looked at in order
    assert all(c.why for c in out.considered)


def test_reply_text_and_target():
    rules = [r(1, reply="{name}您好，{date} {time} 收到：{text}")]
    out = evaluate(rules, received("价格"), Sender(name="王先生", known=True), TZ)
    (planned,) = out.planned
    assert planned.to == ("+8613800138000",)
    assert planned.text == "王先生您好，2026-12-07 10:30 收到：价格"


OWN = frozenset({"+8613900000001"})

# (case, sender as received, number, refused?)
REFUSAL = [
    ("mobile", "+8613800138000", "+8613800138000", False),
    ("mobile, local form", "13800138000", "+8613800138000", False),
    ("alphanumeric", "ALIPAY", "ALIPAY", True),
    ("chinese name", "中国移动", "中国移动", True),
    ("10086", "10086", "10086", True),
    ("106 SP, 11 digits normalised", "10690000123", "+8610690000123", True),
    ("106 SP, long", "1069012345678901", "1069012345678901", True),
    ("95588 bank", "95588", "95588", True),
    ("12306", "12306", "12306", True),
    ("400 line", "4008123123", "+864008123123", True),
    ("beijing landline", "01012345678", "+861012345678", True),
    ("own SIM", "+8613900000001", "+8613900000001", True),
    ("foreign mobile", "+12025550123", "+12025550123", False),
    ("foreign short", "+4412345", "+4412345", True),
    ("5-digit short code", "55555", "55555", True),
]


@pytest.mark.parametrize("case,sender,number,refused", REFUSAL, ids=[c[0] for c in REFUSAL])
def test_reply_refusal(case, sender, number, refused):
    why = reply_refusal(sender, number, OWN)
    assert (why is not None) == refused


def test_cooldown_then_loop_bound():
    history = ReplyHistory(cooldown=timedelta(seconds=60), loop_limit=3,
                           loop_window=timedelta(minutes=10))
    n = "+8613800138000"
    t = AT
    assert history.refusal(n, t) is None
    history.record(n, t)
    assert history.refusal(n, t + timedelta(seconds=59))[0] == "cooldown"
    assert history.refusal(n, t + timedelta(seconds=60)) is None
    assert history.refusal("+8613800138001", t) is None  # per sender
    history.record(n, t + timedelta(seconds=61))
    history.record(n, t + timedelta(seconds=122))
    kind, why = history.refusal(n, t + timedelta(seconds=300))
    assert kind == "loop" and "3 automatic replies" in why
    # The window passes: replies may go again.
    assert history.refusal(n, t + timedelta(seconds=661)) is None
    history.prune(t + timedelta(hours=1))
    assert len(history) == 0


# (case, text, intent)
UNSUB = [
    ("TD", "TD", "unsubscribe"),
    ("td lower", "td", "unsubscribe"),
    ("full-width", "ＴＤ", "unsubscribe"),
    ("T", "t", "unsubscribe"),
    ("退订 with space", "退订 ", "unsubscribe"),
    ("STOP", "Stop", "unsubscribe"),
    ("UNSUBSCRIBE", "unsubscribe", "unsubscribe"),
    ("订阅", "订阅", "resubscribe"),
    ("START", "start", "resubscribe"),
    ("退订 with a full stop", "退订。", "unsubscribe"),
    ("TD with an exclamation mark", "TD！", "unsubscribe"),
    ("spaced out", "T D", "unsubscribe"),
    ("in brackets", "【退订】", "unsubscribe"),
    ("TD inside a sentence", "TD谢谢", None),
    ("TD and a word", "TD 谢谢", None),
    ("退订了吗", "退订了吗", None),
    ("other", "hello", None),
]


@pytest.mark.parametrize("case,text,intent", UNSUB, ids=[c[0] for c in UNSUB])
def test_unsubscribe_intent(case, text, intent):
    from appliance.inbox.rules.text import normalize_text

    unsub = keyword_set(["TD", "T", "退订", "STOP", "UNSUBSCRIBE"])
    resub = keyword_set(["订阅", "START"])
    assert unsubscribe_intent(normalize_text(text), unsub, resub) == intent
