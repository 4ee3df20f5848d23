"""End to end: messages drained over simulated modems, checked against what the modems took.

The simulator's record (`SimulatedModem.accepted`, decoded from the PDUs the appliance wrote to
the pty) is the witness: a message counts as sent only if a modem received its PDUs.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from tests.dispatch.conftest import new, numbers


def reassemble(accepted: list) -> dict[tuple[str, int, int], list]:
    """(recipient, modem index, concat reference) -> parts, for multipart submits."""
    groups: dict[tuple[str, int, int], list] = defaultdict(list)
    for index, a in accepted:
        if a.submit.concat is not None:
            groups[(a.submit.to, index, a.submit.concat.reference)].append(a.submit)
    return groups


async def test_500_messages_over_4_sims_arrive_exactly_once(make_rig):
    async with make_rig(4) as rig:
        recipients = numbers(500)
        ids = await rig.submit(new(r, f"notice {i}") for i, r in enumerate(recipients))
        states = await rig.wait_final(ids)

        assert Counter(states.values()) == {"sent": 500}
        taken = Counter((a.submit.to, a.submit.text) for _, a in rig.accepted())
        assert taken == Counter({(r, f"notice {i}"): 1 for i, r in enumerate(recipients)})
        # Every SIM did a share of the work (the balancer spreads load, it does not pick one).
        per_modem = Counter(index for index, _ in rig.accepted())
        assert set(per_modem) == {0, 1, 2, 3}
        assert min(per_modem.values()) >= 50
        # And the database says which SIM sent each, matching the modem that took it.
        by_text = {a.submit.text: rig.iccid(i) for i, a in rig.accepted()}
        for mid in ids[:20]:
            msg = await rig.message(mid)
            assert msg["sim"] == by_text[msg["text"]]
            assert msg["parts"][0]["message_reference"] is not None


async def test_multipart_parts_share_one_sim_and_one_concat_reference(make_rig):
    long_text = "This is a long notice. " * 20  # 460 GSM-7 characters: 4 parts
    async with make_rig(4) as rig:
        recipients = numbers(12)
        ids = await rig.submit(new(r, long_text) for r in recipients)
        states = await rig.wait_final(ids)
        assert set(states.values()) == {"sent"}

        groups = reassemble(rig.accepted())
        # One group per recipient: all four parts through ONE modem under ONE reference.
        assert sorted(to for to, _, _ in groups) == sorted(recipients)
        for parts in groups.values():
            assert sorted(p.concat.index for p in parts) == [1, 2, 3, 4]
            assert {p.concat.count for p in parts} == {4}
            assert "".join(p.text for p in sorted(parts, key=lambda p: p.concat.index)) \
                == long_text
        # References are distinct per SIM, so a handset never mixes two messages.
        per_sim = Counter((index, ref) for (_, index, ref) in groups)
        assert max(per_sim.values()) == 1
        msg = await rig.message(ids[0])
        assert msg["parts_count"] == 4 and {p["state"] for p in msg["parts"]} == {"sent"}


async def test_chinese_and_emoji_text_arrive_intact(make_rig):
    texts = [
        "您的验证码是 384721，五分钟内有效。",
        "Server room 🔥 temperature 41°C 🚨",
        "会议改到明天下午三点 📅，请准时参加。" * 4,  # UCS-2 multipart with emoji
        "Grüße € [brackets] {braces} ~tilde^ |pipe| \\backslash",  # GSM-7 extension table
    ]
    async with make_rig(2) as rig:
        recipients = numbers(len(texts), "186")
        ids = await rig.submit(new(r, t) for r, t in zip(recipients, texts, strict=True))
        states = await rig.wait_final(ids)
        assert set(states.values()) == {"sent"}

        got: dict[str, str] = {}
        for (to, _, _), parts in reassemble(rig.accepted()).items():
            got[to] = "".join(p.text for p in sorted(parts, key=lambda p: p.concat.index))
        for _, a in rig.accepted():
            if a.submit.concat is None:
                got[a.submit.to] = a.submit.text
        assert got == dict(zip(recipients, texts, strict=True))


async def test_status_reports_make_messages_delivered(make_rig):
    async with make_rig(2) as rig:
        for modem in rig.fleet.modems:
            modem.auto_status_report = 0.05
        ids = await rig.submit([new(r, "report me") for r in numbers(6)]
                               + [new("+8613912345678", "long report " * 30)])
        states = await rig.wait_final(ids, final={"delivered", "failed", "ambiguous"})
        assert set(states.values()) == {"delivered"}
        msg = await rig.message(ids[-1])
        assert msg["parts_count"] > 1
        assert {p["state"] for p in msg["parts"]} == {"delivered"}
        assert all(p["report_status"] == 0 for p in msg["parts"])
        assert (ids[0], "delivered", msg["sim"]) in rig.events or any(
            e[0] == ids[0] and e[1] == "delivered" for e in rig.events)


async def test_failed_status_report_fails_the_message(make_rig):
    async with make_rig(1) as rig:
        [mid] = await rig.submit([new("+8613912345678", "undeliverable")])
        await rig.wait_final([mid])
        msg = await rig.message(mid)
        modem = rig.fleet.modems[0]
        modem.inject_status_report(msg["parts"][0]["message_reference"], status=0x41)
        states = await rig.wait_final([mid], final={"failed"})
        assert states[mid] == "failed"
        assert "0x41" in (await rig.message(mid))["error"]


async def test_operator_affinity_sends_a_unicom_number_through_the_unicom_sim(make_rig):
    # Simulated modems rotate China Mobile, China Unicom, China Telecom.
    async with make_rig(3) as rig:
        assert [rig.dispatcher.slots[rig.iccid(i)].network for i in range(3)] == [
            "mobile", "unicom", "telecom"]
        unicom, telecom, mobile = numbers(3, "186"), numbers(3, "189"), numbers(3, "139")
        for round_ in zip(unicom, telecom, mobile, strict=True):
            # Each round finds every SIM free: one message per network, mixed order.
            ids = await rig.submit(new(r, "by network") for r in reversed(round_))
            await rig.wait_final(ids)
        sent_by = {a.submit.to: index for index, a in rig.accepted()}
        assert {sent_by[r] for r in unicom} == {1}
        assert {sent_by[r] for r in telecom} == {2}
        assert {sent_by[r] for r in mobile} == {0}


async def test_operator_affinity_is_a_preference_not_a_rule(make_rig):
    async with make_rig(3) as rig:
        # More Unicom numbers than the Unicom SIM can take at once: the rest still go.
        ids = await rig.submit(new(r, "spill over") for r in numbers(30, "186"))
        states = await rig.wait_final(ids)
        assert set(states.values()) == {"sent"}
        assert {index for index, _ in rig.accepted()} == {0, 1, 2}


async def test_sticky_recipient_stays_on_the_sim_that_last_wrote_to_them(make_rig):
    async with make_rig(3, operator_affinity=False) as rig:
        recipient = "+8613900000001"
        [first] = await rig.submit([new(recipient, "first")])
        await rig.wait_final([first])
        sim = (await rig.message(first))["sim"]
        later = []
        for n in range(5):  # with other traffic around it, one at a time
            later += await rig.submit([new(recipient, f"again {n}")]
                                      + [new(r, "filler") for r in numbers(6, "150")])
        await rig.wait_final(later)
        for mid in later:
            msg = await rig.message(mid)
            if msg["recipient"] == recipient:
                assert msg["sim"] == sim


async def test_sticky_recipient_survives_a_restart(make_rig):
    async with make_rig(3, operator_affinity=False) as rig:
        recipient = "+8613900000002"
        [first] = await rig.submit([new(recipient, "before restart")])
        await rig.wait_final([first])
        sim = (await rig.message(first))["sim"]
        await rig.stop()
        await rig.start()
        ids = await rig.submit([new(recipient, "after restart")]
                               + [new(r, "filler") for r in numbers(9, "150")])
        await rig.wait_final(ids)
        assert (await rig.message(ids[0]))["sim"] == sim


async def test_an_otp_overtakes_a_bulk_campaign(make_rig):
    async with make_rig(2, latency=0.005) as rig:
        bulk = await rig.submit(new(r, "sale", priority=0, category="marketing")
                                for r in numbers(200))
        [otp] = await rig.submit([new("+8618600000000", "code 1234", priority=30,
                                      category="otp")])
        await rig.wait_final([*bulk, otp])
        order = [a.submit.to for a in sorted((a for _, a in rig.accepted()),
                                             key=lambda a: a.at)]
        position = order.index("+8618600000000")
        # Only what was already claimed when it arrived may go before it.
        assert position < 20, position
