"""Whatever intake accepts, the engine keeps sending and starts again cleanly.

hypothesis makes send requests of every odd shape (dates from year 1 to 9999 in any offset,
NaN and infinite ttls, huge priorities, odd numbers and texts); each goes through
intake.submit_request into a running appliance on a simulated modem. Whatever was accepted
must settle (or wait for its send_at), the scheduler must report no problem, and a restart
must start cleanly and keep sending.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from appliance.dispatch.intake import InvalidRequest, SendRequest, submit_request
from appliance.sim import SimFleet
from tests.dispatch.conftest import FINAL, Rig, make_config

pytestmark = pytest.mark.slow

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m)))
when = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                 timezones=offsets),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),  # naive
    st.sampled_from([datetime.now(UTC) - timedelta(hours=1),
                     datetime.now(UTC) + timedelta(seconds=1)]))
numbers = st.one_of(
    st.sampled_from(["+8613912345678", "13912345679", "+86 139 1234 5680", "+14155550100"]),
    st.text(max_size=20))
requests = st.builds(
    SendRequest,
    to=st.lists(numbers, max_size=4),
    text=st.one_of(st.text(max_size=400), st.sampled_from(["hello", "你好，明天开会", "x" * 700])),
    category=st.sampled_from(["notice", "alert", "otp", "marketing", "", "bogus"]),
    priority=st.one_of(st.none(), st.integers(min_value=-(2**70), max_value=2**70)),
    send_at=when,
    ttl=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                  st.integers(min_value=-(2**64), max_value=2**64)),
    client_ref=st.one_of(st.none(), st.text(max_size=120)),
)


async def _exercise(folder: Path, batch: list[SendRequest]) -> None:
    fleet = SimFleet(1, folder / "ports", record=True)
    await fleet.start()
    rig = Rig(folder, fleet, make_config(folder))
    try:
        await rig.start()
        accepted: list[int] = []
        soon: list[int] = []
        horizon = datetime.now(UTC) + timedelta(seconds=5)
        for request in batch:
            try:
                result = await submit_request(rig.dispatcher, request)
            except InvalidRequest:
                continue
            accepted += result.ids
            send_at = request.send_at
            if send_at is None or (send_at.tzinfo is not None and send_at <= horizon):
                soon += result.ids
        await rig.wait_final(soon, timeout=20)
        assert rig.dispatcher.problems() == []
        for mid in accepted:  # every accepted message reads back
            info = await rig.message(mid)
            assert info["state"] in FINAL | {"queued", "held"}
        await rig.stop()
        await rig.start()  # and the appliance starts again on what was accepted
        [after] = (await submit_request(rig.dispatcher, SendRequest(
            to=["+8613912340000"], text="after the restart"))).ids
        assert (await rig.wait_final([after], timeout=20))[after] == "sent"
        assert rig.dispatcher.problems() == []
    finally:
        await rig.stop()
        await fleet.stop()


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(requests, min_size=1, max_size=6))
@example([SendRequest(to=["+8613912345678"], text="year one",
                      send_at=datetime(1, 1, 1, tzinfo=UTC))])
@example([SendRequest(to=["+8613912345678"], text="far ahead, far west",
                      send_at=datetime(9999, 12, 31, tzinfo=timezone(timedelta(hours=-14))))])
@example([SendRequest(to=["+8613912345678"], text="not a number", ttl=float("nan"))])
@example([SendRequest(to=["+8613912345678"], text="forever", ttl=float("inf"))])
def test_whatever_intake_accepts_the_engine_sends_and_restarts_on(batch):
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_exercise(Path(folder), batch))
