"""The appliance's policy layer, assembled from configuration: which checks run, in what order.

Knows: every check module and the order they must run in (content before recipients before
money before holds: a refused word costs nothing; a duplicate is not charged; only what will
be sent waits for approval). Within content: forbidden words first, on the text as the
submitter wrote it; then the unsubscribe hint; then the signature, last, so that an
end-placed signature ends the text and the part count includes all three.
Must not know: HTTP, modems.
The recipient cap comes first (its `prepare` refuses before the numbers are parsed); dedupe
after the content checks (it identifies the text as sent, signature included) and before the
money; the quiet-hours/maintenance note after approval; the audit entry last.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime

from appliance.audit import AuditLog
from appliance.config import Config
from appliance.policy.approval import ApprovalCheck
from appliance.policy.consent import ConsentCheck
from appliance.policy.dedupe import build_dedupe
from appliance.policy.hold_note import HoldNote
from appliance.policy.layer import Check, PolicyLayer
from appliance.policy.maintenance import Maintenance, rules_from_config
from appliance.policy.quota import QuotaCheck
from appliance.policy.recipient_cap import RecipientCap
from appliance.policy.signature import SignatureCheck
from appliance.policy.unsubscribe import UnsubscribeHintCheck
from appliance.policy.words import ForbiddenWordsCheck
from appliance.store import accounts as accounts_store
from appliance.store import forbidden_words as words_store
from appliance.store import signatures as signatures_store
from appliance.store.approvals import Rule
from appliance.store.writer import Store


async def build_policy(config: Config, store: Store, clock: Callable[[], datetime],
                       audit: AuditLog | None = None, *,
                       maintenance: Maintenance | None = None,
                       recipient_caps: RecipientCap | None = None) -> PolicyLayer:
    """The layer every send passes (intake's `submit_request` runs it). `audit`: the
    appliance's log (one is made on `store` if none is given). `maintenance` and
    `recipient_caps`: the appliance's own (the dispatcher and the API share them); made here
    when not given."""
    from appliance.audit.check import AuditCheck

    tz = zoneinfo.ZoneInfo(config.dispatch.timezone)
    if maintenance is None:
        maintenance = Maintenance(store, rules_from_config(config), clock)
        await maintenance.load()
    if recipient_caps is None:
        recipient_caps = RecipientCap(store, config.policy_limits.max_recipients_per_send)
        await recipient_caps.load()
    words = await store.read(words_store.all_words)
    departments = await store.read(signatures_store.all_signatures)
    short_names = await store.read(accounts_store.short_names)
    dedupe = build_dedupe(config, store, tz)
    await dedupe.load(clock() if clock is not None else datetime.now(UTC))  # before any send
    a = config.approval
    checks: list[Check] = [
        # First: its `prepare` refuses a send over the cap before 10,000 numbers are parsed.
        recipient_caps,
        ForbiddenWordsCheck(words),
        UnsubscribeHintCheck(config.policy),
        SignatureCheck(config.policy, departments, short_names),
        ConsentCheck(config.consent, store),
        # After the content checks: the text it identifies is the text as sent; before the
        # money: a duplicate is not charged.
        dedupe,
        # Money, then holds.
        QuotaCheck(store, tz, config.quotas.on_excess),
        ApprovalCheck(store, clock, Rule(a.mode, a.above, tuple(a.categories))),
        HoldNote(maintenance.schedule),  # tells when quiet hours or maintenance let it go
    ]
    # LAST: the audit entry records the request as the other checks left it.
    checks.append(AuditCheck(audit or AuditLog(store, clock)))
    return PolicyLayer(checks)


def check_named(layer: PolicyLayer | None, name: str) -> Check | None:
    """The layer's check called `name` (the API updates the words and signatures it holds in
    memory after each change), or None when the layer has none."""
    for check in (layer.checks if layer is not None else ()):
        if check.name == name:
            return check
    return None
