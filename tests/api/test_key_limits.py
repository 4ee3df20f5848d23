"""A key's own limits: requests per minute (429 with Retry-After) and the networks it may be
used from (403 naming the address), on every door that takes a key; changes reach a running
appliance without a restart."""

from __future__ import annotations

import pytest

from appliance.api import auth
from appliance.store import apikeys
from tests.api.conftest import FakeClock, Gateway

MODEMS = "/api/v1/modems"
SENDSMS = "/cgi-bin/sendsms"



async def _limit(gateway: Gateway, name: str, **limits) -> apikeys.KeyLimits:
    return await gateway.appliance.store.write(
        lambda: apikeys.set_api_key_limits(name, **limits))


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


# -- the store's checks, as tables ----------------------------------------------------------

@pytest.mark.parametrize(("given", "stored"), [
    ("", ()), ([], ()), ("10.0.0.5", ("10.0.0.5/32",)),
    ("192.168.1.7/24, 10.0.0.0/8", ("192.168.1.0/24", "10.0.0.0/8")),
    (["::1", "127.0.0.1"], ("::1/128", "127.0.0.1/32")),
    ("10.0.0.1,10.0.0.1", ("10.0.0.1/32",)),
])
def test_networks_are_normalised(given, stored) -> None:
    assert apikeys.check_networks(given) == stored


@pytest.mark.parametrize("bad", ["10.0.0.300", "office", "10.0.0.0/33", "192.168.1.0/24;x"])
def test_a_bad_network_is_named(bad) -> None:
    with pytest.raises(ValueError, match="CIDR") as exc:
        apikeys.check_networks(f"10.0.0.0/8,{bad}")
    assert repr(bad) in str(exc.value)


@pytest.mark.parametrize("bad", [-1, 1.5, "60", True, apikeys.MAX_RATE_PER_MINUTE + 1])
def test_a_bad_rate_is_named(bad) -> None:
    with pytest.raises(ValueError, match="requests per minute"):
        apikeys.check_rate(bad)


@pytest.mark.parametrize(("networks", "address", "allowed"), [
    ((), "203.0.113.9", True),
    (("192.168.1.0/24",), "192.168.1.77", True),
    (("192.168.1.0/24",), "192.168.2.1", False),
    (("192.168.1.0/24",), "::ffff:192.168.1.5", True),  # a dual-stack socket's IPv4 peer
    (("fd00::/8",), "fd12::1", True),
    (("127.0.0.1/32",), "unknown", False),
])
def test_limits_allow_addresses_in_their_networks(networks, address, allowed) -> None:
    limits = apikeys.KeyLimits.stored(None, ",".join(networks))
    assert limits.allows(address) is allowed


def test_the_bucket_holds_a_minute_and_refills_at_the_rate() -> None:
    clock = FakeClock()
    rates = auth.KeyRates(clock=clock)
    assert [rates.take(1, 6) for _ in range(6)] == [0] * 6
    assert rates.take(1, 6) == 10  # one request every 10 s
    assert rates.take(2, 6) == 0  # another key has its own
    clock.now += 10
    assert rates.take(1, 6) == 0
    assert rates.take(1, 6) == 10
    clock.now += 4
    assert rates.take(1, 6) == 6
    assert rates.take(1, 600) == 1  # raised: refilled at the new rate from now on


# -- through the running appliance ----------------------------------------------------------

async def test_a_key_beyond_its_rate_gets_429_with_retry_after(gateway: Gateway) -> None:
    clock = FakeClock()
    gateway.appliance.key_rates = auth.KeyRates(clock=clock)
    await _limit(gateway, "full", rate_per_minute=3)
    for _ in range(3):
        assert (await gateway.get(MODEMS)).status_code == 200
    response = await gateway.get(MODEMS)
    error = _error(response, 429)
    assert error["code"] == "rate_limited"
    assert "'full'" in error["message"] and "3 requests per minute" in error["message"]
    assert response.headers["retry-after"] == "20"
    assert (await gateway.get(MODEMS, key="reader")).status_code == 200  # not its limit
    clock.now += 20
    assert (await gateway.get(MODEMS)).status_code == 200
    await _limit(gateway, "full", rate_per_minute=0)  # lifted
    gateway.appliance.key_cache = auth.KeyCache()  # (the recheck, without waiting for it)
    for _ in range(10):
        assert (await gateway.get(MODEMS)).status_code == 200


