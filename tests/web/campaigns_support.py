"""Helpers of the campaigns lane's console tests: a user's campaign sent through intake as the
console's compose page sends it (door "console", the user as origin), approval rules."""

from __future__ import annotations

import itertools

from appliance.dispatch import campaigns as control
from appliance.dispatch.intake import SendRequest, submit_request
from appliance.policy.origin import Origin
from appliance.store import accounts as accounts_store
from appliance.store import approvals, campaigns

_serial = itertools.count(1)


def numbers(count: int) -> list[str]:
    """`count` numbers no other call of this module used (dedupe never sees a repeat)."""
    start = 10_000_000 + next(_serial) * 10_000
    return [f"+86137{n:08d}" for n in range(start, start + count)]


async def user(console, role: str):
    name = console.users[role][0]
    return await console.appliance.store.read(lambda: accounts_store.get_user_by_name(name))


async def send_campaign(console, role: str, count: int, name: str,
                        text: str | None = None) -> tuple[int, list[int], dict]:
    """A campaign of `count` recipients submitted by the user of `role`; (id, message ids,
    the policy layer's notes)."""
    appliance = console.appliance
    info = await user(console, role)
    cid = await appliance.store.write(lambda: campaigns.create_campaign(
        name, created_by=info.name, user_id=info.id, department_id=info.department_id))
    origin = Origin(door="console", address="127.0.0.1", user_id=info.id,
                    department_id=info.department_id, role=info.role)
    accepted = await submit_request(appliance.dispatcher, SendRequest(
        to=numbers(count), text=text or f"{name}: the heating is off on Friday",
        campaign_id=cid, submitter_kind="user", submitter_id=str(info.id), origin=origin))
    return cid, accepted.ids, accepted.notes


async def approval_for_department(console, role: str, department: str) -> int:
    """Put the user of `role` in a new department whose rule holds every send for approval."""
    info = await user(console, role)

    def job() -> int:
        dept = accounts_store.create_department(department)["id"]
        accounts_store.update_user(info.id, department_id=dept)
        approvals.set_rule(dept, approvals.Rule("all"))
        return dept

    return await console.appliance.store.write(job)


async def states(console, cid: int) -> dict:
    view = await console.appliance.store.read(lambda: campaigns.get_campaign(cid))
    return view


async def pause(console, cid: int) -> list[int]:
    return await control.pause(console.appliance.dispatcher, cid, "test")


async def resume(console, cid: int) -> list[int]:
    return await control.resume(console.appliance.dispatcher, cid, "test")
