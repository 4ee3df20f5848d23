"""What to do with one received message: the built-in unsubscribe, the rules' actions and
the safety catch, decided before anything is done.

Knows: the order of the decisions (unsubscribe first, and then no rule; each planned action
through the safety catch), the reply history and the box's own numbers, the client_ref each
message carries (the inbox id, the rule, the action's place: what makes a second run after a
crash a replay), and the steps the engine will run. Must not know: storage, sending, the hub,
the clock (times are passed in). The engine (`engine`) runs the steps and logs them; the dry
run shows them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from appliance.config import RulesConfig
from appliance.inbox.rules.definition import Rule
from appliance.inbox.rules.evaluate import Evaluation, Planned, Received, Sender, evaluate
from appliance.inbox.rules.safety import (
    ReplyHistory,
    keyword_set,
    reply_refusal,
    unsubscribe_intent,
)
from appliance.inbox.rules.text import normalize_text

log = logging.getLogger(__name__)

BUILTIN = "unsubscribe (built-in)"


@dataclass(frozen=True)
class Refusal:
    """An action the safety catch (or a rule's own limits) refused."""

    rule_id: int | None
    rule_name: str
    action: str
    number: str
    why: str



@dataclass
class Step:
    """One side effect decided for a message, and the log entry it becomes."""

    kind: str  # send / blacklist / unblacklist / webhook / group_add / group_remove
    rule_id: int | None
    rule_name: str
    action: str  # as logged: reply / forward / webhook / ... / unsubscribe / resubscribe
    number: str  # whom it concerns (logged)
    to: tuple[str, ...] = ()
    text: str = ""
    via_sim: str | None = None
    client_ref: str = ""
    ignore_blacklist: bool = False
    url: str = ""
    secret: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    group: int | None = None
    reason: str = ""
    # Filled in when done:
    outcome: str = "done"
    detail: str = ""
    message_id: int | None = None


@dataclass
class Decision:
    """What was decided for one message: the steps to run, and what was refused."""

    message: Received
    history: ReplyHistory
    dry: bool = False
    steps: list[Step] = field(default_factory=list)
    blocked: list[Refusal] = field(default_factory=list)
    evaluation: Evaluation | None = None
    intent: str | None = None


class Decider:
    """The rules in force and the safety state; `decide` per message."""

    def __init__(self, config: RulesConfig, timezone: str = "Asia/Shanghai"):
        self.config = config
        self.tz = ZoneInfo(timezone)
        self.rules: list[Rule] = []
        self.unsubscribe = keyword_set(config.unsubscribe_keywords)
        self.resubscribe = keyword_set(config.resubscribe_keywords)
        self.history = ReplyHistory(timedelta(seconds=config.reply_cooldown_seconds),
                                    config.loop_limit,
                                    timedelta(seconds=config.loop_window_seconds))
        self.own_numbers: frozenset[str] = frozenset()
        self.loops = 0  # replies refused as a loop since start
        self._loop_warned: dict[str, datetime] = {}

    def forget_old(self, now: datetime) -> None:
        """Drop reply history and loop warnings past their windows (bounds memory)."""
        self.history.prune(now)
        self._loop_warned = {n: t for n, t in self._loop_warned.items()
                             if now - t < self.history.loop_window}
    def decide(self, message: Received, sender: Sender, now: datetime, *, dry: bool = False
               ) -> Decision:
        """What to do for one message. The replies decided are recorded in the reply history
        (a second reply to the same message meets the cooldown the first one starts); a `dry`
        run plays on a copy, warns of nothing, and keeps every rule's verdict."""
        history = self.history.copy_for(message.number) if dry else self.history
        decision = Decision(message, history=history, dry=dry)
        explain = dry
        normalized = normalize_text(message.text)
        intent = unsubscribe_intent(normalized, self.unsubscribe, self.resubscribe)
        if intent is not None and message.number.startswith("+"):
            decision.intent = intent
            self._decide_unsubscribe(decision, intent, now)
            return decision  # an unsubscribe is not also answered by the rules
        evaluation = evaluate(self.rules, message, sender, self.tz, explain=explain)
        decision.evaluation = evaluation
        for planned in evaluation.planned:
            self._decide_action(decision, planned, now)
        return decision

    def _block(self, decision: Decision, rule_id: int | None, rule_name: str, action: str,
               number: str, why: str, now: datetime) -> None:
        decision.blocked.append(Refusal(rule_id, rule_name, action, number, why))

    def _reply_allowed(self, decision: Decision, rule_id: int | None, rule_name: str,
                       action: str, now: datetime, *, cooldown: bool = True) -> bool:
        message, history = decision.message, decision.history
        why = reply_refusal(message.sender, message.number, self.own_numbers)
        if why is None:
            refused = history.refusal(message.number, now)
            if refused is not None and (cooldown or refused[0] == "loop"):
                kind, why = refused
                if kind == "loop" and not decision.dry:
                    self.loops += 1
                    self._warn_loop(message.number, why, now)
        if why is not None:
            self._block(decision, rule_id, rule_name, action, message.number, why, now)
            return False
        history.record(message.number, now)
        return True

    def _warn_loop(self, number: str, why: str, now: datetime) -> None:
        last = self._loop_warned.get(number)
        if last is None or now - last >= self.history.loop_window:
            self._loop_warned[number] = now
            log.warning("rules: automatic replies to %s stopped: %s", number, why)

    def _decide_unsubscribe(self, decision: Decision, intent: str, now: datetime) -> None:
        message = decision.message
        number = message.number
        reason = f"replied {message.text.strip()[:40]!r} to SIM {message.sim}"
        if intent == "unsubscribe":
            decision.steps.append(Step("blacklist", None, BUILTIN, "unsubscribe", number,
                                       reason=reason))
            text = self.config.unsubscribe_reply
        else:
            decision.steps.append(Step("unblacklist", None, BUILTIN, "resubscribe", number,
                                       reason=reason))
            text = self.config.resubscribe_reply
        if not text:
            return
        # A confirmation is not held back by the cooldown (a quick TD after another answer
        # still gets its confirmation), but it counts for it, and a loop stops it too.
        if self._reply_allowed(decision, None, BUILTIN, intent + "_reply", now,
                               cooldown=False):
            decision.steps.append(Step(
                "send", None, BUILTIN, intent + "_reply", number, to=(number,), text=text,
                via_sim=message.sim or None, client_ref=f"rules:{message.inbox_id}:{intent}",
                # a 订阅 from a number a user blacklisted is not confirmed: it stays listed
                ignore_blacklist=intent == "unsubscribe"))

    def _decide_action(self, decision: Decision, planned: Planned, now: datetime) -> None:
        message, action = decision.message, planned.action
        rid, name = planned.rule_id, planned.rule_name
        ref = f"rules:{message.inbox_id}:{rid}:{planned.index}"
        if action.type == "reply":
            if self._reply_allowed(decision, rid, name, "reply", now):
                decision.steps.append(Step("send", rid, name, "reply", message.number,
                                           to=planned.to, text=planned.text or "",
                                           via_sim=message.sim or None, client_ref=ref))
        elif action.type == "forward":
            if message.number in self.own_numbers:
                self._block(decision, rid, name, "forward", message.number,
                            f"{message.number} is one of this box's own SIMs (a forward "
                            "could loop)", now)
            else:
                decision.steps.append(Step("send", rid, name, "forward", message.number,
                                           to=planned.to, text=planned.text or "",
                                           client_ref=ref))
        elif action.type == "webhook":
            payload = {"rule_id": rid, "rule": name, "inbox_id": message.inbox_id,
                       "sender": message.sender, "number": message.number,
                       "text": message.text, "sim": message.sim,
                       "received_at": message.received_at.isoformat()}
            decision.steps.append(Step("webhook", rid, name, "webhook", message.number,
                                       url=action.url, secret=action.secret, payload=payload))
        elif action.type in ("add_to_group", "remove_from_group"):
            kind = "group_add" if action.type == "add_to_group" else "group_remove"
            decision.steps.append(Step(kind, rid, name, action.type, message.number,
                                       group=action.group))
        elif action.type == "blacklist":
            if not message.number.startswith("+"):
                self._block(decision, rid, name, "blacklist", message.number,
                            "not a phone number: nothing is ever sent to it", now)
            else:
                decision.steps.append(Step("blacklist", rid, name, "blacklist", message.number,
                                           reason=action.reason or f"rule {name!r}"))


__all__ = ["BUILTIN", "Decider", "Decision", "Refusal", "Step"]
