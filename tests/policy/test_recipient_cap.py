"""The per-send recipient cap, from a table: the default, a department's own (larger or
smaller), none; and the caps kept in the table across a restart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appliance.dispatch.intake import PolicyRefused, SendRequest
from appliance.policy.origin import Origin
from appliance.policy.recipient_cap import RecipientCap

NUMBERS = [f"+86138001380{i:02d}" for i in range(20)]


@pytest.mark.parametrize(("default", "department", "count", "refusal"), [
    (10, None, 10, None),
    (10, None, 11, "11 recipients; at most 10 per send (the cap agreed with the provider)"),
    (10, 1, 15, None),  # department 1 may send to 15
    (10, 1, 16, "16 recipients; at most 15 per send (department 1's cap)"),
    (10, 2, 6, "6 recipients; at most 5 per send (department 2's cap)"),
    (10, 3, 11, "11 recipients; at most 10 per send (the cap agreed with the provider)"),
    (0, None, 20, None),  # 0: no cap of its own
    (0, 2, 6, "6 recipients; at most 5 per send (department 2's cap)"),
])
def test_the_cap(store, default, department, count, refusal):
    cap = RecipientCap(store, default, {1: 15, 2: 5})
    request = SendRequest(to=NUMBERS[:count], text="通知",
                          origin=Origin(door="api", department_id=department))
    if refusal is None:
        assert cap.prepare(request) is request
        return
    with pytest.raises(PolicyRefused) as refused:
        cap.prepare(request)
    assert (refused.value.code, refused.value.field, refused.value.message) == (
        "recipient_cap", "to", refusal)
    assert refused.value.details["recipients"] == count


async def test_departments_caps_are_kept_in_the_table(store):
    now = datetime(2026, 12, 7, tzinfo=UTC)
    cap = RecipientCap(store, 10)
    await cap.set_department(4, 100, now)
    await cap.set_department(4, 50, now)  # replaced, not added
    await cap.set_department(5, 3, now)
    assert await cap.clear_department(5) is True
    assert await cap.clear_department(5) is False
    again = RecipientCap(store, 10)
    await again.load()
    assert again.departments == {4: 50}
