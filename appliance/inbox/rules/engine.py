"""The rules engine: every received SMS answered by the built-in unsubscribe and the rules.

Knows: the order of work for a batch of received messages (what is already handled, the
senders' contacts and the box's own numbers, the decisions, the side effects, one commit of the
log and the handled marks), and the parts it drives: the hub (SmsReceived), the store, intake
(`submit_request`, the one way a message enters), the blacklist service and the webhook
deliverer. Must not know: SQL (store.rules / store.inbox / store.contacts), HTTP, modems, what
to do with a message (`decide`: the unsubscribe, the rules, the safety catch), how the
blacklist cancels queued messages.

Once, not twice. A message is handled when its actions ran and its log and handled mark are
committed together (`store.rules.finish`). A crash between the actions and that commit leaves
it unhandled, and at the next start it is handled again (`store.inbox.unhandled`): every
message it sends carries a client_ref made of the inbox id, the rule and the action's place,
so intake answers the second submission with the first one's id and nothing is sent twice.
Blacklisting and group changes are idempotent; a webhook POST may go twice (at least once).
A message is answered once in its life: a partial message is answered as it was stored, and
the SmsReceived the inbox publishes again when a late part completes it finds it handled.

Not slowing sending: evaluation is in memory (rules compiled when they change, not per
message); per batch of received messages there is one read (handled marks, contacts, own
numbers) and one write (log, group changes, handled marks) in the writer's bulk lane; replies
go through intake like any message, in one acceptor batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from appliance.config import RulesConfig
from appliance.contacts.numbers import stored_or_given
from appliance.dispatch.intake import (
    AllRecipientsBlocked,
    InvalidRequest,
    SendRequest,
    submit_request,
)
from appliance.dispatch.phone import InvalidNumber, normalize_number
from appliance.hub import EventHub, SmsReceived, Subscription
from appliance.inbox.handler import number_of
from appliance.inbox.rules.decide import Decider, Decision, Step
from appliance.inbox.rules.definition import Rule, RuleError, compile_rule
from appliance.inbox.rules.evaluate import Received, Sender
from appliance.inbox.rules.text import normalize_text
from appliance.policy.origin import Origin
from appliance.store import consent as consent_store
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


class BlacklistService(Protocol):
    """appliance.contacts.blacklist.Blacklist, as the engine uses it."""

    async def add(self, number: str, reason: str, source: str) -> bool: ...

    async def remove(self, number: str) -> bool: ...


class WebhookPoster(Protocol):
    """appliance.webhooks.Deliverer, as the engine uses it (durable, signed, retried)."""

    async def enqueue_post(self, url: str, event: str, payload: dict,
                           secret: str = "") -> int: ...


class RulesEngine:
    """Subscribes to SmsReceived; answers each received message once."""

    def __init__(self, config: RulesConfig, store: Store, hub: EventHub, dispatcher: Any,
                 blacklist: BlacklistService, *, timezone: str = "Asia/Shanghai",
                 webhooks: WebhookPoster | None = None,
                 clock: Callable[[], datetime] | None = None, default_region: str = "CN"):
        self.config = config
        self.store = store
        self.hub = hub
        self.dispatcher = dispatcher
        self.decider = Decider(config, timezone)
        self.blacklist = blacklist
        self.webhooks = webhooks
        self.clock = clock or (lambda: datetime.now(UTC))
        self.default_region = default_region
        self.broken: dict[int, str] = {}  # stored rules that no longer compile: id -> why
        self.needs_contacts = False
        self.needs_groups = False
        self.handled = 0  # messages handled since start (tests, benchmark)
        self._subscription: Subscription | None = None
        self._task: asyncio.Task | None = None
        self._reloading = asyncio.Lock()

    @property
    def rules(self) -> list[Rule]:
        """The compiled rules in force, in order."""
        return self.decider.rules

    @property
    def loops(self) -> int:
        """Replies refused as a loop since start."""
        return self.decider.loops

    # -- life ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load rules and safety state, subscribe, then answer what a crash left unanswered."""
        await self.reload()
        since = self.clock() - self.decider.history.horizon
        self.decider.history.load(await self.store.read(lambda: rules_store.recent_replies(since)))
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
        self.decider.rules, self.broken = rules, broken
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
        self.decider.own_numbers = frozenset(self._own(own))
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
            decisions.append(self.decider.decide(message, sender, now))
        if not decisions:
            return
        await self._run_steps(decisions)
        entries: list[rules_store.LogEntry] = []
        group_steps: list[Step] = []
        for d in decisions:
            entries.extend(rules_store.LogEntry(now, b.rule_id, b.rule_name, d.message.inbox_id,
                                                b.number, b.action, "blocked", b.why)
                           for b in d.blocked)
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
        if len(self.decider.history) > PRUNE_AT:
            self.decider.forget_old(now)

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
                        # The built-in 订阅/START undoes the number's own 退订/TD, never
                        # an entry a user or a rule made (a complaint, a wrong number).
                        gone = await self.blacklist.remove(
                            step.number, ("sms",) if step.rule_id is None else None)
                        step.detail = "removed" if gone else "was not listed"
                    if step.rule_id is None:  # the recipient's own word: their consent too
                        await self._record_consent(step)
                except Exception as exc:  # noqa: BLE001 - logged with the action
                    step.outcome, step.detail = "failed", str(exc)
        sends = [s for s in steps if s.kind == "send"]
        await asyncio.gather(*(self._send(s) for s in sends))
        for step in steps:
            if step.kind == "webhook":
                await self._post(step)

    async def _record_consent(self, step: Step) -> None:
        """A 退订/TD/STOP withdraws the number's marketing consent, a 订阅/START grants it
        (policy.consent): kept apart from the blacklist, so that taking a number off the
        blacklist by hand does not bring its marketing back."""
        state = "withdrawn" if step.kind == "blacklist" else "granted"
        number = stored_or_given(step.number, self.default_region)
        at = self.clock()
        await self.store.write(lambda: consent_store.record(number, state, "reply",
                                                            step.reason, at))

    async def _send(self, step: Step) -> None:
        request = SendRequest(to=list(step.to), text=step.text, client_ref=step.client_ref,
                              submitter_kind="system",
                              submitter_id=f"rules:{step.rule_id or 'unsubscribe'}",
                              via_sim=step.via_sim, ignore_blacklist=step.ignore_blacklist,
                              origin=Origin(door="rules"))
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
        self.decider.own_numbers = frozenset(self._own(own))
        message = Received(0, sender, number, text, sim, at)
        who = Sender(name=(contact or {}).get("name", ""), known=contact is not None,
                     group_ids=frozenset(groups))
        decision = self.decider.decide(message, who, at, dry=True)
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
                         "number": b.number, "why": b.why} for b in decision.blocked],
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


__all__ = ["BlacklistService", "RulesEngine", "WebhookPoster"]
