"""Small acceptances arriving together share one writer job, yet each caller gets its own ids
or its own error, replays stay replays, and rows on disk always reach the queue."""

from __future__ import annotations

import asyncio

import pytest

from appliance.store.messages import IdempotencyConflict
from tests.dispatch.conftest import new, numbers


async def test_concurrent_requests_share_a_job_and_each_gets_its_own_outcome(make_rig) -> None:
    async with make_rig(2) as rig:
        d = rig.dispatcher
        jobs: list[str] = []
        write = d.store.write

        async def counting(fn, **kw):  # type: ignore[no-untyped-def]
            if fn.__qualname__.startswith("Acceptor."):
                jobs.append("accept")
            return await write(fn, **kw)

        d.store.write = counting  # type: ignore[method-assign]
        (kept,) = await d.submit([new("+8613900000001", "first", client_ref="r",
                                      submitter_kind="api_key", submitter_id="1")])
        jobs.clear()
        to = numbers(8)
        outcomes = await asyncio.gather(
            *(d.submit([new(r, f"text {i}")]) for i, r in enumerate(to)),
            d.submit([new("+8613900000001", "other text", client_ref="r",
                          submitter_kind="api_key", submitter_id="1")]),
            return_exceptions=True)
        assert jobs == ["accept"]  # nine requests, one writer job
        *ids, conflict = outcomes
        assert isinstance(conflict, IdempotencyConflict) and f"id {kept}" in str(conflict)
        assert all(isinstance(i, list) and len(i) == 1 for i in ids)
        flat = [i[0] for i in ids]
        assert len(set(flat)) == 8 and kept not in flat
        states = await rig.wait_final(flat)
        assert set(states.values()) == {"sent"}


async def test_two_concurrent_requests_with_one_client_ref_are_one_message(make_rig) -> None:
    async with make_rig(1) as rig:
        d = rig.dispatcher
        same = [new("+8613900000002", "once", client_ref="dup", submitter_kind="api_key",
                    submitter_id="1")]
        first, second = await asyncio.gather(d.submit(same), d.submit(list(same)))
        assert first == second  # the second is a replay of the first, not a second message
        await rig.wait_final(first)
        assert len([e for e in rig.events if e[1] == "sent"]) == 1


async def test_rows_of_a_caller_that_went_away_are_still_queued(make_rig) -> None:
    async with make_rig(1) as rig:
        d = rig.dispatcher
        release = asyncio.Event()
        write = d.store.write

        async def slow(fn, **kw):  # type: ignore[no-untyped-def]
            result = await write(fn, **kw)
            await release.wait()
            return result

        d.store.write = slow  # type: ignore[method-assign]
        caller = asyncio.ensure_future(d.submit([new("+8613900000003", "orphan")]))
        await asyncio.sleep(0.05)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        release.set()
        d.store.write = write  # type: ignore[method-assign]
        await rig.wait_for(lambda: any(e[1] == "sent" for e in rig.events))



async def test_one_job_is_indexed_once_and_a_failing_request_alone_hears_of_it(make_rig) -> None:
    async with make_rig(1) as rig:
        d = rig.dispatcher
        index = d.acceptor.on_accepted
        calls: list[int] = []
        bad = "+8613900000099"

        def indexing(accepted):  # type: ignore[no-untyped-def]
            calls.append(len(accepted))
            if any(r.recipient == bad for requests, _ in accepted for r in requests):
                raise RuntimeError("cannot index")
            index(accepted)

        d.acceptor.on_accepted = indexing
        to = numbers(4)
        outcomes = await asyncio.gather(*(d.submit([new(r, f"text {i}")])
                                          for i, r in enumerate(to)), return_exceptions=True)
        assert calls == [4]  # four requests, one writer job, indexed once
        calls.clear()
        outcomes = await asyncio.gather(d.submit([new(to[0], "again")]),
                                        d.submit([new(bad, "unlucky")]),
                                        return_exceptions=True)
        assert calls == [2, 1, 1]  # together, then each alone to find out whose it was
        good, failed = outcomes
        assert isinstance(failed, RuntimeError)
        assert isinstance(good, list) and len(good) == 1
        states = await rig.wait_final(good)
        assert set(states.values()) == {"sent"}


async def test_a_job_indexed_again_request_by_request_announces_each_message_once(make_rig):
    """When indexing the whole job fails part-way (here in the pending index), the requests
    are indexed again one by one: the hub hears of each accepted message once, not once for
    the job and again for its request."""
    async with make_rig(1) as rig:
        d = rig.dispatcher
        bad = "+8613900000098"
        add_many = d.ctx.pending.add_many

        def failing(waiting, now):  # type: ignore[no-untyped-def]
            if any(w.pending.recipient == bad for w in waiting):
                raise RuntimeError("cannot index")
            add_many(waiting, now)

        announced: list[int] = []
        publish = d.ctx.hub.publish

        def recording(event):  # type: ignore[no-untyped-def]
            announced.extend(getattr(event, "message_ids", ()))
            publish(event)

        d.ctx.pending.add_many = failing  # type: ignore[method-assign]
        d.ctx.hub.publish = recording  # type: ignore[method-assign]
        to = numbers(2)
        outcomes = await asyncio.gather(d.submit([new(to[0], "first")]),
                                        d.submit([new(bad, "unlucky")]),
                                        d.submit([new(to[1], "third")]),
                                        return_exceptions=True)
        first, failed, third = outcomes
        assert isinstance(failed, RuntimeError)
        assert sorted(announced) == sorted([*first, *third])  # each once; the failed one not
        states = await rig.wait_final([*first, *third])
        assert set(states.values()) == {"sent"}
