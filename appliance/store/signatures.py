"""Department signatures' persistence (the policy layer's 【signature】 per department).

Knows: the DepartmentSignature table.
Must not know: what a valid signature is (`policy.signature` checks before writing), HTTP,
the event loop. Synchronous: runs inside `Store.write` / `Store.read`.
"""

from __future__ import annotations

from typing import Any

from appliance.store.db import utcnow
from appliance.store.models import DepartmentSignature


def all_signatures() -> list[tuple[int, str, str | None]]:
    """(department_id, signature, placement or None) of every department that has one."""
    return list(DepartmentSignature.select(
        DepartmentSignature.department_id, DepartmentSignature.signature,
        DepartmentSignature.placement).order_by(DepartmentSignature.department_id).tuples())


def list_signatures() -> list[dict[str, Any]]:
    return [{"department_id": r.department_id, "signature": r.signature,
             "placement": r.placement, "updated_at": r.updated_at}
            for r in DepartmentSignature.select().order_by(DepartmentSignature.department_id)]


def set_signature(department_id: int, signature: str | None, placement: str | None) -> bool:
    """The department's signature (None or "": removed). True when something changed."""
    if not signature:
        return DepartmentSignature.delete().where(
            DepartmentSignature.department_id == department_id).execute() > 0
    (DepartmentSignature.insert(department_id=department_id, signature=signature,
                                placement=placement, updated_at=utcnow())
     .on_conflict(conflict_target=[DepartmentSignature.department_id],
                  update={DepartmentSignature.signature: signature,
                          DepartmentSignature.placement: placement,
                          DepartmentSignature.updated_at: utcnow()})
     .execute())
    return True


__all__ = ["all_signatures", "list_signatures", "set_signature"]
