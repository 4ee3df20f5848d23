"""Who submitted each message: the origin columns written by the batched insert, read back by
the views, and the listing's door and department filters (migration 12)."""

from __future__ import annotations

from datetime import UTC, datetime

import peewee

from appliance.store.messages import NewMessage, accept_messages, get_message, list_messages

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def test_the_origin_is_stored_and_filtered(db: peewee.Database):
    rows = [NewMessage(recipient="+8613800138000", text="a", door="api", address="10.0.0.5",
                       api_key_id=3, department_id=7),
            NewMessage(recipient="+8613800138001", text="b", door="kannel", address="10.0.0.6",
                       api_key_id=4, user_id=9, department_id=8),
            NewMessage(recipient="+8613800138002", text="c")]
    with db.atomic():
        a, b, c = accept_messages(rows * 200, NOW)[:3]  # 600 rows: several INSERT chunks
    got = get_message(b)
    assert (got["door"], got["address"], got["api_key_id"], got["user_id"],
            got["department_id"]) == ("kannel", "10.0.0.6", 4, 9, 8)
    assert get_message(c)["door"] is None  # a caller that said nothing: unknown
    by_department = list_messages(department_id=7, limit=1000)
    assert len(by_department) == 200 and {m["door"] for m in by_department} == {"api"}
    assert by_department[-1]["id"] == a
    assert {m["department_id"] for m in list_messages(door="kannel", limit=1000)} == {8}
    assert list_messages(door="kannel", department_id=7) == []
