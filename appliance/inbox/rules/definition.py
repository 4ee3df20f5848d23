"""A rule as data: the JSON the API takes and the table keeps, validated and compiled.

Knows: the fields of a rule and of each action, what a valid value is, and how a rule compiles
(its matcher, conditions and templates built once). Must not know: storage, HTTP, sending.

A rule, as JSON:
    {"name": "price list", "enabled": true,
     "match": "exact" | "prefix" | "contains" | "regex" | "any", "pattern": "价格",
     "conditions": {"senders": "any" | "known" | "unknown" | "group", "groups": [3],
                    "sims": ["8986..."], "time": {"from": "09:00", "to": "18:00"},
                    "weekdays": ["mon", "tue"]},
     "actions": [{"type": "reply", "template": "{name}您好，价格表见 ..."},
                 {"type": "forward", "to": ["+8613800138000"], "template": "..."},
                 {"type": "webhook", "url": "http://10.0.0.5/sms", "secret": "..."},
                 {"type": "add_to_group", "group": 3}, {"type": "remove_from_group", "group": 3},
                 {"type": "blacklist", "reason": "..."}],
     "stop": true}
`stop` (default true): a matching rule ends the evaluation; false goes on to the next rule.
Every problem raises RuleError naming the field (`actions[1].template`), so the API answers
400 with it before anything is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from appliance.dispatch.phone import InvalidNumber, normalize_number
from appliance.inbox.rules.conditions import ConditionError, Conditions, parse_conditions
from appliance.inbox.rules.matching import KINDS, Matcher, PatternError, compile_matcher
from appliance.inbox.rules.template import Template, TemplateError, compile_template
from appliance.store.webhooks import WebhookInvalid, check_secret, check_url

ACTION_TYPES = ("reply", "forward", "webhook", "add_to_group", "remove_from_group", "blacklist")
RULE_FIELDS = ("name", "enabled", "match", "pattern", "conditions", "actions", "stop")
MAX_NAME = 100
MAX_ACTIONS = 10
MAX_FORWARD = 20
DEFAULT_FORWARD = "{sender} {name}: {text}"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class RuleError(ValueError):
    """A rule that cannot be saved; `field` names the part at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Action:
    type: str
    template: Template | None = None  # reply, forward
    to: tuple[str, ...] = ()  # forward: E.164 numbers
    url: str = ""  # webhook
    secret: str = field(default="", repr=False)
    group: int | None = None  # add_to_group, remove_from_group
    reason: str = ""  # blacklist


@dataclass(frozen=True)
class Rule:
    """A compiled rule: what evaluation uses."""

    id: int
    position: int
    name: str
    enabled: bool
    matcher: Matcher
    conditions: Conditions
    actions: tuple[Action, ...]
    stop: bool

    @property
    def needs_contact(self) -> bool:
        """Whether evaluating it needs the sender's contact (name, groups)."""
        return self.conditions.needs_contact or any(
            a.template is not None and "name" in a.template.names for a in self.actions)


def _string(data: dict, name: str, *, required: bool, limit: int, default: str = "") -> str:
    value = data.get(name, default)
    if value is None and not required:
        return default
    if not isinstance(value, str) or (required and not value.strip()):
        raise RuleError(name, "must be a non-empty string" if required else "must be a string")
    if len(value) > limit:
        raise RuleError(name, f"too long: {len(value)} characters, at most {limit}")
    _check_text(name, value)
    return value


