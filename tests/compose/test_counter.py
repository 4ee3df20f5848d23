"""The compose counter equals what the gateway sends: the text as the policy layer rewrites it
(signature 【…】, unsubscribe hint) and split by the PDU encoder the sender uses."""

from datetime import UTC, datetime

import pytest

from appliance.compose.checks import count_as_sent, dry_run
from appliance.config import Config
from appliance.dispatch.intake import SendRequest, check_request
from appliance.pdu import encode_submit
from appliance.policy.build import build_policy
from appliance.policy.origin import Origin

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
CONSOLE = Origin(door="console", user_id=1, role="operator")


@pytest.fixture
async def policy(store):
    config = Config()
    config.policy.signature = "市政务中心"
    return await build_policy(config, store, lambda: NOW)


@pytest.mark.parametrize(("text", "category", "encoding", "parts"), [
    # Chinese: UCS2, 70 per part; the signature's 7 characters make 64 + 7 = 71: two parts.
    ("通" * 64, "notice", "ucs2", 2),
    ("通" * 63, "notice", "ucs2", 1),
    # GSM-7 text: the Chinese signature makes it UCS2 (the carriers' convention).
    ("Water off 9-12 tomorrow", "notice", "ucs2", 1),
    # Marketing: 回T退订 appended, before nothing (the signature is at the start).
    ("本周末全场八折，欢迎光临" * 6, "marketing", "ucs2", 2),
    ("x" * 200, "notice", "ucs2", 4),
])
def test_counter_equals_the_gateway_split(policy, text, category, encoding, parts):
    request = SendRequest(to=["+8613800138000"], text=text, category=category, origin=CONSOLE)
    counted = count_as_sent(policy, request)
    assert counted.text.startswith("【市政务中心】")
    assert (category == "marketing") == counted.text.endswith("回T退订")
    # What intake would store and count...
    stored = check_request(policy.prepare(request), NOW, 3600.0)
    assert stored.rows[0].text == counted.text
    assert (stored.count.encoding, stored.count.parts) == (counted.encoding, counted.parts)
    # ...and what the sender's encoder makes of it.
    pdus = encode_submit("+8613800138000", counted.text)
    assert (counted.encoding, counted.parts) == (encoding, parts) == (encoding, len(pdus))
    assert counted.chars == len(counted.text)


@pytest.mark.parametrize(("text", "parts"), [
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("€" * 80, 1), ("€" * 81, 2),  # an extension character costs two septets
])
def test_gsm7_without_signature(store, text, parts):
    counted = count_as_sent(None, SendRequest(to=[], text=text, origin=CONSOLE))
    assert (counted.encoding, counted.parts) == ("gsm7", parts)
    assert len(encode_submit("+8613800138000", text)) == parts


async def test_gsm7_stays_gsm7_with_a_latin_signature(store):
    config = Config()
    config.policy.signature = "ACME"
    layer = await build_policy(config, store, lambda: NOW)
    counted = count_as_sent(layer, SendRequest(to=[], text="a" * 154, origin=CONSOLE))
    assert counted.text == "【ACME】" + "a" * 154 and counted.encoding == "ucs2"
    assert counted.parts == len(encode_submit("+8613800138000", counted.text))


async def test_forbidden_word_is_shown_not_raised(store):
    layer = await build_policy(Config(), store, lambda: NOW)
    words = next(c for c in layer.checks if c.name == "forbidden_words")
    words.set_words(["发票"])
    counted = count_as_sent(layer, SendRequest(to=[], text="代开发票", origin=CONSOLE))
    assert counted.refusal is not None and counted.refusal.code == "forbidden_word"
    run = await dry_run(layer, SendRequest(to=["+8613800138000"], text="代开发票",
                                           origin=CONSOLE), NOW, 3600.0, 10_000, store)
    assert run.refused and run.findings[0].check == "forbidden_words"
    assert run.findings[0].field == "text"


async def test_dry_run_stores_nothing_and_reports_duplicates(store, policy):
    from appliance.store.models import Message

    request = SendRequest(to=["+8613800138000", "+8613800138000", "+8613900139000"],
                          text="停水通知", origin=CONSOLE)
    run = await dry_run(policy, request, NOW, 3600.0, 10_000, store)
    assert not run.refused
    assert run.left_out == [("+8613800138000",
                             "duplicate of an earlier recipient of this request")]
    assert await store.read(lambda: Message.select().count()) == 0
    dedupe = next(c for c in policy.checks if c.name == "dedupe")
    assert not dedupe._in_flight  # released
