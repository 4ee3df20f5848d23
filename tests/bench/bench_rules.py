"""Benchmark: auto-answer rule evaluation cost per received message, with 200 and 20 rules.

Run by hand (`python -m tests.bench.bench_rules [--messages N] [--repeat R] [--quick]`).
Prints figures and asserts nothing. What is timed is the in-memory work the engine does per
message, in two layers:

- `evaluate`: normalisation, the rules in order (keyword first, then conditions), and the
  planned actions' texts rendered;
- `decide` (`Decider.decide`): what the engine does per message on top of that: the
  built-in unsubscribe check, the safety catch (sender kind, own SIMs, cooldown and loop
  history) and the steps built.

The rule set is a realistic mix: most are keyword rules (exact, prefix, contains on Chinese
and Latin keywords), some regexes (order numbers, dates, phone-like strings), a few with
conditions (sender group, SIMs, a time window across midnight, weekdays), and a catch-all
last. The messages: a third fall through to the catch-all (every rule looked at: the worst
case), the rest hit keywords spread over the list, regexes, or the unsubscribe keywords.
Store reads and writes are not here (one read and one write per batch of up to 200 messages;
see the inbox benchmark for end-to-end figures).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from appliance.config import RulesConfig
from appliance.inbox.rules.decide import Decider
from appliance.inbox.rules.definition import Rule, compile_rule
from appliance.inbox.rules.evaluate import Received, Sender, evaluate

TZ = ZoneInfo("Asia/Shanghai")
WORDS = ["价格", "地址", "电话", "营业时间", "优惠", "会员", "积分", "退款", "发票", "预约",
         "查询", "客服", "订单", "快递", "门店", "活动", "报名", "取消", "改期", "投诉",
         "price", "info", "hours", "menu", "book", "cancel", "refund", "help", "vip", "promo"]
REGEXES = [r"^订单\s*\d{6,10}$", r"\b\d{4}-\d{2}-\d{2}\b", r"^(yes|y|是|好的?)$",
           r"1[3-9]\d{9}", r"^[a-z]{2}\d{4}$", r"(预约|book).*(明天|tomorrow)"]
SIMS = ["89860000000000000001", "89860000000000000002", "89860000000000000003"]


def rule_set(count: int, rng: random.Random) -> list[Rule]:
    rules: list[Rule] = []
    regex_every = 7  # ~15% regex
    cond_every = 13  # ~8% with conditions
    for n in range(1, count):
        word = f"{rng.choice(WORDS)}{n}"
        data: dict = {"name": f"rule {n}", "stop": rng.random() < 0.9,
                      "actions": [{"type": "reply",
                                   "template": f"{{name}}您好，关于{word}：详见官网。{{date}}"}]}
        if n % regex_every == 0:
            data.update(match="regex", pattern=REGEXES[n % len(REGEXES)])
        else:
            data.update(match=rng.choice(["exact", "exact", "prefix", "contains"]),
                        pattern=word)
        if n % cond_every == 0:
            data["conditions"] = rng.choice([
                {"senders": "group", "groups": [1, 2]},
                {"sims": SIMS[:2]},
                {"time": {"from": "22:00", "to": "08:00"}, "weekdays": ["fri", "sat"]},
                {"senders": "known", "time": {"from": "09:00", "to": "18:00"}},
            ])
        rules.append(compile_rule(n, n, data))
    rules.append(compile_rule(count, count, {
        "name": "catch-all", "match": "any",
        "actions": [{"type": "reply", "template": "已收到：{text}"},
                    {"type": "forward", "to": ["+8613900000000"]}]}))
    return rules


def messages(count: int, rules: list[Rule], rng: random.Random) -> list[Received]:
    keywords = [r.matcher.pattern for r in rules if r.matcher.kind in ("exact", "prefix",
                                                                        "contains")]
    samples = ["订单 12345678", "好的", "预约明天下午", "我的号码13800138000", "2026-12-07 见"]
    now = datetime(2026, 12, 7, 2, 30, tzinfo=UTC)
    out = []
    for n in range(count):
        pick = rng.random()
        if pick < 0.33:
            text = rng.choice(["你好，请问还有货吗？", "Hi, is anyone there?", "谢谢！",
                               "这个怎么用" * 5])
        elif pick < 0.73:
            text = rng.choice(keywords)
        elif pick < 0.93:
            text = rng.choice(samples)
        else:
            text = rng.choice(["TD", "ＴＤ", "退订 ", "STOP"])
        out.append(Received(n, f"+86138{n % 5000:08d}", f"+86138{n % 5000:08d}", text,
                            rng.choice(SIMS), now + timedelta(seconds=n)))
    return out


def _time_per_message(fn, items: list[Received], repeat: int) -> tuple[float, float]:
    """(best, median) µs per message over `repeat` passes."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            fn(item)
        runs.append((time.perf_counter() - start) / len(items) * 1e6)
    return min(runs), statistics.median(runs)


def measure(rule_count: int, message_count: int, repeat: int) -> dict[str, float]:
    rng = random.Random(rule_count)
    rules = rule_set(rule_count, rng)
    items = messages(message_count, rules, rng)
    sender = Sender(name="王先生", known=True, group_ids=frozenset({2}))
    decider = Decider(RulesConfig(reply_cooldown_seconds=0, loop_limit=0))
    decider.rules = rules
    looked = sum(len(evaluate(rules, m, sender, TZ, explain=True).considered) for m in items)
    eval_best, eval_median = _time_per_message(lambda m: evaluate(rules, m, sender, TZ),
                                               items, repeat)
    decide_best, decide_median = _time_per_message(
        lambda m: decider.decide(m, sender, m.received_at), items, repeat)
    return {"rules": rule_count, "messages": message_count,
            "mean_rules_looked_at": looked / len(items),
            "evaluate_us": eval_best, "evaluate_median_us": eval_median,
            "decide_us": decide_best, "decide_median_us": decide_median}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a few hundred messages, once")
    args = parser.parse_args(argv)
    count, repeat = (500, 1) if args.quick else (args.messages, args.repeat)
    print(f"rule evaluation per received message ({count} messages, best of {repeat}; "
          f"median in brackets)")
    for rule_count in (200, 20):
        r = measure(rule_count, count, repeat)
        print(f"  {r['rules']:4d} rules: evaluate {r['evaluate_us']:7.1f} µs "
              f"({r['evaluate_median_us']:.1f}), with unsubscribe + safety (decide) "
              f"{r['decide_us']:7.1f} µs ({r['decide_median_us']:.1f}); "
              f"{r['mean_rules_looked_at']:.0f} rules looked at per message on average, "
              f"{1e6 / r['decide_us']:,.0f} messages/s on one core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
