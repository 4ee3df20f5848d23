"""Acceptance as the API needs it: a replay must ask for the same message in every option, the
new rows are told apart from replays, ownership is part of the load, and every time intake can
accept is stored padded and reads back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import peewee
import pytest

from appliance.dispatch import intake
from appliance.store.messages import (
    IdempotencyConflict,
    MessageNotFound,
    NewMessage,
    accept_many,
    accept_new,
    get_message,
)
from appliance.store.models import Message

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)


def _request(**kw) -> NewMessage:
    base = {"recipient": "+8613800000001", "text": "hello", "priority": 10, "category": "notice",
            "client_ref": "r-1", "submitter_kind": "api_key", "submitter_id": "7",
            "send_at": LATER, "expires_at": LATER + timedelta(seconds=3600), "ttl": 3600.0}
    return NewMessage(**{**base, **kw})


def _accept(db: peewee.Database, *requests: NewMessage, now: datetime = NOW):
    with db.atomic():
        return accept_new(list(requests), now=now)


def test_new_rows_are_told_apart_from_replays(db: peewee.Database) -> None:
    first = _accept(db, _request())
    assert first.new == [True] and first.at == NOW
    again = _accept(db, _request(), _request(recipient="+8613800000002", client_ref="r-2"),
                    now=NOW + timedelta(seconds=3))
    assert again.ids[0] == first.ids[0] and again.new == [False, True]


@pytest.mark.parametrize(("change", "field"), [
    ({"recipient": "+8613800000009"}, "recipient"),
    ({"text": "other"}, "text"),
    ({"priority": 11}, "priority"),
    ({"category": "alert"}, "category"),
    ({"campaign_id": None, "send_at": LATER + timedelta(seconds=1)}, "send_at"),
    ({"send_at": None}, "send_at"),
    ({"ttl": 3600.0 + 60, "expires_at": LATER + timedelta(seconds=3660)}, "ttl"),
])
def test_a_replay_with_any_other_option_is_a_conflict_naming_it(db: peewee.Database,
                                                                 change: dict,
                                                                 field: str) -> None:
    (kept,) = _accept(db, _request()).ids
    with pytest.raises(IdempotencyConflict, match=f"id {kept}: its {field} differs"):
        _accept(db, _request(**change))
    assert Message.select().count() == 1


def test_a_replay_without_send_at_matches_although_its_expiry_is_later(
        db: peewee.Database) -> None:
    # No send_at: the validity counts from acceptance, so a retry a minute later computes an
    # expiry a minute later; it is the same request (ttl compared, not expires_at).
    first = _request(send_at=None, expires_at=NOW + timedelta(seconds=3600))
    (kept,) = _accept(db, first).ids
    retry = _request(send_at=None, expires_at=NOW + timedelta(seconds=3660))
    assert _accept(db, retry, now=NOW + timedelta(seconds=60)).ids == [kept]


def test_ownership_is_part_of_the_load(db: peewee.Database) -> None:
    (mine,) = _accept(db, _request()).ids
    assert get_message(mine, owner=("api_key", "7"))["id"] == mine
    assert get_message(mine)["id"] == mine  # no owner: an admin sees all
    for owner in (("api_key", "8"), ("user", "7")):
        with pytest.raises(MessageNotFound):
            get_message(mine, owner=owner)
    with pytest.raises(MessageNotFound):
        get_message(mine + 1, owner=("api_key", "7"))


@pytest.mark.parametrize("send_at", [
    intake.SEND_AT_EARLIEST,
    (datetime.now(UTC) + intake.MAX_SCHEDULE_AHEAD).astimezone(timezone(timedelta(hours=-14))),
    (datetime.now(UTC) + intake.MAX_SCHEDULE_AHEAD).astimezone(timezone(timedelta(hours=14))),
    datetime(1, 1, 1, tzinfo=UTC),  # refused by intake; the store still writes it padded
])
def test_the_extreme_times_are_stored_padded_and_read_back(db: peewee.Database,
                                                           send_at: datetime) -> None:
    expires = max(send_at, NOW) + timedelta(seconds=intake.MAX_TTL)
    (msg_id,) = _accept(db, _request(client_ref=None, send_at=send_at, expires_at=expires)).ids
    data = get_message(msg_id)
    assert data["send_at"] == send_at and data["expires_at"] == expires
    raw = db.execute_sql("SELECT send_at FROM message WHERE id = ?", (msg_id,)).fetchone()[0]
    assert len(raw) == len("2026-01-02 03:04:05.000000") and raw[:4].isdigit()


def test_many_requests_go_in_together_and_one_refused_refuses_no_other(
        db: peewee.Database) -> None:
    (kept,) = _accept(db, _request()).ids
    good = [[_request(recipient=f"+86138000001{n:02d}", client_ref=None)] for n in range(3)]
    with db.atomic():
        results = accept_many([good[0], [_request(text="changed")], good[1], good[2]], now=NOW)
    assert isinstance(results[1], IdempotencyConflict) and f"id {kept}" in str(results[1])
    accepted = [r for n, r in enumerate(results) if n != 1]
    assert all(r.new == [True] for r in accepted)
    assert len({r.ids[0] for r in accepted} | {kept}) == 4
    assert Message.select().count() == 4


def test_requests_sharing_a_client_ref_are_a_message_and_its_replay(db: peewee.Database) -> None:
    with db.atomic():
        first, second = accept_many([[_request()], [_request()]], now=NOW)
    assert first.ids == second.ids and (first.new, second.new) == ([True], [False])
    assert Message.select().count() == 1


def test_a_requests_rows_copied_from_one_are_the_rows_the_constructor_makes() -> None:
    import dataclasses

    from appliance.store.messages import with_changes

    template = _request(kannel=None, charge_to=("department:3",), content_hash=-5)
    rows = template.to_each(["+8613800000002", "+8613800000003"])
    assert rows == [dataclasses.replace(template, recipient=r)
                    for r in ("+8613800000002", "+8613800000003")]
    assert rows[0] is not template and template.recipient == "+8613800000001"
    with pytest.raises(dataclasses.FrozenInstanceError):
        rows[0].recipient = "+8613800000009"  # type: ignore[misc]
    held = with_changes(rows, hold=True, approval_id=4)
    assert held == [dataclasses.replace(r, hold=True, approval_id=4) for r in rows]
    assert not rows[0].hold  # the originals are left alone
    with pytest.raises(TypeError, match="no field 'held'"):
        with_changes(rows, held=True)


def test_a_column_null_in_some_rows_only_is_stored_as_each_row_has_it(
        db: peewee.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # Rows in one statement: a column NULL in every row is written as the literal NULL, one
    # NULL in only some is bound; both read back as given, whatever the chunk.
    rows = [_request(recipient=f"+86138000001{i:02d}", client_ref=None,
                     send_at=LATER if i % 3 == 0 else None,
                     campaign_id=None, via_sim="8986001" if i == 7 else None)
            for i in range(12)]
    from appliance.store import acceptance

    for max_rows in (5, 500):  # the 12 rows in chunks of 5, 5 and 2; then in one
        monkeypatch.setattr(acceptance, "_MAX_ROWS", max_rows)
        ids = _accept(db, *rows).ids
        stored = {m.id: m for m in Message.select().where(Message.id.in_(ids))}
        for mid, row in zip(ids, rows, strict=True):
            m = stored[mid]
            assert (m.recipient, m.send_at, m.sim, m.client_ref, m.campaign_id) == (
                row.recipient, row.send_at, row.via_sim, None, None)
