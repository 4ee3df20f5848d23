"""The rules end to end through simulated modems: the unsubscribe flow, cooldown, loop
protection against a scripted auto-responder, and "answered once" across a crash.

The simulator's record of what each modem took (`accepted`) is the witness of what was sent
and through which SIM."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from appliance.config import RulesConfig
from appliance.store.service import run_in_database
from tests.rules.conftest import add_rule, rules_gateway, sent_to, wait_for

CUSTOMER = "+8613812345678"


async def log_entries(gw, **params) -> list[dict]:
    response = await gw.get("/api/v1/rules/log", params=params)
    assert response.status_code == 200
    return response.json()["entries"]


async def test_unsubscribe_end_to_end(tmp_path):
    defaults = RulesConfig()
    async with rules_gateway(tmp_path) as gw:
        # A catch-all rule exists: the unsubscribe runs before it and ends the evaluation.
        await add_rule(gw, name="else", match="any",
                       actions=[{"type": "reply", "template": "收到"}])
        gw.fleet.modems[1].inject_sms(CUSTOMER, "ＴＤ ")
        await wait_for(lambda: sent_to(gw, CUSTOMER), "the unsubscribe confirmation")
        # The confirmation went out through the SIM that received the TD, and nothing else.
        assert sent_to(gw, CUSTOMER) == [(1, defaults.unsubscribe_reply)]
        listed = (await gw.get("/api/v1/blacklist", key="admin")).json()
        entries = listed.get("entries", listed.get("blacklist", []))
        assert [(e["number"], e["source"]) for e in entries] == [(CUSTOMER, "sms")]

        entries = await wait_for(lambda: log_entries(gw, number=CUSTOMER), "the action log")
        assert {(e["action"], e["outcome"]) for e in entries} == {
            ("unsubscribe", "done"), ("unsubscribe_reply", "done")}
        reply = next(e for e in entries if e["action"] == "unsubscribe_reply")
        assert reply["message_id"] is not None and reply["rule_id"] is None
        message = (await gw.get(f"/api/v1/messages/{reply['message_id']}", key="admin")).json()
        assert message["sim"] == gw.fleet.modems[1].profile.iccid

        # A later send to that number is skipped, with the reason.
        response = await gw.post("/api/v1/messages",
                                 json={"to": [CUSTOMER, "+8613800000001"], "text": "新品上市"})
        assert response.status_code == 202, response.text
        (rejected,) = response.json()["rejected"]
        assert rejected["to"] == CUSTOMER and "blacklist" in rejected["reason"]
        assert [m["to"] for m in response.json()["messages"]] == ["+8613800000001"]

        # 订阅 takes it off and confirms, through the same SIM again.
        gw.fleet.modems[1].inject_sms(CUSTOMER, "订阅")
        await wait_for(lambda: len(sent_to(gw, CUSTOMER)) == 2, "the resubscribe confirmation")
        assert sent_to(gw, CUSTOMER)[1] == (1, defaults.resubscribe_reply)
        response = await gw.post("/api/v1/messages", json={"to": CUSTOMER, "text": "欢迎回来"})
        assert response.status_code == 202 and response.json()["rejected"] == []


async def test_reply_goes_through_the_receiving_sim_and_cooldown_holds_the_second(tmp_path):
    async with rules_gateway(tmp_path, reply_cooldown_seconds=3600) as gw:
        rule = await add_rule(gw, name="hello", match="any",
                              actions=[{"type": "reply", "template": "您好，{text}已收到"}])
        gw.fleet.modems[0].inject_sms(CUSTOMER, "第一条")
        await wait_for(lambda: sent_to(gw, CUSTOMER), "the first reply")
        gw.fleet.modems[1].inject_sms(CUSTOMER, "第二条")
        blocked = await wait_for(
            lambda: _find(log_entries(gw, number=CUSTOMER), outcome="blocked"),
            "the second reply refused")
        assert "cooldown" in blocked["detail"] and blocked["rule_id"] == rule["id"]
        assert sent_to(gw, CUSTOMER) == [(0, "您好，第一条已收到")]


async def _find(entries_coro, **match) -> dict | None:
    for entry in await entries_coro:
        if all(entry[k] == v for k, v in match.items()):
            return entry
    return None


async def test_no_reply_to_alphanumeric_short_codes_or_own_sims(tmp_path):
    async with rules_gateway(tmp_path) as gw:
        await add_rule(gw, name="else", match="any",
                       actions=[{"type": "reply", "template": "收到"}])
        own = gw.fleet.modems[0].profile.own_number
        for sender in ("ALIPAY", "10086", "1069012345678", own):
            gw.fleet.modems[1].inject_sms(sender, "hello")
        entries = await wait_for(
            lambda: _all_blocked(log_entries(gw), 4), "four refusals")
        whys = sorted(e["detail"] for e in entries)
        assert any("alphanumeric" in w for w in whys)
        assert any("own SIMs" in w for w in whys)
        assert sum("service number" in w for w in whys) == 2
        assert all(not m.accepted for m in gw.fleet.modems)


async def _all_blocked(entries_coro, count: int) -> list[dict] | None:
    entries = [e for e in await entries_coro if e["outcome"] == "blocked"]
    return entries if len(entries) >= count else None


async def test_two_auto_responders_stop_at_the_loop_bound(tmp_path):
    """The appliance answers everything; a scripted auto-responder at AWAY answers every
    message it gets (the simulator's outbound record feeds its inbound). The exchange stops
    after rules.loop_limit replies, with a warning and a log entry."""
    away = "+8613998765432"
    async with rules_gateway(tmp_path, reply_cooldown_seconds=0, loop_limit=3,
                             loop_window_seconds=3600) as gw:
        await add_rule(gw, name="auto", match="any",
                       actions=[{"type": "reply", "template": "自动回复：已收到您的消息"}])
        modem = gw.fleet.modems[0]
        answered = 0

        async def auto_responder() -> None:
            nonlocal answered
            while True:
                got = len(sent_to(gw, away))
                while answered < got:
                    answered += 1
                    modem.inject_sms(away, f"I am away (auto-reply {answered})")
                await asyncio.sleep(0.02)

        responder = asyncio.get_running_loop().create_task(auto_responder())
        try:
            modem.inject_sms(away, "hello?")
            loop = await wait_for(lambda: _find(log_entries(gw, number=away),
                                                outcome="blocked"), "the loop stopped")
        finally:
            responder.cancel()
        assert "loop" in loop["detail"] and "3 automatic replies" in loop["detail"]
        assert len(sent_to(gw, away)) == 3
        assert gw.appliance.rules.loops == 1
        done = [e for e in await log_entries(gw, number=away) if e["outcome"] == "done"]
        assert len(done) == 3


async def test_a_message_left_unanswered_by_a_crash_is_answered_once(tmp_path):
    """The reply was accepted but the crash came before the log and the handled mark: at the
    next start the catch-up answers it again, and intake's client_ref gives back the same
    message instead of a second one."""
    from appliance.store import inbox as inbox_store
    from appliance.store import rules as rules_store
    from appliance.store.messages import NewMessage, accept_messages

    now = datetime.now(UTC)
    sims = {}

    def before_crash(url: str) -> None:
        def fill() -> None:
            rules_store.create_rule({"name": "hi", "enabled": True, "match": "any",
                                     "pattern": "", "conditions": {"senders": "any"},
                                     "actions": [{"type": "reply", "template": "您好"}],
                                     "stop": True})
            received = inbox_store.receive_part(
                iccid="89860000000000000001", modem="", sender=CUSTOMER, number=CUSTOMER,
                text="在吗", smsc_at=now, arrived_at=now, concat_ref=None, concat_count=1,
                concat_index=1, smsc=None, pdu="00")
            inbox_id = received.message["id"]
            sims["inbox_id"] = inbox_id
            # What the first run had accepted before the crash: the same client_ref.
            accept_messages([NewMessage(recipient=CUSTOMER, text="您好",
                                        submitter_kind="system", submitter_id="rules:1",
                                        client_ref=f"rules:{inbox_id}:1:0")])

        run_in_database(url, fill)

    async with rules_gateway(tmp_path, before_start=before_crash) as gw:
        entries = await wait_for(lambda: log_entries(gw, number=CUSTOMER), "the catch-up")
        (entry,) = entries
        assert entry["inbox_id"] == sims["inbox_id"] and entry["outcome"] == "done"

        def count() -> tuple[int, bool]:
            from appliance.store.models import InboxMessage, Message

            return (Message.select().where(Message.recipient == CUSTOMER).count(),
                    InboxMessage.get_by_id(sims["inbox_id"]).handled_at is not None)

        assert await gw.appliance.store.read(count) == (1, True)


async def test_group_and_blacklist_actions(tmp_path):
    async with rules_gateway(tmp_path, reply_cooldown_seconds=0) as gw:
        made = await gw.post("/api/v1/groups", key="admin", json={"name": "会员"})
        group = made.json()["id"]
        await add_rule(gw, name="join", match="exact", pattern="加入会员",
                       actions=[{"type": "add_to_group", "group": group},
                                {"type": "reply", "template": "欢迎加入会员"}])
        await add_rule(gw, name="member price", match="exact", pattern="会员价",
                       conditions={"senders": "group", "groups": [group]},
                       actions=[{"type": "reply", "template": "{name}会员价：8折"}])
        await add_rule(gw, name="gone group", match="exact", pattern="旧活动",
                       actions=[{"type": "add_to_group", "group": 999},
                                {"type": "reply", "template": "活动已结束"}])
        await add_rule(gw, name="abuse", match="contains", pattern="骚扰",
                       actions=[{"type": "blacklist", "reason": "abusive"}])
        await add_rule(gw, name="else", match="any",
                       actions=[{"type": "reply", "template": "请回复 加入会员"}])

        modem = gw.fleet.modems[0]
        modem.inject_sms(CUSTOMER, "会员价")  # not a member yet: the catch-all answers
        await wait_for(lambda: len(sent_to(gw, CUSTOMER)) == 1, "the catch-all reply")
        modem.inject_sms(CUSTOMER, "加入会员")
        await wait_for(lambda: len(sent_to(gw, CUSTOMER)) == 2, "the welcome")
        # Not the same text as the first: the same sender, text and SMSC second would be taken
        # for the network delivering the first again (the inbox stores it once).
        modem.inject_sms(CUSTOMER, "会员价 ")
        await wait_for(lambda: len(sent_to(gw, CUSTOMER)) == 3, "the member price")
        assert [text for _, text in sent_to(gw, CUSTOMER)] == [
            "请回复 加入会员", "欢迎加入会员", "会员价：8折"]
        members = (await gw.get(f"/api/v1/groups/{group}")).json()
        assert CUSTOMER in str(members)

        modem.inject_sms(CUSTOMER, "旧活动")
        await wait_for(lambda: len(sent_to(gw, CUSTOMER)) == 4, "the reply despite the group")
        failed = await wait_for(lambda: _find(log_entries(gw, number=CUSTOMER),
                                              action="add_to_group", outcome="failed"),
                                "the failed group change logged")
        assert "999" in failed["detail"]

        other = "+8613700000007"
        modem.inject_sms(other, "别再骚扰我")
        entry = await wait_for(lambda: _find(log_entries(gw, number=other),
                                             action="blacklist"), "the blacklist action")
        assert entry["outcome"] == "done"
        assert gw.appliance.blacklist.blocked_reason(other) == "abusive"


class Receiver:
    """A real local HTTP server that records each POST's body and answers 200."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Receiver:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import json

        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        self.bodies.append(json.loads(await reader.readexactly(length)))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


async def test_webhook_action_posts_to_a_local_receiver(tmp_path):
    async with Receiver() as receiver, rules_gateway(tmp_path) as gw:
        await add_rule(gw, name="to the PLC", match="prefix", pattern="报警",
                       actions=[{"type": "webhook",
                                 "url": f"http://127.0.0.1:{receiver.port}/sms"}])
        gw.fleet.modems[1].inject_sms(CUSTOMER, "报警 3号机")
        await wait_for(lambda: receiver.bodies, "the webhook POST")
        body = receiver.bodies[0]
        assert body["event"] == "rule.matched"
        found = body["data"]
        assert found["rule"] == "to the PLC"
        assert found["text"] == "报警 3号机" and found["number"] == CUSTOMER
        assert found["sim"] == gw.fleet.modems[1].profile.iccid
        entry = await wait_for(lambda: _find(log_entries(gw, number=CUSTOMER),
                                             action="webhook"), "the log entry")
        assert entry["outcome"] == "done" and "queued" in entry["detail"]


async def test_a_resubscribe_does_not_undo_a_blacklisting_a_user_made(tmp_path):
    """订阅/START undoes the number's own 退订; an entry an admin made (a complaint, a wrong
    number) stays, and no confirmation goes to the number it keeps out."""
    async with rules_gateway(tmp_path) as gw:
        added = await gw.client.post("/api/v1/blacklist", headers=gw.auth("admin"),
                                     json={"number": CUSTOMER, "reason": "投诉"})
        assert added.status_code == 201, added.text
        gw.fleet.modems[1].inject_sms(CUSTOMER, "订阅")
        entries = await wait_for(lambda: _find(log_entries(gw, number=CUSTOMER),
                                               action="resubscribe_reply"), "the log")
        listed = (await gw.get("/api/v1/blacklist", key="admin")).json()
        listed = listed.get("entries", listed.get("blacklist", []))
        assert [(e["number"], e["source"]) for e in listed] == [(CUSTOMER, "api")]
        assert entries["outcome"] == "blocked", str(entries)
        assert sent_to(gw, CUSTOMER) == []
