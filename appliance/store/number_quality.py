"""The address book's numbers and groups as the number-quality report reads them.

Knows: the Contact, ContactNumber, ContactGroup and GroupMember tables.
Must not know: what makes a number valid (`contacts.quality`), HTTP, the event loop.
Synchronous: runs inside `Store.read`. Two queries whatever the size of the book.
"""

from __future__ import annotations

import peewee

from appliance.store.models import Contact, ContactGroup, ContactNumber, GroupMember


def contacts_with_numbers() -> list[tuple[int, str, str | None]]:
    """(contact id, name, number) for every number of every contact, and (id, name, None) for
    a contact with no number; by contact id."""
    rows = (Contact.select(Contact.id, Contact.name, ContactNumber.number)
            .join(ContactNumber, peewee.JOIN.LEFT_OUTER, on=(ContactNumber.contact == Contact.id))
            .order_by(Contact.id, ContactNumber.id).tuples())
    return list(rows)


def groups_with_members() -> list[tuple[int, str, int | None]]:
    """(group id, group name, member contact id) for every membership, and (id, name, None)
    for an empty group; by group name."""
    rows = (ContactGroup.select(ContactGroup.id, ContactGroup.name, GroupMember.contact)
            .join(GroupMember, peewee.JOIN.LEFT_OUTER, on=(GroupMember.group == ContactGroup.id))
            .order_by(ContactGroup.name, ContactGroup.id).tuples())
    return list(rows)


__all__ = ["contacts_with_numbers", "groups_with_members"]
