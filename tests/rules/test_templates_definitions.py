"""Templates and whole rules: what is refused at save time (naming the field), what renders."""

import pytest

from appliance.inbox.rules.definition import RuleError, parse_rule
from appliance.inbox.rules.template import (
    QUOTE_MAX,
    TemplateError,
    compile_template,
    placeholder_values,
)

VALUES = placeholder_values(name="王先生", text="退订?\x07", number="+8613800138000",
                            sender="13800138000", date="2026-12-07", time="09:30")

# (case, template, rendered)
RENDER = [
    ("literal", "收到，谢谢", "收到，谢谢"),
    ("name", "{name}您好", "王先生您好"),
    ("text quoted, control made space", "您说：{text}", "您说：退订? "),
    ("number and sender", "{number}/{sender}", "+8613800138000/13800138000"),
    ("date time", "{date} {time}", "2026-12-07 09:30"),
    ("literal braces", "{{name}} {name}", "{name} 王先生"),
    ("repeated", "{name}{name}", "王先生王先生"),
]


@pytest.mark.parametrize("case,source,expected", RENDER, ids=[c[0] for c in RENDER])
def test_render(case, source, expected):
    assert compile_template(source).render(VALUES) == expected


def test_long_text_is_quoted_short():
    values = placeholder_values(name="", text="长" * 5000, number="", sender="", date="",
                                time="")
    assert len(compile_template("{text}").render(values)) == QUOTE_MAX


# (case, template, words in the error)
BAD_TEMPLATES = [
    ("unknown placeholder", "hi {nmae}", "unknown placeholder {nmae}"),
    ("positional", "hi {}", "unknown placeholder {}"),
    ("index", "hi {0}", "unknown placeholder {0}"),
    ("attribute", "{name.upper}", "unknown placeholder {name.upper}"),
    ("item", "{text[0]}", "unknown placeholder {text[0]}"),
    ("format spec", "{text:>99}", "no formats"),
    ("conversion", "{text!r}", "no formats"),
    ("unbalanced open", "hi {name", "literal braces"),
    ("unbalanced close", "hi name}", "literal braces"),
    ("empty", "  ", "non-empty"),
    ("not text", 5, "non-empty"),
    ("control char", "hi\x00", "control characters"),
    ("too long", "x" * 1001, "too long"),
]


@pytest.mark.parametrize("case,source,words", BAD_TEMPLATES, ids=[c[0] for c in BAD_TEMPLATES])
def test_bad_template(case, source, words):
    with pytest.raises(TemplateError) as err:
        compile_template(source)
    assert words in str(err.value)


GOOD = {"name": "td", "match": "exact", "pattern": "价格",
        "actions": [{"type": "reply", "template": "{name}您好"}]}


def rule(**changes):
    data = dict(GOOD)
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def test_good_rule_stored_form():
    parsed = parse_rule(rule(actions=[
        {"type": "reply", "template": "{name}您好"},
        {"type": "forward", "to": ["13800138000"]},
        {"type": "webhook", "url": "http://10.0.0.5:8000/sms"},
        {"type": "add_to_group", "group": 2},
        {"type": "blacklist"}]))
    assert parsed.fields == {
        "name": "td", "enabled": True, "match": "exact", "pattern": "价格",
        "conditions": {"senders": "any"}, "stop": True,
        "actions": [{"type": "reply", "template": "{name}您好"},
                    {"type": "forward", "to": ["+8613800138000"],
                     "template": "{sender} {name}: {text}"},
                    {"type": "webhook", "url": "http://10.0.0.5:8000/sms", "secret": ""},
                    {"type": "add_to_group", "group": 2},
                    {"type": "blacklist", "reason": ""}]}
    # The stored form validates to itself (what the table keeps is what the API took).
    assert parse_rule(parsed.fields).fields == parsed.fields


# (case, rule JSON, field named)
BAD_RULES = [
    ("not object", [], "body"),
    ("unknown field", rule(colour="red"), "colour"),
    ("no name", rule(name=...), "name"),
    ("blank name", rule(name=" "), "name"),
    ("bad kind", rule(match="fuzzy"), "match"),
    ("bad regex", rule(match="regex", pattern="(oops"), "pattern"),
    ("any with pattern", rule(match="any", pattern="x"), "pattern"),
    ("enabled not bool", rule(enabled="yes"), "enabled"),
    ("stop not bool", rule(stop=1), "stop"),
    ("no actions", rule(actions=[]), "actions"),
    ("action not object", rule(actions=["reply"]), "actions[0]"),
    ("action type", rule(actions=[{"type": "email"}]), "actions[0].type"),
    ("action extra field", rule(actions=[{"type": "reply", "template": "x", "to": []}]),
     "actions[0].to"),
    ("missing placeholder", rule(actions=[{"type": "reply", "template": "{nombre}"}]),
     "actions[0].template"),
    ("reply without template", rule(actions=[{"type": "reply"}]), "actions[0].template"),
    ("forward bad number", rule(actions=[{"type": "forward", "to": ["12"]}]),
     "actions[0].to[0]"),
    ("forward none", rule(actions=[{"type": "forward", "to": []}]), "actions[0].to"),
    ("webhook bad url", rule(actions=[{"type": "webhook", "url": "ftp://x"}]),
     "actions[0].url"),
    ("webhook bad port", rule(actions=[{"type": "webhook", "url": "http://10.0.0.5:99999/"}]),
     "actions[0].url"),
    ("webhook no host", rule(actions=[{"type": "webhook", "url": "http:///x"}]),
     "actions[0].url"),
    ("webhook secret control", rule(actions=[{"type": "webhook", "url": "http://h/",
                                              "secret": "a\x01"}]), "actions[0].secret"),
    ("group not id", rule(actions=[{"type": "add_to_group", "group": "vip"}]),
     "actions[0].group"),
    ("two replies", rule(actions=[{"type": "reply", "template": "a"},
                                  {"type": "reply", "template": "b"}]), "actions"),
    ("bad condition", rule(conditions={"senders": "x"}), "conditions.senders"),
    ("lone surrogate name", rule(name="a\ud800"), "name"),
    ("control char name", rule(name="a\x00"), "name"),
    ("lone surrogate pattern", rule(pattern="\udfff"), "pattern"),
    ("control char reason", rule(actions=[{"type": "blacklist", "reason": "\x1b[31m"}]),
     "actions[0].reason"),
    ("second action bad", rule(actions=[{"type": "blacklist"},
                                        {"type": "reply", "template": "{x}"}]),
     "actions[1].template"),
]


@pytest.mark.parametrize("case,data,field", BAD_RULES, ids=[c[0] for c in BAD_RULES])
def test_bad_rule_names_the_field(case, data, field):
    with pytest.raises(RuleError) as err:
        parse_rule(data)
    assert err.value.field == field
