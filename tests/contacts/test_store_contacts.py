"""store.contacts and store.blacklist on a real SQLite file: contacts with several numbers,
the one-contact-per-number rule, groups and membership by number, the blacklist's rows."""

from __future__ import annotations

import pytest

from appliance.store import blacklist, contacts
from appliance.store import messages as outbox
from appliance.store.models import Contact, ContactNumber, GroupMember

A = "+8613800138000"
B = "+8613900139000"
C = "+8613700137000"


def test_a_contact_keeps_its_numbers_note_and_fields(db):
    made = contacts.create_contact("张三", [A, B], note="VIP", fields={"city": "杭州", "n": 3})
    got = contacts.get_contact(made["id"])
    assert got["name"] == "张三" and got["numbers"] == [A, B]
    assert got["note"] == "VIP" and got["fields"] == {"city": "杭州", "n": 3}
    assert got["groups"] == []
    assert contacts.contact_for_number(B)["id"] == made["id"]
    assert contacts.contact_for_number(C) is None


def test_a_number_belongs_to_one_contact_and_the_conflict_names_both(db):
    first = contacts.create_contact("Alice", [A])
    with pytest.raises(contacts.NumberTaken) as err:
        contacts.create_contact("Bob", [C, A])
    assert err.value.number == A and err.value.contact_id == first["id"]
    assert A in str(err.value) and "Alice" in str(err.value)
    assert Contact.select().count() == 1  # the refused contact was not half made
    bob = contacts.create_contact("Bob", [C])
    with pytest.raises(contacts.NumberTaken):
        contacts.update_contact(bob["id"], numbers=[C, A])
    assert contacts.get_contact(bob["id"])["numbers"] == [C]
    # Giving a contact back its own number is not a conflict.
    assert contacts.update_contact(first["id"], numbers=[A, B])["numbers"] == [A, B]


def test_update_changes_only_what_is_given(db):
    made = contacts.create_contact("Alice", [A], note="n", fields={"k": "v"})
    after = contacts.update_contact(made["id"], name="Alice Wang")
    assert after["name"] == "Alice Wang" and after["numbers"] == [A]
    assert after["note"] == "n" and after["fields"] == {"k": "v"}
    after = contacts.update_contact(made["id"], numbers=[])
    assert after["numbers"] == [] and contacts.contact_for_number(A) is None


def test_delete_removes_numbers_and_memberships(db):
    group = contacts.create_group("customers")
    made = contacts.create_contact("Alice", [A], group_ids=[group["id"]])
    contacts.delete_contact(made["id"])
    assert ContactNumber.select().count() == 0 and GroupMember.select().count() == 0
    with pytest.raises(contacts.ContactNotFound):
        contacts.get_contact(made["id"])
    assert contacts.get_group(group["id"])["members"] == 0


def test_search_matches_name_or_number_and_pages(db):
    for i in range(5):
        contacts.create_contact(f"Shop {i}", [f"+86138001380{i:02d}"])
    contacts.create_contact("Other", [B])
    page, total = contacts.list_contacts("shop", limit=2, offset=2)
    assert total == 5 and [c["name"] for c in page] == ["Shop 2", "Shop 3"]
    page, total = contacts.list_contacts("1390013")
    assert total == 1 and page[0]["name"] == "Other"
    # "%" means itself, not "anything".
    assert contacts.list_contacts("%")[1] == 0


def test_groups_unique_names_and_membership_by_number(db):
    vip = contacts.create_group("vip")
    with pytest.raises(contacts.GroupNameTaken) as err:
        contacts.create_group("vip")
    assert err.value.group_id == vip["id"]
    assert contacts.group_by_name("vip")["id"] == vip["id"]
    assert contacts.group_by_name("VIP") is None
    alice = contacts.create_contact("Alice", [A])
    contacts.add_number_to_group(A, vip["id"])
    contacts.add_number_to_group(A, vip["id"])  # twice is once
    assert contacts.group_ids_of_number(A) == {vip["id"]}
    assert contacts.get_contact(alice["id"])["groups"] == [{"id": vip["id"], "name": "vip"}]
    # A number nobody has gets a nameless contact.
    contacts.add_number_to_group(C, vip["id"])
    stranger = contacts.contact_for_number(C)
    assert stranger["name"] == "" and stranger["numbers"] == [C]
    members = contacts.get_group(vip["id"], with_members=True)
    assert members["members"] == 2 and {m["id"] for m in members["contacts"]} == {
        alice["id"], stranger["id"]}
    contacts.remove_number_from_group(A, vip["id"])
    contacts.remove_number_from_group(B, vip["id"])  # unknown number: nothing to do
    assert contacts.group_ids_of_number(A) == set()
    assert contacts.group_ids_of_number(C) == {vip["id"]}
    with pytest.raises(contacts.GroupNotFound):
        contacts.add_number_to_group(A, 999)


def test_rename_group_to_a_taken_name_is_refused(db):
    contacts.create_group("a")
    b = contacts.create_group("b")
    with pytest.raises(contacts.GroupNameTaken):
        contacts.update_group(b["id"], name="a")
    assert contacts.update_group(b["id"], name="c", note="x")["name"] == "c"
    assert [g["name"] for g in contacts.list_groups()] == ["a", "c"]


def test_blacklist_add_is_idempotent_and_keeps_the_first_reason(db):
    assert blacklist.add(A, "TD", "sms") is True
    assert blacklist.add(A, "by hand", "api") is False
    assert blacklist.get(A)["reason"] == "TD" and blacklist.get(A)["source"] == "sms"
    assert blacklist.contains(A) and not blacklist.contains(B)
    assert blacklist.add("BANK", "spam sender", "console") is True  # alphanumeric as given
    assert blacklist.all_entries() == {A: "TD", "BANK": "spam sender"}
    assert blacklist.reasons([A, B]) == {A: "TD"}
    entries, total = blacklist.list_entries()
    assert total == 2 and [e["number"] for e in entries] == ["BANK", A]  # newest first
    assert blacklist.remove(A) is True and blacklist.remove(A) is False
    assert not blacklist.contains(A)
    with pytest.raises(ValueError, match="unknown blacklist source"):
        blacklist.add(B, "x", "telepathy")


def test_waiting_message_ids_are_the_unsent_ones_to_that_number(db):
    ids = outbox.accept_messages([outbox.NewMessage(recipient=A, text="1"),
                                  outbox.NewMessage(recipient=A, text="2"),
                                  outbox.NewMessage(recipient=B, text="3")])
    outbox.cancel_message(ids[1])
    assert blacklist.waiting_message_ids(A) == [ids[0]]
