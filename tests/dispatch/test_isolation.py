"""No single row or failure stops the gateway: an unreadable message is failed alone with the
reason, start-up survives it, and a failing scheduling round shows as a problem (logged once,
with a count) until it recovers."""

from __future__ import annotations

import logging
import sqlite3

from appliance.store.db import open_database
from appliance.store.messages import NewMessage, accept_messages
from appliance.store.migrations import migrate
from tests.dispatch.conftest import numbers


def _prefill(rig, texts: list[str]) -> list[int]:
    db_file = rig.tmp_path / "data" / "cardgate.db"
    db_file.parent.mkdir(parents=True, exist_ok=True)
    db = open_database(f"sqlite:///{db_file}")
    migrate(db)
    with db.atomic():
        ids = accept_messages([NewMessage(r, t) for r, t in zip(numbers(len(texts)), texts,
                                                                  strict=True)])
    db.close()
    return ids


def _corrupt(rig, message_id: int, column: str, value: str) -> None:
    raw = sqlite3.connect(rig.tmp_path / "data" / "cardgate.db")
    with raw:
        raw.execute(f"UPDATE message SET {column} = ? WHERE id = ?", (value, message_id))
    raw.close()


async def test_an_unreadable_queued_row_is_failed_alone_and_the_rest_is_sent(make_rig):
    async with make_rig(2, start=False) as rig:
        ids = _prefill(rig, [f"message {i}" for i in range(6)])
        bad = ids[2]
        # What a year-1 send_at written by an older build looked like: it does not read back.
        _corrupt(rig, bad, "send_at", "1-01-01 00:00:00.000000")
        await rig.start()  # start-up must not fail on that row
        states = await rig.wait_final(ids)
        assert states[bad] == "failed"
        assert {states[i] for i in ids if i != bad} == {"sent"}
        info = await rig.message(bad)
        assert "send_at" in info["error"] and "cannot be read" in info["error"]
        assert rig.dispatcher.problems() == []
        # And the next start is clean too.
        await rig.stop()
        await rig.start()
        [later] = await rig.submit([NewMessage("+8613912349999", "after the restart")])
        assert (await rig.wait_final([later]))[later] == "sent"


async def test_start_up_survives_an_unreadable_row_left_sending(make_rig):
    async with make_rig(1, start=False) as rig:
        ids = _prefill(rig, ["was being sent", "waiting"])
        _corrupt(rig, ids[0], "state", "sending")
        _corrupt(rig, ids[0], "updated_at", "not a time")
        await rig.start()
        states = await rig.wait_final(ids)
        assert states == {ids[0]: "failed", ids[1]: "sent"}


async def test_a_failing_scheduling_round_is_a_problem_logged_once_until_it_recovers(
        make_rig, caplog):
    caplog.set_level(logging.ERROR, logger="appliance.dispatch")
    async with make_rig(1) as rig:
        d = rig.dispatcher
        real = d.scheduler.round
        calls = 0

        async def broken() -> float:
            nonlocal calls
            calls += 1
            raise RuntimeError("the balancer tripped")

        d.scheduler.idle_tick = 0.01
        d.scheduler.round = broken  # type: ignore[method-assign]
        d.wake()
        await rig.wait_for(lambda: calls >= 5)
        [problem] = d.problems()
        assert "scheduling round" in problem and "the balancer tripped" in problem
        logged = [r for r in caplog.records if "the balancer tripped" in r.getMessage()]
        assert len(logged) == 1, "the same error repeated must be logged once"
        d.scheduler.round = real  # type: ignore[method-assign]
        d.wake()
        await rig.wait_for(lambda: d.problems() == [])
        [mid] = await rig.submit([NewMessage("+8613912345678", "works again")])
        assert (await rig.wait_final([mid]))[mid] == "sent"
