"""Bearer API keys: every way to be refused names the problem; scrypt runs off the loop, once."""

from __future__ import annotations

import hashlib
import threading

import pytest

from appliance.api import auth
from appliance.store import apikeys
from tests.api.conftest import FakeClock, Gateway

MODEMS = "/api/v1/modems"



def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) >= {"code", "message"}
    return error


async def test_missing_header_is_401_naming_the_header(gateway: Gateway) -> None:
    error = _error(await gateway.get(MODEMS, key=None), 401)
    assert error["code"] == "unauthorized"
    assert "missing Authorization header" in error["message"]


@pytest.mark.parametrize("authorization", [None, "Basic Zm9vOmJhcg==", "Bearer cg_nope"])
async def test_a_401_carries_the_bearer_challenge(gateway: Gateway,
                                                  authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await gateway.get(MODEMS, key=None, headers=headers)
    _error(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="cardgate"'


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer", "bearer"])
async def test_wrong_scheme_is_401_naming_the_expected_form(gateway: Gateway,
                                                            header: str) -> None:
    response = await gateway.get(MODEMS, key=None, headers={"Authorization": header})
    error = _error(response, 401)
    assert "Bearer <api key>" in error["message"]


async def test_unknown_key_is_401(gateway: Gateway) -> None:
    real = gateway.keys["full"]
    forged = real[:-4] + ("AAAA" if real[-4:] != "AAAA" else "BBBB")
    for key in (forged, "cg_nosuchpr_" + "x" * 32, "not-even-a-key"):
        response = await gateway.get(MODEMS, key=None,
                                     headers={"Authorization": f"Bearer {key}"})
        error = _error(response, 401)
        assert "not valid" in error["message"]
        assert key not in response.text  # never echo a secret back


async def test_a_remembered_key_is_refused_once_revoked(gateway: Gateway) -> None:
    clock = FakeClock()
    gateway.appliance.key_cache = auth.KeyCache(clock=clock)
    assert (await gateway.get(MODEMS)).status_code == 200  # now in the verified-key cache
    assert await gateway.appliance.store.write(lambda: apikeys.revoke_api_key("full"))
    clock.now += auth.REVALIDATE_SECONDS  # another process's revocation: seen at the recheck
    error = _error(await gateway.get(MODEMS), 401)
    assert "revoked" in error["message"]
    error = _error(await gateway.get(MODEMS), 401)  # and after the cache entry is dropped
    assert "not valid" in error["message"]


async def test_a_remembered_key_costs_no_read_until_its_recheck(gateway: Gateway,
                                                                 monkeypatch) -> None:
    clock = FakeClock()
    gateway.appliance.key_cache = auth.KeyCache(clock=clock)
    assert (await gateway.get(MODEMS)).status_code == 200
    checked: list[int] = []
    real = apikeys.key_standing
    monkeypatch.setattr(auth, "key_standing", lambda key_id: checked.append(key_id)
                        or real(key_id))
    for _ in range(3):
        assert (await gateway.get(MODEMS)).status_code == 200
    assert checked == []
    clock.now += auth.REVALIDATE_SECONDS
    for _ in range(3):
        assert (await gateway.get(MODEMS)).status_code == 200
    assert len(checked) == 1


async def test_requests_finding_a_key_stale_together_share_one_read(gateway: Gateway,
                                                                     monkeypatch) -> None:
    import asyncio

    clock = FakeClock()
    gateway.appliance.key_cache = auth.KeyCache(clock=clock)
    assert (await gateway.get(MODEMS)).status_code == 200
    checked: list[int] = []
    real = apikeys.key_standing
    monkeypatch.setattr(auth, "key_standing", lambda key_id: checked.append(key_id)
                        or real(key_id))
    clock.now += auth.REVALIDATE_SECONDS
    answers = await asyncio.gather(*(gateway.get(MODEMS) for _ in range(16)))
    assert [r.status_code for r in answers] == [200] * 16
    assert 1 <= len(checked) < 16  # one read per batch that found it stale, not one each
    assert await gateway.appliance.store.write(lambda: apikeys.revoke_api_key("full"))
    clock.now += auth.REVALIDATE_SECONDS
    answers = await asyncio.gather(*(gateway.get(MODEMS) for _ in range(8)))
    assert {r.status_code for r in answers} == {401}  # every sharer hears of the revocation


async def test_key_revoked_before_first_use_is_401(gateway: Gateway) -> None:
    assert await gateway.appliance.store.write(lambda: apikeys.revoke_api_key("reader"))
    error = _error(await gateway.get(MODEMS, key="reader"), 401)
    assert "revoked" in error["message"]


async def test_key_without_the_scope_is_403_naming_scope_and_key(gateway: Gateway) -> None:
    error = _error(await gateway.get(MODEMS, key="sender"), 403)
    assert error["code"] == "forbidden"
    assert "'read'" in error["message"] and "'sender'" in error["message"]
    error = _error(await gateway.post("/api/v1/messages", key="reader",
                                      json={"to": "+8613800138000", "text": "hi"}), 403)
    assert "'send'" in error["message"]


async def test_admin_scope_implies_the_others(tmp_path) -> None:
    from tests.api.conftest import running

    async with running(tmp_path, modems=1, keys={"boss": ["admin"]}) as gw:
        assert (await gw.get(MODEMS, key="boss")).status_code == 200


def _count_scrypt(monkeypatch) -> list[str]:
    """The thread name of every scrypt call (hashlib.scrypt is the dependency under test)."""
    calls: list[str] = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):
        calls.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


async def test_scrypt_runs_on_its_own_threads_and_is_cached(gateway: Gateway,
                                                            monkeypatch) -> None:
    calls = _count_scrypt(monkeypatch)
    gateway.appliance.key_cache = type(gateway.appliance.key_cache)()  # start cold
    for _ in range(3):
        assert (await gateway.get(MODEMS)).status_code == 200
    assert len(calls) == 1, "not cached"
    assert calls[0].startswith("apikey-scrypt"), "verified on the loop or a store reader"
    # A wrong secret behind a real prefix is never cached: each attempt pays scrypt again.
    real = gateway.keys["full"]
    forged = real[:-4] + ("AAAA" if real[-4:] != "AAAA" else "BBBB")
    for _ in range(2):
        response = await gateway.get(MODEMS, key=None,
                                     headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401
    assert len(calls) == 3 and all(c.startswith("apikey-scrypt") for c in calls)


@pytest.mark.parametrize("key", [
    "not-even-a-key",
    "cg_aaaaaaaa_" + "b" * 31,            # too short
    "cg_aaaaaaaa_" + "b" * 33,            # too long
    "xx_aaaaaaaa_" + "b" * 32,            # wrong prefix
    "cg_AAAAAAAA_" + "b" * 32,            # the prefix is lower case and digits
    "cg_aaaaaaaa_" + "b" * 31 + "=",      # not urlsafe base64
    "cg_aaaaaaaa-" + "b" * 32,            # wrong separator
    "cg_aaaaaaaa_" + "b" * 32,            # well formed, but no key has this prefix
])
async def test_malformed_or_unknown_prefix_is_401_without_scrypt(gateway: Gateway, monkeypatch,
                                                                 key: str) -> None:
    calls = _count_scrypt(monkeypatch)
    reads: list[int] = []
    store_read = gateway.appliance.store.read

    async def counting_read(fn):
        if "authenticate" in fn.__qualname__:  # not the dispatcher's own reads meanwhile
            reads.append(1)
        return await store_read(fn)

    monkeypatch.setattr(gateway.appliance.store, "read", counting_read)
    response = await gateway.get(MODEMS, key=None, headers={"Authorization": f"Bearer {key}"})
    error = _error(response, 401)
    assert "not valid" in error["message"] and key not in response.text
    assert calls == []
    assert reads == ([1] if key.startswith("cg_aaaaaaaa_") and len(key) == 44
                     and key[-1] == "b" else []), "a malformed key reached the store"


async def test_repeated_failures_are_429_but_a_valid_key_still_gets_in(gateway: Gateway,
                                                                        monkeypatch) -> None:
    clock = FakeClock()
    gateway.appliance.auth_throttle = auth.FailureThrottle(clock=clock)
    gateway.appliance.key_cache = auth.KeyCache(clock=clock)
    real = gateway.keys["full"]
    forged = {"Authorization": "Bearer " + real[:-4] + ("AAAA" if real[-4:] != "AAAA"
                                                        else "BBBB")}
    for _ in range(auth.FAILURES_ALLOWED):
        _error(await gateway.get(MODEMS, key=None, headers=forged), 401)
    for headers in (forged, {"Authorization": "Bearer junk"}, {}):
        response = await gateway.get(MODEMS, key=None, headers=headers)
        error = _error(response, 429)
        assert error["code"] == "too_many_requests" and "failed" in error["message"]
        retry = int(response.headers["Retry-After"])
        assert 1 <= retry <= auth.FAILURE_WINDOW and error["retry_after"] == retry
    # A valid key never seen before, from the same throttled address: served, not refused
    # for what the others did (the failures are throttled, not the valid keys) ...
    calls = _count_scrypt(monkeypatch)
    assert (await gateway.get(MODEMS, key="reader")).status_code == 200
    assert len(calls) == 1
    assert (await gateway.get(MODEMS)).status_code == 200
    # ... while the failures go on being answered 429 until the window has refilled.
    _error(await gateway.get(MODEMS, key=None, headers=forged), 429)
    clock.now += auth.FAILURE_WINDOW
    for _ in range(auth.FAILURES_ALLOWED):
        _error(await gateway.get(MODEMS, key=None, headers=forged), 401)
    _error(await gateway.get(MODEMS, key=None, headers=forged), 429)


async def test_one_key_presented_by_many_requests_at_once_is_checked_once(
        gateway: Gateway, monkeypatch) -> None:
    import asyncio

    gateway.appliance.key_cache = auth.KeyCache()
    calls = _count_scrypt(monkeypatch)
    answers = await asyncio.gather(*(gateway.get(MODEMS) for _ in range(12)))
    assert [a.status_code for a in answers] == [200] * 12
    assert len(calls) == 1


async def test_key_checks_are_bounded_per_address() -> None:
    import asyncio

    gate = auth.AddressGate(running=1, waiting=2)
    running: list[str] = []
    most = [0]
    release = asyncio.Event()

    async def check(name: str) -> str:
        running.append(name)
        most[0] = max(most[0], len(running))
        await release.wait()
        running.remove(name)
        return name

    first = [asyncio.ensure_future(gate.run("10.0.0.1", lambda n=n: check(f"a{n}")))
             for n in range(3)]
    other = asyncio.ensure_future(gate.run("10.0.0.2", lambda: check("b")))
    await asyncio.sleep(0.01)
    # One runs and two wait for 10.0.0.1; a fourth is refused at once; 10.0.0.2 runs anyway.
    with pytest.raises(auth.ApiError) as refused:
        await gate.run("10.0.0.1", lambda: check("a3"))
    assert refused.value.status == 429 and "being checked" in refused.value.message
    assert sorted(running) == ["a0", "b"]
    release.set()
    assert await asyncio.gather(*first, other) == ["a0", "a1", "a2", "b"]
    assert most[0] == 2  # never two for one address at once
    assert gate._users == {} and gate._slots == {}  # idle addresses are forgotten


def test_throttle_is_per_address_and_bounded() -> None:
    clock = FakeClock()
    throttle = auth.FailureThrottle(allowed=2, window=10.0, clock=clock, max_clients=4)
    throttle.failed("10.0.0.1")
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 5 and throttle.retry_after("10.0.0.2") == 0
    clock.now += 5
    assert throttle.retry_after("10.0.0.1") == 0
    for i in range(100):
        throttle.failed(f"10.0.1.{i}")
    assert len(throttle._buckets) <= 4
