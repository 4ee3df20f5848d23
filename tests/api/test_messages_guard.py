"""What a send request may not smuggle in, and what a key may not see or ask for:
text that is not text, texts and batches that would stall the event loop, other keys' messages,
priorities that overtake alerts."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.dispatch import intake
from tests.api.conftest import DEFAULT_KEYS, Gateway, running
from tests.api.test_messages import _error, message_count

MESSAGES = "/api/v1/messages"
TO = "+8613800138000"


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with running(tmp_path, modems=1, keys={**DEFAULT_KEYS, "boss": ["admin"],
                                                 "other": ["send", "read"]}) as gateway:
        await gateway.wait_ready()
        yield gateway


def _later() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).isoformat()


# -- 1. text must be text ---------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "field"), [
    (b'{"to": "+8613800138000", "text": "a\\ud800b"}', "text"),        # lone high surrogate
    (b'{"to": "+8613800138000", "text": "code \\udc00"}', "text"),     # lone low surrogate
    (b'{"to": "+8613800138000", "text": "x", "client_ref": "r\\ud800"}', "client_ref"),
    (b'{"to": "+8613800138000", "text": "bell \\u0007"}', "text"),
    (b'{"to": "+8613800138000", "text": "esc \\u001b[31m red"}', "text"),
    (b'{"to": "+8613800138000", "text": "nul \\u0000"}', "text"),
    (b'{"to": "+8613800138000", "text": "del \\u007f"}', "text"),
    (b'{"to": "+8613800138000", "text": "c1 \\u0085"}', "text"),
    (b'{"to": "+8613800138000", "text": "x", "client_ref": "r\\u0001"}', "client_ref"),
])
async def test_text_that_is_not_text_is_400_naming_the_field_and_nothing_is_stored(
        gw: Gateway, raw: bytes, field: str) -> None:
    response = await gw.post(MESSAGES, content=raw,
                             headers={"Content-Type": "application/json"})
    error = _error(response, 400)
    assert error["code"] == "invalid_field" and error["field"] == field
    assert error["message"].startswith(f"{field}:") and "U+" in error["message"]
    assert message_count(gw) == 0


async def test_tab_cr_and_lf_are_kept(gw: Gateway) -> None:
    text = "line 1\r\nline 2\n\tindented"
    response = await gw.post(MESSAGES, json={"to": TO, "text": text, "send_at": _later()})
    assert response.status_code == 202, response.text
    [message] = response.json()["messages"]
    assert (await gw.get(f"{MESSAGES}/{message['id']}")).json()["text"] == text


# -- 3. huge texts and batches never stall the event loop ---------------------------------------

async def test_huge_text_is_400_before_parts_are_counted(gw: Gateway, monkeypatch) -> None:
    counted: list[int] = []
    real = intake.count_parts

    def counting(text: str):
        counted.append(len(text))
        return real(text)

    monkeypatch.setattr(intake, "count_parts", counting)
    body = json.dumps({"to": TO, "text": "a" * 1_000_000}).encode()  # under the 1 MiB body limit
    error = _error(await gw.post(MESSAGES, content=body,
                                 headers={"Content-Type": "application/json"}), 400)
    assert error["field"] == "text" and "too long" in error["message"]
    assert counted == []
    assert message_count(gw) == 0
    # Just over the bound is refused the same way; just under is counted, once per request.
    over = "a" * (intake.MAX_TEXT_CHARS + 1)
    assert _error(await gw.post(MESSAGES, json={"to": TO, "text": over}), 400)["field"] == "text"
    assert counted == []
    response = await gw.post(MESSAGES, json={"to": TO, "text": "a" * intake.MAX_TEXT_CHARS,
                                             "send_at": _later()})
    assert response.status_code == 202, response.text
    assert response.json()["parts"] == intake.MAX_PARTS
    assert counted == [intake.MAX_TEXT_CHARS]


async def test_ten_thousand_recipients_are_validated_off_the_loop_and_all_accepted(
        gw: Gateway, monkeypatch) -> None:
    threads: list[bool] = []
    real = intake.check_request
    loop_thread = threading.get_ident()

    def spy(*args, **kwargs):
        threads.append(threading.get_ident() == loop_thread)
        return real(*args, **kwargs)

    monkeypatch.setattr(intake, "check_request", spy)
    to = [f"+86138{i:08d}" for i in range(intake.MAX_RECIPIENTS)]
    response = await gw.post(MESSAGES, json={"to": to, "text": "batch", "send_at": _later()})
    assert response.status_code == 202, response.text
    messages = response.json()["messages"]
    assert [m["to"] for m in messages] == to
    ids = [m["id"] for m in messages]
    assert len(set(ids)) == len(ids) == intake.MAX_RECIPIENTS
    assert threads == [False], "a large batch was validated on the event loop"
    assert message_count(gw) == intake.MAX_RECIPIENTS
    for index in (0, 4321, len(ids) - 1):
        view = (await gw.get(f"{MESSAGES}/{ids[index]}")).json()
        assert view["to"] == to[index] and view["state"] == "queued"
    # A small request stays on the loop (a thread hop costs more than it saves).
    assert (await gw.post(MESSAGES, json={"to": TO, "text": "one",
                                          "send_at": _later()})).status_code == 202
    assert threads == [False, True]


# -- 5. a key sees its own messages; priorities above alerts need admin ------------------------

async def test_a_key_cannot_read_or_cancel_another_keys_message(gw: Gateway) -> None:
    response = await gw.post(MESSAGES, json={"to": TO, "text": "code 493817",
                                             "send_at": _later()})
    [message] = response.json()["messages"]
    path = f"{MESSAGES}/{message['id']}"
    own = await gw.get(path)
    assert own.status_code == 200 and own.json()["text"] == "code 493817"
    for key in ("other", "reader"):
        response = await gw.get(path, key=key)
        error = _error(response, 404)
        assert error["code"] == "not_found" and "493817" not in response.text
        # ... the same answer as for an id that does not exist
        missing = _error(await gw.get(f"{MESSAGES}/{message['id'] + 1000}", key=key), 404)
        assert missing["message"].replace(str(message["id"] + 1000), "N") == \
            error["message"].replace(str(message["id"]), "N")
    _error(await gw.delete(path, key="other"), 404)
    assert (await gw.get(path)).json()["state"] == "queued"
    admin = await gw.get(path, key="boss")
    assert admin.status_code == 200 and admin.json()["text"] == "code 493817"


@pytest.mark.parametrize(("body", "key", "status"), [
    ({"priority": 21}, "full", 403),
    ({"priority": 100}, "sender", 403),
    ({"priority": 30, "category": "otp"}, "full", 403),
    ({"priority": 20}, "full", 202),             # up to alert level: any send key
    ({"priority": 0}, "full", 202),
    ({"category": "otp"}, "full", 202),          # the otp category's own level is allowed
    ({"priority": 100}, "boss", 202),
])
async def test_priority_above_alert_needs_admin(gw: Gateway, body: dict, key: str,
                                                status: int) -> None:
    response = await gw.post(MESSAGES, key=key,
                             json={"to": TO, "text": "x", "send_at": _later(), **body})
    if status == 202:
        assert response.status_code == 202, response.text
        return
    error = _error(response, 403)
    assert error["code"] == "forbidden" and error["field"] == "priority"
    assert error["message"].startswith("priority:") and "admin" in error["message"]
    assert message_count(gw) == 0


async def test_a_lowered_recipient_bound_holds_on_every_door(tmp_path: Path) -> None:
    async with running(tmp_path, max_recipients=3) as gw:
        await gw.wait_ready()
        four = [f"+8613800138{i:03d}" for i in range(4)]
        error = _error(await gw.post(MESSAGES, json={"to": four, "text": "x"}), 400)
        assert error["field"] == "to" and "at most 3 recipients" in error["message"]
        assert (await gw.post(MESSAGES, json={"to": four[:3], "text": "x"})).status_code == 202
        kannel = await gw.client.get(
            f"/cgi-bin/sendsms?username=full&password={gw.keys['full']}"
            f"&to={'%20'.join(four)}&text=x")
        assert kannel.status_code == 400 and "at most 3" in kannel.text
        playsms = await gw.client.get(
            f"/index.php?app=ws&op=pv&u=full&h={gw.keys['full']}&to={','.join(four)}&msg=x")
        assert playsms.json()["error"] == "200"
        assert message_count(gw) == 3


def test_the_recipient_bound_is_checked_in_the_config() -> None:
    from appliance.config import ConfigError, DispatchConfig

    for wrong in (0, 100_001):
        with pytest.raises(ConfigError, match="dispatch.max_recipients"):
            DispatchConfig(max_recipients=wrong).validate()
