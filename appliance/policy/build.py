"""The appliance's policy layer, assembled from configuration: which checks run, in what order.

Knows: every check module and the order they must run in (content before recipients before
money before holds: a refused word costs nothing; a duplicate is not charged; only what will
be sent waits for approval).
Must not know: HTTP, modems.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from appliance.audit import AuditLog
from appliance.config import Config
from appliance.policy.layer import Check, PolicyLayer
from appliance.store.writer import Store


async def build_policy(config: Config, store: Store, clock: Callable[[], datetime],
                       audit: AuditLog | None = None) -> PolicyLayer:
    """The layer every send passes (intake's `submit_request` runs it). `audit`: the
    appliance's log (one is made on `store` if none is given)."""
    from appliance.audit.check import AuditCheck

    del config  # each check takes what it needs
    checks: list[Check] = []
    # LAST: the audit entry records the request as the other checks left it.
    checks.append(AuditCheck(audit or AuditLog(store, clock)))
    return PolicyLayer(checks)
