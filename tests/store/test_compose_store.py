"""store.compose: templates by name, a group's members with their first number and fields,
the contacts of typed numbers, and the conditional claim of a schedule's occurrence."""

from datetime import UTC, datetime, timedelta

import pytest

from appliance.store import compose, contacts

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


async def test_templates_saved_by_name(store):
    first = await store.write(lambda: compose.save_template("停水", "明天停水", now=NOW))
    again = await store.write(lambda: compose.save_template(" 停水 ", "后天停水", "notice",
                                                            now=NOW))
    assert first["id"] == again["id"]
    assert [t["text"] for t in await store.read(compose.list_templates)] == ["后天停水"]
    for name, text, field in (("", "x", "template_name"), ("a" * 101, "x", "template_name"),
                              ("n", "  ", "text")):
        with pytest.raises(compose.TemplateProblem) as info:
            await store.write(lambda n=name, t=text: compose.save_template(n, t))
        assert info.value.field == field
    assert await store.write(lambda: compose.delete_template(first["id"]))


async def test_group_members_once_with_first_number_and_fields(store):
    def book():
        g1 = contacts.create_group("A")
        g2 = contacts.create_group("B")
        a = contacts.create_contact("张三", ["+8613800138000", "+8613800138999"],
                                    fields={"部门": "财务"})
        b = contacts.create_contact("李四", [])
        contacts.add_contacts_to_group(g1["id"], [a["id"], b["id"]])
        contacts.add_contacts_to_group(g2["id"], [a["id"]])
        return g1["id"], g2["id"]

    g1, g2 = await store.write(book)
    members = await store.read(lambda: compose.group_members([g2, g1]))
    assert [(m["name"], m["number"], m["group_id"]) for m in members] == [
        ("张三", "+8613800138000", g2), ("李四", "", g1)]
    assert members[0]["fields"] == {"部门": "财务"}
    known = await store.read(lambda: compose.contacts_of_numbers(["+8613800138999", "+1"]))
    assert known == {"+8613800138999": {"name": "张三", "fields": {"部门": "财务"}}}
    groups = await store.read(compose.group_names)
    assert [(g["name"], g["members"]) for g in groups] == [("A", 2), ("B", 1)]


async def test_an_occurrence_is_claimed_once(store):
    sid = await store.write(lambda: compose.create_schedule(
        "x", "daily", "0 9 * * *", "Asia/Shanghai", {"text": "hi"}, NOW))
    later = NOW + timedelta(days=1)
    assert await store.write(lambda: compose.claim_occurrence(sid, NOW, later, NOW))
    assert not await store.write(lambda: compose.claim_occurrence(sid, NOW, later, NOW))
    assert await store.read(compose.earliest_due) == later
    await store.write(lambda: compose.set_schedule_state(sid, "paused"))
    assert not await store.write(lambda: compose.claim_occurrence(sid, later, later, NOW))
    assert await store.read(compose.earliest_due) is None
    assert await store.read(lambda: compose.due_schedules(later)) == []