def _check_text(name: str, value: str) -> None:
    """Storable text: UTF-8-encodable (no lone surrogate, which JSON "\ud800" gives) and free
    of control characters other than TAB, LF and CR."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RuleError(name, f"is not valid Unicode at position {exc.start}") from None
    bad = _CONTROL.search(value)
    if bad is not None:
        raise RuleError(name, f"must not contain control characters: U+{ord(bad.group()):04X} "
                              f"at position {bad.start()}")


def _bool(data: dict, name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise RuleError(name, f"must be true or false, got {value!r}")
    return value


def _parse_action(raw: Any, where: str) -> tuple[dict[str, Any], Action]:
    """(the action's stored JSON form, the compiled Action)."""
    if not isinstance(raw, dict):
        raise RuleError(where, 'must be an object with a "type"')
    kind = raw.get("type")
    if kind not in ACTION_TYPES:
        raise RuleError(f"{where}.type", f"must be one of {', '.join(ACTION_TYPES)}, got "
                                         f"{kind!r}")
    allowed = {"reply": {"template"}, "forward": {"to", "template"},
               "webhook": {"url", "secret"}, "add_to_group": {"group"},
               "remove_from_group": {"group"}, "blacklist": {"reason"}}[kind] | {"type"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise RuleError(f"{where}.{unknown[0]}", f"not a field of a {kind} action")
    stored: dict[str, Any] = {"type": kind}
    if kind in ("reply", "forward"):
        source = raw.get("template", DEFAULT_FORWARD if kind == "forward" else None)
        try:
            template = compile_template(source)
        except TemplateError as exc:
            raise RuleError(f"{where}.template", str(exc)) from None
        stored["template"] = source
        if kind == "reply":
            return stored, Action("reply", template=template)
        to = raw.get("to")
        if isinstance(to, str):
            to = [to]
        if not isinstance(to, list) or not 0 < len(to) <= MAX_FORWARD:
            raise RuleError(f"{where}.to", f"must be a list of 1 to {MAX_FORWARD} numbers")
        numbers = []
        for i, number in enumerate(to):
            try:
                numbers.append(normalize_number(number))
            except InvalidNumber as exc:
                raise RuleError(f"{where}.to[{i}]", str(exc)) from None
        stored["to"] = numbers
        return stored, Action("forward", template=template, to=tuple(numbers))
    if kind == "webhook":
        # The deliverer's own checks: a URL or secret saved here is one it will POST to.
        try:
            url = check_url(raw.get("url"), f"{where}.url")
            secret = check_secret(raw.get("secret", ""))
        except WebhookInvalid as exc:
            field_name = exc.field if exc.field.startswith(where) else f"{where}.{exc.field}"
            raise RuleError(field_name, str(exc).split(": ", 1)[-1]) from None
        stored.update(url=url, secret=secret)
        return stored, Action("webhook", url=url, secret=secret)
    if kind in ("add_to_group", "remove_from_group"):
        group = raw.get("group")
        if not isinstance(group, int) or isinstance(group, bool) or group <= 0:
            raise RuleError(f"{where}.group", f"must be a group id, got {group!r}")
        stored["group"] = group
        return stored, Action(kind, group=group)
    reason = raw.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 200:
        raise RuleError(f"{where}.reason", "must be a string of at most 200 characters")
    _check_text(f"{where}.reason", reason)
    stored["reason"] = reason
    return stored, Action("blacklist", reason=reason)


@dataclass(frozen=True)
class ParsedRule:
    """A valid rule: its stored form (`fields`) and its compiled parts."""

    fields: dict[str, Any]
    matcher: Matcher
    conditions: Conditions
    actions: tuple[Action, ...]


def parse_rule(data: Any) -> ParsedRule:
    """Validate a whole rule's JSON (RULE_FIELDS; `id` and `position` are not its own)."""
    if not isinstance(data, dict):
        raise RuleError("body", "must be a JSON object")
    unknown = sorted(set(data) - set(RULE_FIELDS))
    if unknown:
        raise RuleError(unknown[0], "unknown field")
    name = _string(data, "name", required=True, limit=MAX_NAME)
    enabled = _bool(data, "enabled", True)
    stop = _bool(data, "stop", True)
    kind = data.get("match", "any")
    if kind not in KINDS:
        raise RuleError("match", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    pattern = data.get("pattern", "")
    if isinstance(pattern, str):
        _check_text("pattern", pattern)
    if kind == "any" and pattern not in ("", None):
        raise RuleError("pattern", 'a rule that matches "any" text takes no pattern')
    try:
        matcher = compile_matcher(kind, "" if pattern is None else pattern)
    except PatternError as exc:
        raise RuleError("pattern", str(exc)) from None
    try:
        conditions = parse_conditions(data.get("conditions"))
    except ConditionError as exc:
        raise RuleError(exc.field, exc.message) from None
    raw_actions = data.get("actions")
    if not isinstance(raw_actions, list) or not 0 < len(raw_actions) <= MAX_ACTIONS:
        raise RuleError("actions", f"must be a list of 1 to {MAX_ACTIONS} actions")
    stored_actions, actions = [], []
    for i, raw in enumerate(raw_actions):
        stored, action = _parse_action(raw, f"actions[{i}]")
        stored_actions.append(stored)
        actions.append(action)
    if sum(1 for a in actions if a.type == "reply") > 1:
        raise RuleError("actions", "at most one reply per rule (one answer per message)")
    fields = {"name": name, "enabled": enabled, "match": kind, "pattern": matcher.pattern,
              "conditions": conditions.describe(), "actions": stored_actions, "stop": stop}
    return ParsedRule(fields, matcher, conditions, tuple(actions))


def compile_rule(rule_id: int, position: int, data: dict[str, Any]) -> Rule:
    """A stored rule compiled (its RULE_FIELDS; the rest of the row, such as its times, is not
    the rule's); RuleError if it no longer validates."""
    parsed = parse_rule({k: data[k] for k in RULE_FIELDS if k in data})
    f = parsed.fields
    return Rule(rule_id, position, f["name"], f["enabled"], parsed.matcher, parsed.conditions,
                parsed.actions, f["stop"])


__all__ = ["ACTION_TYPES", "Action", "DEFAULT_FORWARD", "ParsedRule", "RULE_FIELDS", "Rule",
           "RuleError", "compile_rule", "parse_rule"]
