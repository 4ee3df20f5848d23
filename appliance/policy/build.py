"""The appliance's policy layer, assembled from configuration: which checks run, in what order.

Knows: every check module and the order they must run in (content before recipients before
money before holds: a refused word costs nothing; a duplicate is not charged; only what will
be sent waits for approval).
Must not know: HTTP, modems.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import datetime

from appliance.config import Config
from appliance.policy.approval import ApprovalCheck
from appliance.policy.layer import Check, PolicyLayer
from appliance.policy.quota import QuotaCheck
from appliance.store.approvals import Rule
from appliance.store.writer import Store


async def build_policy(config: Config, store: Store, clock: Callable[[], datetime]) -> PolicyLayer:
    """The layer every send passes (intake's `submit_request` runs it)."""
    checks: list[Check] = []
    # Money, then holds.
    checks.append(QuotaCheck(store, zoneinfo.ZoneInfo(config.dispatch.timezone),
                             config.quotas.on_excess))
    a = config.approval
    checks.append(ApprovalCheck(store, clock, Rule(a.mode, a.above, tuple(a.categories))))
    return PolicyLayer(checks)
