"""The policy layer calls, at each moment, every check that acts then, in the layer's order
(it skips the ones that keep Check's do-nothing default), and stops admitting once no row
is left."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from appliance.dispatch.intake import SendRequest
from appliance.pdu import count_parts
from appliance.policy.layer import Check, Draft, PolicyLayer
from appliance.store.messages import NewMessage

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Recorder(Check):
    def __init__(self, name: str, calls: list[str]):
        self.name, self.calls = name, calls


class Prepares(Recorder):
    def prepare(self, request: SendRequest) -> SendRequest:
        self.calls.append(f"{self.name}.prepare")
        request.text += f" [{self.name}]"
        return request


class Admits(Recorder):
    async def admit(self, draft: Draft) -> None:
        self.calls.append(f"{self.name}.admit")


class DropsAll(Recorder):
    async def admit(self, draft: Draft) -> None:
        self.calls.append(f"{self.name}.admit")
        draft.leave_out([False] * len(draft.rows), "gone")


class Ends(Recorder):
    async def accepted(self, draft: Draft, ids: list[int]) -> None:
        self.calls.append(f"{self.name}.accepted:{ids}")

    def abandoned(self, draft: Draft) -> None:
        self.calls.append(f"{self.name}.abandoned")


def draft_of(request: SendRequest) -> Draft:
    row = NewMessage(recipient="+8613800000001", text=request.text, priority=50,
                     category="notice", expires_at=NOW, ttl=60.0)
    return Draft(request=request, rows=[row], count=count_parts(request.text), now=NOW)


def test_each_moment_reaches_the_checks_that_act_then_in_order():
    calls: list[str] = []
    by_instance = Recorder("own", calls)
    by_instance.prepare = lambda request: calls.append("own.prepare") or request  # type: ignore
    layer = PolicyLayer([Prepares("a", calls), Admits("b", calls), Recorder("idle", calls),
                         by_instance, Ends("c", calls), Prepares("d", calls)])
    request = layer.prepare(SendRequest(to=["+8613800000001"], text="hello"))
    assert request.text == "hello [a] [d]"
    draft = draft_of(request)
    asyncio.run(layer.admit(draft))
    asyncio.run(layer.accepted(draft, [7]))
    layer.abandoned(draft)
    assert calls == ["a.prepare", "own.prepare", "d.prepare", "b.admit", "c.accepted:[7]",
                     "c.abandoned"]


def test_admitting_stops_once_no_row_is_left():
    calls: list[str] = []
    layer = PolicyLayer([Admits("a", calls), DropsAll("b", calls), Admits("c", calls)])
    draft = draft_of(SendRequest(to=["+8613800000001"], text="hello"))
    asyncio.run(layer.admit(draft))
    assert calls == ["a.admit", "b.admit"] and draft.rejected == [("+8613800000001", "gone")]
