"""SendRequest.via_sim: a message pinned to the SIM it must leave through (a reply through the
SIM that received the message), from intake to the modem."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appliance.dispatch.intake import InvalidRequest, SendRequest, check_request, submit_request
from tests.rules.conftest import rules_gateway, sent_to, wait_for

NOW = datetime(2026, 12, 7, tzinfo=UTC)


async def test_every_message_leaves_through_its_sim(tmp_path):
    async with rules_gateway(tmp_path, modems=4) as gw:
        dispatcher = gw.appliance.dispatcher
        target = gw.fleet.modems[2].profile.iccid
        numbers = [f"+86139000000{n:02d}" for n in range(12)]
        for number in numbers:
            await submit_request(dispatcher, SendRequest(to=[number], text="回复",
                                                         via_sim=target))
        await wait_for(lambda: all(sent_to(gw, n) for n in numbers), "12 replies sent")
        assert {i for n in numbers for i, _ in sent_to(gw, n)} == {2}


@pytest.mark.parametrize("value", ["", "not an iccid", 8986, "1" * 23])
def test_a_bad_via_sim_is_refused_naming_it(value):
    with pytest.raises(InvalidRequest) as err:
        check_request(SendRequest(to=["+8613800138000"], text="x", via_sim=value), NOW, 60)
    assert err.value.field == "via_sim"


def test_via_sim_reaches_the_stored_row():
    rows = check_request(SendRequest(to=["+8613800138000"], text="x",
                                     via_sim="89860000000000000001"), NOW, 60).rows
    assert rows[0].via_sim == "89860000000000000001"
