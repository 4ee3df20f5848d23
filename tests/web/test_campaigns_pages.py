"""Campaign and approval pages over real HTTP (no browser): who may do what, bad input, escaping,
the submitter's notice of a decision."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator

import httpx

from tests.web import campaigns_support as cs
from tests.web.conftest import csrf_of as _csrf

LOGIN = "/console/login"


@contextlib.contextmanager
def client(console, role: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console.base_url, timeout=20.0,
                      headers={"Accept-Language": "en"}) as http:
        name, password = console.users[role]
        form = http.get(LOGIN)
        response = http.post(LOGIN, data={"name": name, "password": password,
                                          "csrf_token": _csrf(form.text),
                                          "next": "/console/campaigns"})
        assert response.status_code in (302, 303), response.text[:300]
        yield http


def wait_until(check, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_list_detail_and_controls(console):
    hostile = "<script>alert(1)</script> 通知"
    cid, ids, _ = console.run(cs.send_campaign(console, "operator", 12, hostile))
    console.run(cs.pause(console, cid))
    with client(console, "operator") as http:
        page = http.get("/console/campaigns")
        assert page.status_code == 200
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "<script>alert" not in page.text
        assert f"/console/campaigns/{cid}" in page.text
        detail = http.get(f"/console/campaigns/{cid}")
        assert detail.status_code == 200 and 'id="resume"' in detail.text
        token = _csrf(detail.text)
        # keyset pages of recipients
        first = http.get(f"/console/campaigns/{cid}?after=0&state=waiting")
        assert first.status_code == 200
        assert http.get(f"/console/campaigns/{cid}?after=x&state=<b>").status_code == 200
        assert http.get(f"/console/campaigns/{cid}/progress").status_code == 200
        assert http.get("/console/campaigns/999999").status_code == 404
        # resume, then cancel (the creator may)
        done = http.post(f"/console/campaigns/{cid}/resume", data={"csrf_token": token})
        assert done.status_code == 303 and done.headers["location"].endswith("done=resume")
        again = http.post(f"/console/campaigns/{cid}/resume", data={"csrf_token": token})
        assert again.status_code == 409 and "Only a paused campaign can be resumed." in again.text
        assert http.post(f"/console/campaigns/{cid}/resume").status_code == 403  # no CSRF token
        assert http.post(f"/console/campaigns/{cid}/explode",
                         data={"csrf_token": token}).status_code == 404

    # Another user, not an admin: may see it, may not stop it; a viewer may not even try.
    with client(console, "approver") as http:
        detail = http.get(f"/console/campaigns/{cid}")
        assert detail.status_code == 200 and 'id="cancel"' not in detail.text
        refused = http.post(f"/console/campaigns/{cid}/cancel",
                            data={"csrf_token": _csrf(detail.text)})
        assert refused.status_code == 403 and "creator or an administrator" in refused.text
    with client(console, "viewer") as http:
        detail = http.get(f"/console/campaigns/{cid}")
        assert detail.status_code == 200
        token = _csrf(detail.text)
        assert http.post(f"/console/campaigns/{cid}/pause",
                         data={"csrf_token": token}).status_code == 403
        assert http.get("/console/approvals").status_code == 403
    with client(console, "admin") as http:
        wait_until(lambda: console.run(cs.states(console, cid))["figures"]["unsettled"] == 0)
        detail = http.get(f"/console/campaigns/{cid}")
        assert "Finished" in detail.text


def test_reject_needs_a_reason_and_the_submitter_sees_it(console):
    console.run(cs.approval_for_department(console, "operator", "Logistics"))
    try:
        cid, ids, notes = console.run(cs.send_campaign(console, "operator", 7,
                                                       "Warehouse <b>closing</b>"))
        approval_id = notes["approval"]["id"]
        with client(console, "approver") as http:
            page = http.get("/console/approvals")
            assert page.status_code == 200
            assert f'id="approval-{approval_id}"' in page.text
            assert "Logistics" in page.text and "operator1" in page.text
            assert "Warehouse &lt;b&gt;closing&lt;/b&gt;" in page.text
            assert "and 2 more" in page.text  # five shown of seven
            token = _csrf(page.text)
            empty = http.post(f"/console/approvals/{approval_id}/reject",
                              data={"csrf_token": token, "reason": "   "})
            assert empty.status_code == 400
            assert f'id="reason-error-{approval_id}"' in empty.text
            assert "Give a reason for the rejection." in empty.text
            done = http.post(f"/console/approvals/{approval_id}/reject",
                             data={"csrf_token": token, "reason": "Wrong <date>"})
            assert done.status_code == 303
            late = http.post(f"/console/approvals/{approval_id}/approve",
                             data={"csrf_token": token})
            assert late.status_code == 409 and "decided already" in late.text
        with client(console, "operator") as http:
            listing = http.get("/console/campaigns")
            assert 'id="decisions"' in listing.text and "Wrong &lt;date&gt;" in listing.text
            detail = http.get(f"/console/campaigns/{cid}")
            assert 'data-approval="rejected"' in detail.text
            assert "Wrong &lt;date&gt;" in detail.text
            # Seen on its page: the notice is gone from the list.
            assert 'id="decisions"' not in http.get("/console/campaigns").text
        view = console.run(cs.states(console, cid))
        assert view["figures"]["cancelled"] == 7
        entries = wait_until(lambda: console.run(_audit(console, "approval.reject")))
        assert entries[0]["target"] == f"approval:{approval_id}"
        assert json.loads(entries[0]["detail"])["reason"] == "Wrong <date>"
    finally:
        console.run(_no_department(console, "operator"))


def test_nobody_approves_their_own_request(console):
    console.run(cs.approval_for_department(console, "approver", "Finance"))
    try:
        cid, ids, notes = console.run(cs.send_campaign(console, "approver", 2, "Own request"))
        approval_id = notes["approval"]["id"]
        with client(console, "approver") as http:
            page = http.get("/console/approvals")
            block = page.text.split(f'id="approval-{approval_id}"')[1].split("</article>")[0]
            assert "another approver must decide it" in block
            assert "/approve" not in block
            forced = http.post(f"/console/approvals/{approval_id}/approve",
                               data={"csrf_token": _csrf(page.text)})
            assert forced.status_code == 409
        with client(console, "admin") as http:
            page = http.get("/console/approvals")
            ok = http.post(f"/console/approvals/{approval_id}/approve",
                           data={"csrf_token": _csrf(page.text)})
            assert ok.status_code == 303
        wait_until(lambda: console.run(cs.states(console, cid))["figures"]["unsettled"] == 0)
    finally:
        console.run(_no_department(console, "approver"))


async def _audit(console, action: str) -> list:
    from appliance.store import audit as audit_store

    return await console.appliance.store.read(lambda: audit_store.list_entries(action=action))


async def _no_department(console, role: str) -> None:
    from appliance.store import accounts as accounts_store

    info = await cs.user(console, role)
    await console.appliance.store.write(
        lambda: accounts_store.update_user(info.id, department_id=None))
