"""Benchmark: the policy layer's content checks per send request, as intake runs them on the
event loop (`PolicyLayer.prepare`): forbidden words, the unsubscribe hint, the signature.

Run by hand (`python -m tests.bench.bench_content [--requests N] [--quick]`). Prints figures and
asserts nothing (tests/policy/test_words.py holds the matcher to a bound). Word lists of 1,000
and 10,000 random 2-4 character Chinese words; texts of one and three UCS2 parts, clean (the
worst case: every position scanned to the end).
"""

from __future__ import annotations

import argparse
import random
import timeit

from appliance.config import PolicyConfig
from appliance.dispatch.intake import SendRequest
from appliance.policy.layer import PolicyLayer
from appliance.policy.signature import SignatureCheck
from appliance.policy.unsubscribe import UnsubscribeHintCheck
from appliance.policy.words import ForbiddenWordsCheck

BASE = ("尊敬的客户，您好！本周六上午九点至十二点，小区将进行供水管道检修，届时停水，请提前储水。"
        "给您带来不便，敬请谅解。如有疑问请致电物业服务中心 12345。")


def words(count: int, rng: random.Random) -> list[str]:
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    out: set[str] = set()
    while len(out) < count:
        out.add("".join(rng.choice(chars) for _ in range(rng.randint(2, 4))))
    return sorted(out)


def measure(word_count: int, text: str, requests: int) -> float:
    """µs per request through the three content checks."""
    config = PolicyConfig(signature="市政务中心")
    rng = random.Random(word_count)
    listed = [w for w in words(word_count + 50, rng) if w not in text][:word_count]
    layer = PolicyLayer([ForbiddenWordsCheck(listed), UnsubscribeHintCheck(config),
                         SignatureCheck(config)])
    request = SendRequest(to=["+8613800138000"], text=text, category="marketing")
    # The best of several rounds: on a shared machine the mean measures the neighbours.
    rounds = max(1, min(20, requests // 100))
    per_round = max(1, requests // rounds)
    return min(timeit.repeat(lambda: layer.prepare(request), number=per_round,
                             repeat=rounds)) / per_round * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--quick", action="store_true", help="a hundred requests")
    args = parser.parse_args(argv)
    requests = 100 if args.quick else args.requests
    print(f"content checks per request ({requests} requests each, best round)")
    for word_count in (1_000, 10_000):
        for parts, text in ((1, BASE[:60]), (3, (BASE * 3)[:190])):
            us = measure(word_count, text, requests)
            print(f"  {word_count:6,d} words, {parts} part(s) ({len(text)} characters): "
                  f"{us:6.1f} µs/request, {1e6 / us:,.0f} requests/s on one core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
