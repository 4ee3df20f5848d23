"""A key's last use (`cardgate apikey list`): recorded when a request is admitted with it, at
most once per key every KEY_USE_INTERVAL seconds, through the store's writer; a failed write
never fails the request."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from appliance import cli
from appliance.api import auth
from appliance.store.apikeys import list_api_keys
from appliance.store.db import utcnow
from tests.api.conftest import FakeClock, Gateway, wait_for

MODEMS = "/api/v1/modems"


async def _last_used(gateway: Gateway, name: str):  # noqa: ANN202 - datetime | None
    keys = await gateway.appliance.store.read(list_api_keys)
    return next(k for k in keys if k["name"] == name)["last_used_at"]


async def _settled(gateway: Gateway) -> None:
    """Every ride-along write queued before this one has committed (one lane keeps order)."""
    await gateway.appliance.store.write(lambda: None, ride_along=True)


async def test_a_request_records_the_keys_last_use_once_per_interval(
        gateway: Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    uses = gateway.appliance.key_uses = auth.KeyUses(clock=clock)
    assert await _last_used(gateway, "reader") is None
    before = utcnow()

    assert (await gateway.get(MODEMS, key="reader")).status_code == 200
    first = await wait_for(lambda: _last_used(gateway, "reader"), "the key's last use")
    assert before - timedelta(seconds=1) <= first <= utcnow()
    assert await _last_used(gateway, "full") is None  # only the key that was used
    assert uses.queued == 1

    # What the tester looked at: the CLI's listing (its own connection to the file).
    config = tmp_path / "cardgate.toml"
    config.write_text(f'[database]\nurl = "{gateway.db_url}"\n')
    capsys.readouterr()
    assert await asyncio.to_thread(cli.main, ["apikey", "list", "--config", str(config)]) == 0
    listing = {line.split("\t")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert listing["reader"].endswith(f"last used {first.strftime('%Y-%m-%d %H:%M UTC')}")
    assert listing["full"].endswith("last used never")

    # Within the interval: served, no second write.
    clock.now += auth.KEY_USE_INTERVAL - 1
    assert (await gateway.get(MODEMS, key="reader")).status_code == 200
    await _settled(gateway)
    assert uses.queued == 1
    assert await _last_used(gateway, "reader") == first

    # After it: written again.
    clock.now += 2
    assert (await gateway.get(MODEMS, key="reader")).status_code == 200
    assert uses.queued == 2
    await wait_for(lambda: _last_used(gateway, "reader"), "the key's second use")
    await _settled(gateway)
    assert await _last_used(gateway, "reader") >= first


async def test_a_failed_write_is_logged_and_the_request_served(
        gateway: Gateway, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(key_id: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(auth, "touch_api_key", broken)
    gateway.appliance.key_uses = auth.KeyUses(clock=FakeClock())
    with caplog.at_level(logging.WARNING, logger="appliance.api.auth"):
        assert (await gateway.get(MODEMS, key="reader")).status_code == 200
        await wait_for(lambda: "could not record the use of API key" in caplog.text,
                       "the failed write's log line")
    assert await _last_used(gateway, "reader") is None


async def test_a_request_refused_for_its_scope_is_no_use(gateway: Gateway) -> None:
    """Only an admitted request counts: a key lacking the scope (403) was not used."""
    uses = gateway.appliance.key_uses = auth.KeyUses(clock=FakeClock())
    assert (await gateway.get(MODEMS, key="sender")).status_code == 403
    await _settled(gateway)
    assert uses.queued == 0
    assert await _last_used(gateway, "sender") is None
