"""The rules engine: every received SMS answered by the built-in unsubscribe and the rules.

Knows: the order of work for a batch of received messages (what is already handled, the
senders' contacts, the decisions, the side effects, one commit of the log and the handled
marks), the safety state (reply history, own numbers), and the parts it drives: the hub
(SmsReceived), the store, intake (`submit_request`, the one way a message enters), the
blacklist service and the webhook deliverer.
Must not know: SQL (store.rules / store.inbox / store.contacts), HTTP, modems, how a rule
matches (`evaluate`), how the blacklist cancels queued messages.

Once, not twice. A message is handled when its actions ran and its log and handled mark are
committed together (`store.rules.finish`). A crash between the actions and that commit leaves
it unhandled, and at the next start it is handled again (`store.inbox.unhandled`): every
message it sends carries a client_ref made of the inbox id, the rule and the action's place,
so intake answers the second submission with the first one's id and nothing is sent twice.
Blacklisting and group changes are idempotent; a webhook POST may go twice (at least once).

Not slowing sending: evaluation is in memory (rules compiled when they change, not per
message); per batch of received messages there is one read (handled marks, contacts, own
numbers) and one write (log, group changes, handled marks) in the writer's bulk lane; replies
go through intake like any message, in one acceptor batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from appliance.config import RulesConfig
from appliance.dispatch.intake import (
    AllRecipientsBlocked,
    InvalidRequest,
    SendRequest,
    submit_request,
)
from appliance.dispatch.phone import InvalidNumber, normalize_number
from appliance.hub import EventHub, SmsReceived, Subscription
from appliance.inbox.handler import number_of
from appliance.inbox.rules.definition import Rule, RuleError, compile_rule
from appliance.inbox.rules.evaluate import Evaluation, Planned, Received, Sender, evaluate
from appliance.inbox.rules.safety import (
    ReplyHistory,
    keyword_set,
    reply_refusal,
    unsubscribe_intent,
)
from appliance.inbox.rules.text import normalize_text
from appliance.store import contacts as contacts_store
from appliance.store import inbox as inbox_store
from appliance.store import rules as rules_store
from appliance.store.acceptance import IdempotencyConflict
from appliance.store.writer import Store

log = logging.getLogger(__name__)

BATCH = 200
"""Received messages handled together (one read, one write)."""
CATCH_UP = 500
"""Unhandled messages read per round at start."""
PRUNE_AT = 10_000
"""Numbers in the reply history beyond which those past its horizon are forgotten."""
BUILTIN = "unsubscribe (built-in)"


class BlacklistService(Protocol):
    """appliance.contacts.blacklist.Blacklist, as the engine uses it."""

    async def add(self, number: str, reason: str, source: str) -> bool: ...

    async def remove(self, number: str) -> bool: ...


class WebhookPoster(Protocol):
    """appliance.webhooks.Deliverer, as the engine uses it (durable, signed, retried)."""

    async def enqueue_post(self, url: str, event: str, payload: dict,
                           secret: str = "") -> int: ...


class StoreBlacklist:
    """The blacklist through the store alone, for an appliance built without the contacts
    service: numbers are listed, but their queued messages are not cancelled here."""

    def __init__(self, store: Store):
        self.store = store

    async def add(self, number: str, reason: str, source: str) -> bool:
        from appliance.store import blacklist

        return await self.store.write(lambda: blacklist.add(number, reason, source))

    async def remove(self, number: str) -> bool:
        from appliance.store import blacklist

        return await self.store.write(lambda: blacklist.remove(number))


# -- what to do, decided before anything is done ----------------------------------------------


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
    """What the engine decided for one message: steps to run, refusals already logged."""

    message: Received
    history: ReplyHistory
    dry: bool = False
    steps: list[Step] = field(default_factory=list)
    blocked: list[rules_store.LogEntry] = field(default_factory=list)
    evaluation: Evaluation | None = None
    intent: str | None = None


class RulesEngine:
    """Subscribes to SmsReceived; answers each received message once."""

    def __init__(self, config: RulesConfig, store: Store, hub: EventHub, dispatcher: Any, *,
                 timezone: str = "Asia/Shanghai", blacklist: BlacklistService | None = None,
                 webhooks: WebhookPoster | None = None,
                 clock: Callable[[], datetime] | None = None, default_region: str = "CN"):
        self.config = config
        self.store = store
        self.hub = hub
        self.dispatcher = dispatcher
        self.tz = ZoneInfo(timezone)
        # Not `blacklist or ...`: an empty Blacklist has len 0 and is falsy.
        self.blacklist: BlacklistService = (blacklist if blacklist is not None
                                            else StoreBlacklist(store))
        self.webhooks = webhooks
        self.clock = clock or (lambda: datetime.now(UTC))
        self.default_region = default_region
        self.rules: list[Rule] = []
        self.broken: dict[int, str] = {}  # stored rules that no longer compile: id -> why
        self.needs_contacts = False
        self.needs_groups = False
        self.unsubscribe = keyword_set(config.unsubscribe_keywords)
        self.resubscribe = keyword_set(config.resubscribe_keywords)
        self.history = ReplyHistory(timedelta(seconds=config.reply_cooldown_seconds),
                                    config.loop_limit,
                                    timedelta(seconds=config.loop_window_seconds))
        self.own_numbers: frozenset[str] = frozenset()
        self.handled = 0  # messages handled since start (tests, benchmark)
        self.loops = 0  # replies refused as a loop since start
        self._loop_warned: dict[str, datetime] = {}
        self._subscription: Subscription | None = None
        self._task: asyncio.Task | None = None
        self._reloading = asyncio.Lock()

    # -- life ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load rules and safety state, subscribe, then answer what a crash left unanswered."""
        await self.reload()
        since = self.clock() - self.history.horizon
        self.history.load(await self.store.read(lambda: rules_store.recent_replies(since)))
        # Subscribe before the catch-up: a message stored meanwhile is then either in the
        # catch-up or in the queue (or both: the handled check skips the second).
        self._subscription = self.hub.subscribe("rules", [SmsReceived])
        await self._catch_up()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="rules")

    async def stop(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
        if self._task is not None:
            try:
                await self._task  # it finishes the batch in hand, then sees the close
            except Exception:  # noqa: BLE001 - logged by _run
                pass
        self._task = None

    async def reload(self) -> None:
        """Recompile the rules from the table (after every change through the API). One at a
        time: a reload that read before a later change must not install its older list after
        the later reload installed the newer one."""
        async with self._reloading:
            await self._reload()

    async def _reload(self) -> None:
        rows = await self.store.read(rules_store.list_rules)
        rules, broken = [], {}
        for row in rows:
            try:
                rules.append(compile_rule(row["id"], row["position"], row))
            except RuleError as exc:  # stored by an older version, or edited by hand
                broken[row["id"]] = str(exc)
                log.error("rule %s (%r) cannot be used and is skipped: %s", row["id"],
                          row["name"], exc)
        self.rules, self.broken = rules, broken
        self.needs_contacts = any(r.needs_contact for r in rules if r.enabled)
        self.needs_groups = any(r.conditions.senders == "group" for r in rules if r.enabled)

    async def _catch_up(self) -> None:
        seen: set[int] = set()
        while True:
            rows = await self.store.read(lambda: inbox_store.unhandled(CATCH_UP))
            fresh = [r for r in rows if r["id"] not in seen]
            if not fresh:
                return
            seen.update(r["id"] for r in fresh)
            log.info("rules: answering %d message(s) received before the last stop",
                     len(fresh))
            await self.handle([Received(r["id"], r["sender"], r["number"], r["text"], r["sim"],
                                        r["received_at"]) for r in fresh])
            if len(rows) < CATCH_UP:
                return

    async def _run(self) -> None:
        assert self._subscription is not None
        while True:
            events = await self._subscription.batch(BATCH)
            if not events:
                return
            items = [Received(e.inbox_id, e.sender, number_of(e.sender, self.default_region),
                              e.text, e.sim, e.at)
                     for e in events if isinstance(e, SmsReceived)]
            try:
                await self.handle(items)
            except Exception:
                # Left unhandled: answered at the next start (the client_refs keep it once).
                log.exception("rules: a batch of %d received message(s) failed", len(items))

    # -- one batch -------------------------------------------------------------------------
    async def handle(self, items: list[Received]) -> None:
        """Answer these received messages (those not handled yet), then mark them handled."""
        if not items:
            return
        ids = [m.inbox_id for m in items]
        numbers = {m.number for m in items}
        need_contacts, need_groups = self.needs_contacts, self.needs_groups

        def read() -> tuple[set[int], dict[str, dict], dict[str, set[int]], list[str]]:
            done = rules_store.handled_among(ids)
            found = contacts_store.contacts_for_numbers(numbers) if need_contacts else {}
            groups = ({n: contacts_store.group_ids_of_number(n) for n in found}
                      if need_groups else {})
            return done, found, groups, rules_store.own_numbers()

        done, found, groups, own = await self.store.read(read)
        self.own_numbers = frozenset(self._own(own))
        now = self.clock()
        decisions = []
        seen: set[int] = set()
        for message in items:
            if message.inbox_id in done or message.inbox_id in seen:
                continue
            seen.add(message.inbox_id)
            contact = found.get(message.number)
            sender = Sender(name=contact["name"] if contact else "", known=contact is not None,
                            group_ids=frozenset(groups.get(message.number, ())))
            decisions.append(self.decide(message, sender, now))
        if not decisions:
            return
        await self._run_steps(decisions)
        entries: list[rules_store.LogEntry] = []
        group_steps: list[Step] = []
        for d in decisions:
            entries.extend(d.blocked)
            for step in d.steps:
                if step.kind in ("group_add", "group_remove"):
                    group_steps.append(step)
                else:
                    entries.append(self._entry(d.message, step, now))
        handled = [d.message.inbox_id for d in decisions]
        by_step = {id(s): d.message for d in decisions for s in d.steps}

        def finish() -> None:
            for step in group_steps:
                change = (contacts_store.add_number_to_group if step.kind == "group_add"
                          else contacts_store.remove_number_from_group)
                try:
                    with rules_store.savepoint():
                        change(step.number, step.group)
                except Exception as exc:  # noqa: BLE001 - GroupNotFound...: logged, not fatal
                    step.outcome, step.detail = "failed", str(exc)
                else:
                    step.detail = f"group {step.group}"
                entries.append(self._entry(by_step[id(step)], step, now))
            rules_store.finish(entries, handled, now)

        await self.store.write(finish)
        self.handled += len(handled)
        if len(self.history) > PRUNE_AT:
            self.history.prune(now)
            self._loop_warned = {n: t for n, t in self._loop_warned.items()
                                 if now - t < self.history.loop_window}

    @staticmethod
    def _entry(message: Received, step: Step, now: datetime) -> rules_store.LogEntry:
        return rules_store.LogEntry(now, step.rule_id, step.rule_name, message.inbox_id,
                                    step.number, step.action, step.outcome, step.detail,
                                    step.message_id)

    def _own(self, raw: list[str]) -> set[str]:
        out = set()
        for number in raw:
            try:
                out.add(normalize_number(number, self.default_region))
            except InvalidNumber:
                out.add(number)
        return out

    # -- deciding --------------------------------------------------------------------------
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
        decision.blocked.append(rules_store.LogEntry(now, rule_id, rule_name,
                                                     decision.message.inbox_id, number, action,
                                                     "blocked", why))

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
        if intent == "unsubscribe":
            reason = f"replied {message.text.strip()[:40]!r} to SIM {message.sim}"
            decision.steps.append(Step("blacklist", None, BUILTIN, "unsubscribe", number,
                                       reason=reason))
            text = self.config.unsubscribe_reply
        else:
            decision.steps.append(Step("unblacklist", None, BUILTIN, "resubscribe", number))
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
                ignore_blacklist=True))

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

    # -- doing -----------------------------------------------------------------------------
    async def _run_steps(self, decisions: list[Decision]) -> None:
        """Blacklist changes first (a confirmation must find the number already listed or
        unlisted), then every message at once (intake batches them), then webhooks."""
        steps = [s for d in decisions for s in d.steps]
        for step in steps:
            if step.kind in ("blacklist", "unblacklist"):
                source = "sms" if step.rule_id is None else "rule"
                try:
                    if step.kind == "blacklist":
                        new = await self.blacklist.add(step.number, step.reason, source)
                        step.detail = ("added: " if new else "already listed: ") + step.reason
                    else:
                        gone = await self.blacklist.remove(step.number)
                        step.detail = "removed" if gone else "was not listed"
                except Exception as exc:  # noqa: BLE001 - logged with the action
                    step.outcome, step.detail = "failed", str(exc)
        sends = [s for s in steps if s.kind == "send"]
        await asyncio.gather(*(self._send(s) for s in sends))
        for step in steps:
            if step.kind == "webhook":
                await self._post(step)

    async def _send(self, step: Step) -> None:
        request = SendRequest(to=list(step.to), text=step.text, client_ref=step.client_ref,
                              submitter_kind="system",
                              submitter_id=f"rules:{step.rule_id or 'unsubscribe'}",
                              via_sim=step.via_sim, ignore_blacklist=step.ignore_blacklist)
        try:
            accepted = await submit_request(self.dispatcher, request)
        except IdempotencyConflict:
            # Answered before a crash, with a text that has changed since (a contact renamed):
            # the first answer stands.
            step.detail = "already answered before a restart"
            return
        except AllRecipientsBlocked as exc:
            step.outcome, step.detail = "blocked", str(exc)
            return
        except InvalidRequest as exc:
            step.outcome, step.detail = "failed", str(exc)
            return
        except Exception as exc:  # noqa: BLE001 - the message is still marked handled
            log.exception("rules: sending %s for rule %s failed", step.action, step.rule_id)
            step.outcome, step.detail = "failed", f"{type(exc).__name__}: {exc}"
            return
        step.message_id = accepted.ids[0] if accepted.ids else None
        step.detail = f"to {', '.join(accepted.recipients)}: {step.text[:120]}"
        if accepted.rejected:
            step.detail += "; not to " + ", ".join(f"{n} ({why})" for n, why in accepted.rejected)

    async def _post(self, step: Step) -> None:
        if self.webhooks is None:
            step.outcome, step.detail = "failed", "webhooks are not available in this build"
            return
        try:
            delivery = await self.webhooks.enqueue_post(step.url, "rule.matched", step.payload,
                                                        step.secret)
        except Exception as exc:  # noqa: BLE001 - logged with the action
            step.outcome, step.detail = "failed", str(exc)
        else:
            step.detail = f"POST {step.url} queued (delivery {delivery})"

    # -- the dry run -----------------------------------------------------------------------
    async def dry_run(self, sender: str, text: str, sim: str = "",
                      at: datetime | None = None) -> dict[str, Any]:
        """What the rules would do with this message now: nothing is sent or written."""
        at = at or self.clock()
        number = number_of(sender, self.default_region)
        need_contacts, need_groups = True, self.needs_groups

        def read() -> tuple[dict | None, set[int], list[str]]:
            contact = contacts_store.contact_for_number(number) if need_contacts else None
            groups = contacts_store.group_ids_of_number(number) if need_groups else set()
            return contact, groups, rules_store.own_numbers()

        contact, groups, own = await self.store.read(read)
        self.own_numbers = frozenset(self._own(own))
        message = Received(0, sender, number, text, sim, at)
        who = Sender(name=(contact or {}).get("name", ""), known=contact is not None,
                     group_ids=frozenset(groups))
        decision = self.decide(message, who, at, dry=True)
        evaluation = decision.evaluation
        return {
            "number": number,
            "normalized_text": normalize_text(text),
            "contact": None if contact is None else {"id": contact["id"],
                                                     "name": contact["name"]},
            "unsubscribe": decision.intent,
            "rules": [{"id": c.rule_id, "name": c.name, "matched": c.matched, "why": c.why}
                      for c in (evaluation.considered if evaluation else [])],
            "stopped_by": evaluation.stopped_by if evaluation else None,
            "actions": [_step_view(s) for s in decision.steps],
            "blocked": [{"rule_id": b.rule_id, "rule": b.rule_name, "action": b.action,
                         "number": b.number, "why": b.detail} for b in decision.blocked],
            "broken_rules": [{"id": k, "error": v} for k, v in sorted(self.broken.items())],
        }


def _step_view(step: Step) -> dict[str, Any]:
    out: dict[str, Any] = {"rule_id": step.rule_id, "rule": step.rule_name,
                           "action": step.action}
    if step.kind == "send":
        out.update(to=list(step.to), text=step.text, via_sim=step.via_sim)
    elif step.kind == "webhook":
        out.update(url=step.url, payload=step.payload)
    elif step.kind in ("group_add", "group_remove"):
        out.update(number=step.number, group=step.group)
    else:
        out.update(number=step.number, reason=step.reason)
    return out


__all__ = ["BlacklistService", "RulesEngine", "StoreBlacklist", "WebhookPoster"]