async def test_a_key_from_outside_its_networks_gets_403_naming_the_address(
        gateway: Gateway) -> None:
    await _limit(gateway, "full", allowed_from="192.168.1.0/24")
    error = _error(await gateway.get(MODEMS), 403)
    assert error["code"] == "address_not_allowed"
    assert "127.0.0.1" in error["message"] and "192.168.1.0/24" in error["message"]
    # the right key from the wrong place is not a failed attempt: no throttling follows
    assert gateway.appliance.auth_throttle.retry_after("127.0.0.1") == 0
    await _limit(gateway, "full", allowed_from="10.0.0.0/8,127.0.0.0/8")
    gateway.appliance.key_cache = auth.KeyCache()
    assert (await gateway.get(MODEMS)).status_code == 200


async def test_a_change_reaches_a_remembered_key_at_its_recheck(gateway: Gateway) -> None:
    clock = FakeClock()
    gateway.appliance.key_cache = auth.KeyCache(clock=clock)
    assert (await gateway.get(MODEMS)).status_code == 200  # remembered, no limits
    await _limit(gateway, "full", allowed_from="192.168.1.0/24")  # e.g. by the CLI
    assert (await gateway.get(MODEMS)).status_code == 200  # not re-read yet
    clock.now += auth.REVALIDATE_SECONDS
    assert _error(await gateway.get(MODEMS), 403)["code"] == "address_not_allowed"


async def test_kannel_callers_get_kannels_answers(gateway: Gateway) -> None:
    clock = FakeClock()
    gateway.appliance.key_rates = auth.KeyRates(clock=clock)
    await _limit(gateway, "sender", rate_per_minute=1)
    query = (f"{SENDSMS}?username=sender&password={gateway.keys['sender']}"
             f"&to=13800138000&text=hi")
    response = await gateway.client.get(query)
    assert (response.status_code, response.text) == (202, "0: Accepted for delivery")
    response = await gateway.client.get(query)
    assert (response.status_code, response.text) == (503, "Temporal failure, try again later.")
    assert response.headers["retry-after"] == "60"
    await _limit(gateway, "sender", rate_per_minute=0, allowed_from="10.1.2.3")
    gateway.appliance.key_cache = auth.KeyCache()
    response = await gateway.client.get(query)
    assert (response.status_code, response.text) == (403, "Authorization failed for sendsms")


async def test_playsms_callers_get_playsms_answers(gateway: Gateway) -> None:
    await _limit(gateway, "reader", allowed_from="10.1.2.3")
    url = f"/index.php?app=ws&op=ix&u=reader&h={gateway.keys['reader']}"
    response = await gateway.client.get(url)
    body = response.json()
    assert (response.status_code, body["status"], body["error"]) == (200, "ERR", "100")
    clock = FakeClock()
    gateway.appliance.key_rates = auth.KeyRates(clock=clock)
    await _limit(gateway, "reader", allowed_from="", rate_per_minute=1)
    gateway.appliance.key_cache = auth.KeyCache()
    assert (await gateway.client.get(url)).json()["error"] == "501"  # allowed: no data
    response = await gateway.client.get(url)
    assert response.status_code == 429 and response.headers["retry-after"] == "60"
    assert response.json()["error"] == "100"


async def test_set_limits_of_an_unknown_key_is_named(gateway: Gateway) -> None:
    with pytest.raises(ValueError, match='no API key named "ghost"'):
        await _limit(gateway, "ghost", rate_per_minute=5)
