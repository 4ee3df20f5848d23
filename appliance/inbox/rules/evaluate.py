"""Which rules match a received message, in order, and the actions they plan: pure.

Knows: rule order, "stop here", how a matching rule's actions become planned actions with
their exact texts. Must not know: storage, the clock, sending, safety (the engine decides
whether a planned reply may go; the dry run shows both).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from appliance.inbox.rules.conditions import Facts
from appliance.inbox.rules.definition import Action, Rule
from appliance.inbox.rules.template import placeholder_values
from appliance.inbox.rules.text import normalize_text


@dataclass(frozen=True)
class Received:
    """An inbound message as the rules see it."""

    inbox_id: int
    sender: str  # as received
    number: str  # E.164 when the sender normalises, else the sender as received
    text: str
    sim: str  # ICCID that received it
    received_at: datetime  # aware


@dataclass(frozen=True)
class Sender:
    """What the address book says about the sender."""

    name: str = ""
    known: bool = False
    group_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Considered:
    rule_id: int
    name: str
    matched: bool
    why: str


@dataclass(frozen=True)
class Planned:
    """One action a matching rule would run, with the text it would send."""

    rule_id: int
    rule_name: str
    index: int  # the action's place in its rule
    action: Action
    to: tuple[str, ...] = ()  # reply: the sender's number; forward: the action's numbers
    text: str | None = None


@dataclass
class Evaluation:
    normalized: str
    planned: list[Planned] = field(default_factory=list)
    considered: list[Considered] = field(default_factory=list)  # filled when explaining
    stopped_by: int | None = None  # the rule whose `stop` ended the evaluation

    @property
    def matched(self) -> list[int]:
        return [c.rule_id for c in self.considered if c.matched]


def evaluate(rules: list[Rule], message: Received, sender: Sender, tz: ZoneInfo, *,
             explain: bool = False) -> Evaluation:
    """Rules in order (disabled ones skipped): keyword first (cheap), then conditions; each
    matching rule's actions are planned; a matching rule with `stop` ends it. `explain` also
    records every rule looked at and why it did (not) match (the dry run)."""
    text = normalize_text(message.text)
    out = Evaluation(text)
    local = message.received_at.astimezone(tz)
    facts: Facts | None = None
    values: dict[str, str] | None = None
    for rule in rules:
        if not rule.enabled:
            if explain:
                out.considered.append(Considered(rule.id, rule.name, False, "disabled"))
            continue
        why = rule.matcher.match(text)
        if why is None:
            if explain:
                out.considered.append(Considered(rule.id, rule.name, False,
                                                 f"text does not match ({rule.matcher.kind} "
                                                 f"{rule.matcher.pattern!r})"))
            continue
        if facts is None:
            facts = Facts(message.sim, local, sender.known, sender.group_ids)
        failed = rule.conditions.check(facts)
        if failed is not None:
            if explain:
                out.considered.append(Considered(rule.id, rule.name, False, failed))
            continue
        out.considered.append(Considered(rule.id, rule.name, True, why))
        for index, action in enumerate(rule.actions):
            text_out = None
            if action.template is not None:
                if values is None:
                    values = placeholder_values(
                        name=sender.name, text=message.text, number=message.number,
                        sender=message.sender, date=f"{local:%Y-%m-%d}", time=f"{local:%H:%M}")
                text_out = action.template.render(values)
            to = (message.number,) if action.type == "reply" else action.to
            out.planned.append(Planned(rule.id, rule.name, index, action, to, text_out))
        if rule.stop:
            out.stopped_by = rule.id
            break
    return out


__all__ = ["Considered", "Evaluation", "Planned", "Received", "Sender", "evaluate"]
