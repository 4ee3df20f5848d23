"""Bearer API keys: every way to be refused names the problem; scrypt runs off the loop, once."""

from __future__ import annotations

import threading

import pytest

from appliance.store import apikeys
from tests.api.conftest import Gateway

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


async def test_revoked_key_is_401_even_when_it_was_just_verified(gateway: Gateway) -> None:
    assert (await gateway.get(MODEMS)).status_code == 200  # now in the verified-key cache
    assert await gateway.appliance.store.write(lambda: apikeys.revoke_api_key("full"))
    error = _error(await gateway.get(MODEMS), 401)
    assert "revoked" in error["message"]
    error = _error(await gateway.get(MODEMS), 401)  # and after the cache entry is dropped
    assert "not valid" in error["message"]


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


async def test_scrypt_runs_off_the_event_loop_and_is_cached(gateway: Gateway,
                                                            monkeypatch) -> None:
    calls: list[str] = []
    real = apikeys.verify_api_key
    loop_thread = threading.get_ident()

    def spy(key: str):
        calls.append("loop" if threading.get_ident() == loop_thread else "thread")
        return real(key)

    monkeypatch.setattr(apikeys, "verify_api_key", spy)
    gateway.appliance.key_cache = type(gateway.appliance.key_cache)()  # start cold
    for _ in range(3):
        assert (await gateway.get(MODEMS)).status_code == 200
    assert calls == ["thread"], "verified on the loop, or not cached"
    # A wrong key is never cached: each attempt pays scrypt again.
    for _ in range(2):
        response = await gateway.get(MODEMS, key=None,
                                     headers={"Authorization": "Bearer cg_aaaaaaaa_" + "b" * 32})
        assert response.status_code == 401
    assert calls == ["thread"] * 3
