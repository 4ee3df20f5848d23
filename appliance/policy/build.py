"""The appliance's policy layer, assembled from configuration: which checks run, in what order.

Knows: every check module and the order they must run in (content before recipients before
money before holds: a refused word costs nothing; a duplicate is not charged; only what will
be sent waits for approval).
Must not know: HTTP, modems.

Order of the checks here (helper branches add theirs between them):
1. recipient_cap — in `prepare`, before 10,000 numbers are parsed for a send over the cap;
2. (content: signature, words, unsubscribe hint, consent);
3. dedupe — late, so the text it identifies is the text as sent (signature included);
4. (money: quota, balance; approval);
5. waiting — the note that quiet hours or maintenance hold what was accepted.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import datetime

from appliance.config import Config
from appliance.policy.dedupe import build_dedupe
from appliance.policy.hold_note import HoldNote
from appliance.policy.layer import Check, PolicyLayer
from appliance.policy.maintenance import Maintenance, rules_from_config
from appliance.policy.recipient_cap import RecipientCap
from appliance.store.writer import Store


async def build_policy(config: Config, store: Store, clock: Callable[[], datetime], *,
                       maintenance: Maintenance | None = None,
                       recipient_caps: RecipientCap | None = None) -> PolicyLayer:
    """The layer every send passes (intake's `submit_request` runs it). `maintenance` and
    `recipient_caps`: the appliance's own (the dispatcher and the API share them); made here
    when not given."""
    tz = zoneinfo.ZoneInfo(config.dispatch.timezone)
    if maintenance is None:
        maintenance = Maintenance(store, rules_from_config(config), clock)
        await maintenance.load()
    if recipient_caps is None:
        recipient_caps = RecipientCap(store, config.policy_limits.max_recipients_per_send)
        await recipient_caps.load()
    checks: list[Check] = [
        recipient_caps,
        build_dedupe(config, store, tz),
        HoldNote(maintenance.schedule),
    ]
    return PolicyLayer(checks)
