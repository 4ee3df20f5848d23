"""GET /messages of the Android door (api.android._listed over store.android): a page costs a
few queries whatever its size, on the (submitter, client_ref) index, not three a message
over a GROUP BY of every message of the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import peewee
import pytest

from appliance.api import android as api_android
from appliance.compat import android_api as aa
from appliance.store import android as store_android
from appliance.store.acceptance import NewMessage, accept_messages
from appliance.store.models import Message

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _send(key_id: int, android_id: str, recipients: list[str], at: datetime) -> None:
    accept_messages([NewMessage(recipient=r, text="hi", submitter_kind="api_key",
                                submitter_id=str(key_id),
                                client_ref=store_android.id_ref(android_id))
                     for r in recipients], now=at)


@pytest.fixture
def sent(db: peewee.Database) -> peewee.Database:
    for i in range(60):
        _send(1, f"m{i:02d}", ["+8613800138000", "+8613800138001"][:1 + i % 2],
              T0 + timedelta(seconds=i))
    _send(2, "other", ["+8613800138000"], T0)
    Message.update(state="cancelled").where(Message.client_ref == "android:m07").execute()
    store_android.save_refusals(key_id=1, android_id="m07", refused=[(1, "+1", "duplicate")],
                                now=T0)
    return db


def _listed(db: peewee.Database, monkeypatch: pytest.MonkeyPatch,
            **args: str) -> tuple[list[dict], list[str]]:
    statements: list[str] = []
    real = db.execute_sql

    def counting(sql: str, *a, **kw):  # noqa: ANN002, ANN003, ANN202
        statements.append(sql)
        return real(sql, *a, **kw)
    monkeypatch.setattr(db, "execute_sql", counting)
    query = aa.read_messages_query({k: [v] for k, v in args.items()}, "dev")
    try:
        return api_android._listed(SimpleNamespace(key_id=1), query), statements
    finally:
        monkeypatch.undo()


def test_a_page_is_a_few_queries_whatever_its_size(sent: peewee.Database,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    page, statements = _listed(sent, monkeypatch, limit="50", offset="5")
    assert [m["id"] for m in page] == [f"m{i:02d}" for i in range(54, 4, -1)]
    assert len(statements) <= 4, statements
    assert not any("GROUP BY" in s for s in statements)
    m07 = next(m for m in page if m["id"] == "m07")
    assert m07["state"] == "Cancelled" and len(m07["recipients"]) == 3


def test_a_state_filter_reads_events_only_for_what_it_lists(
        sent: peewee.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    page, statements = _listed(sent, monkeypatch, state="Cancelled")
    assert [m["id"] for m in page] == ["m07"]
    assert len(statements) <= 4, statements
    page, _ = _listed(sent, monkeypatch, state="Pending", offset="58", sort="created_at")
    assert [m["id"] for m in page] == ["m59"]
