"""Signatures: every outgoing message carries its sender's 【单位简称】 (the Chinese carriers'
convention), the department's own or the box's.

Knows: what a signature looks like (2 to 8 characters inside 【】), where it goes (start, the
convention, or end), what counts as a forged one (another 【...】, or look-alike brackets
[ ] ［］ 〖〗 〔〕 pretending to be one) and what to do about a missing or forged one (add /
replace, or refuse, per setting). Whose signature a request carries: its origin's department's
own signature when it has one (`PUT /api/v1/policy/signatures`); else, when the department has
a short name (简称, `cardgate department add NAME --short 简称`, the accounts' field) of 2 to 8
characters that is a valid signature (no brackets, spaces or control characters), 【short name】;
else the box's (auto-answers and the appliance's own messages too). A short name that is not a
valid signature (one character, nine or more...) is ignored: the box's applies. A box with no
signature configured, whose department has neither, adds and checks nothing.
The appliance's own messages (auto-answers, door "rules"; the box's, door "system") are never
refused for their signature: it is added or put right, whatever `on_missing`/`on_forged` say,
since nobody is there to correct and resend them (an unsubscribe confirmation must go).
Must not know: HTTP, storage (`build_policy` reads the signatures and the departments' short
names into memory; the API calls `set_department` / `set_short_name` after each change it
makes; a short name changed from the command line while the appliance runs is seen at its next
start), the other rules.

Why it runs in `prepare`: the signature costs characters, and the part count intake returns
(`parts`, `encoding`) must be the one the gateway sends.

Why look-alike brackets only count with a Chinese character inside: "[ALERT] disk full" from a
monitoring device is content, not a signature; "[市税务局]" pretends to be one.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.config import PolicyConfig, signature_problem
from appliance.dispatch.intake import PolicyRefused
from appliance.policy.layer import Check
from appliance.policy.origin import Origin

if TYPE_CHECKING:
    from appliance.dispatch.intake import SendRequest

PLACEMENTS = ("start", "end")
OWN_DOORS = ("rules", "system")  # the appliance's own messages: corrected, never refused
_OPEN = "【〖[［〔〘⟦"
_CLOSE = "】〗]］〕〙⟧"
_INNER = rf"[^{re.escape(_OPEN + _CLOSE)}\r\n]{{1,20}}"
_MARK = rf"[{re.escape(_OPEN)}]{_INNER}[{re.escape(_CLOSE)}]"
_AROUND = r"[\s\u200b-\u200f\u2060\ufeff]*"  # white space and invisible format characters
_HEAD = re.compile(rf"{_AROUND}({_MARK})")
_TAIL = re.compile(rf"({_MARK}){_AROUND}\Z")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _fold(name: str) -> str:
    """A signature's name as compared: NFKC, without spaces ("【 市税务局 】" is 【市税务局】)."""
    return "".join(unicodedata.normalize("NFKC", name).split())


@dataclass(frozen=True)
class Mark:
    """A signature-like bracket at the start or end of a text."""

    start: int
    end: int
    raw: str  # the brackets and what is inside, as written

    @property
    def inner(self) -> str:
        return self.raw[1:-1]

    @property
    def looks_like_signature(self) -> bool:
        return self.raw[0] == "【" or bool(_CJK.search(self.inner))


def marks(text: str) -> tuple[Mark | None, Mark | None]:
    """The signature-like marks at the start and at the end of `text` (the same mark once,
    as the head, when it is the whole text)."""
    head = tail = None
    m = _HEAD.match(text)
    if m:
        head = Mark(m.start(1), m.end(1), m.group(1))
        if not head.looks_like_signature:
            head = None
    m = _TAIL.search(text)
    if m and (head is None or m.start(1) >= head.end):
        tail = Mark(m.start(1), m.end(1), m.group(1))
        if not tail.looks_like_signature:
            tail = None
    return head, tail


def _stacked(text: str) -> list[Mark]:
    """Every signature-like mark at the start and at the end of `text`, stacked ones too: in
    "【ours】【forged】..." the forged one is a signature as much as the first."""
    found: list[Mark] = []
    pos, end = 0, len(text)
    while (m := _HEAD.match(text, pos)) and Mark(0, 0, m.group(1)).looks_like_signature:
        found.append(Mark(m.start(1), m.end(1), m.group(1)))
        pos = m.end(1)
    while (m := _TAIL.search(text, pos, end)) and Mark(0, 0, m.group(1)).looks_like_signature:
        found.append(Mark(m.start(1), m.end(1), m.group(1)))
        end = m.start(1)
    return found


def split_tail_mark(text: str) -> tuple[str, str]:
    """(`text` without its trailing signature-like mark, that mark or ""): what goes before an
    end-placed signature (the unsubscribe hint) goes between the two."""
    _, tail = marks(text)
    if tail is None:
        return text, ""
    return text[:tail.start].rstrip(), text[tail.start:tail.end]


@dataclass(frozen=True)
class SignatureRule:
    """One sender's signature and what to do when a text does not carry it."""

    name: str  # inside the brackets
    placement: str = "start"
    on_missing: str = "add"  # add / refuse
    on_forged: str = "replace"  # replace / refuse

    @property
    def mark(self) -> str:
        return f"【{self.name}】"


def sign(text: str, rule: SignatureRule) -> tuple[str, str]:
    """`text` carrying `rule`'s signature in its place, and what was done: "present" (left
    alone), "added", "corrected" (ours, misplaced or badly written), "replaced" (a forged one
    taken out). PolicyRefused ("signature_missing" / "signature_forged") when the rule says
    refuse."""
    mark = rule.mark
    found = _stacked(text)
    forged = [m for m in found if _fold(m.inner) != _fold(rule.name)]
    in_place = text.startswith(mark) if rule.placement == "start" else text.endswith(mark)
    if in_place and not forged:
        return text, "present"
    if forged and rule.on_forged == "refuse":
        fake = forged[0].raw
        raise PolicyRefused("signature_forged", "text",
                            f"the text carries the signature “{fake}”, not the sender's "
                            f"“{mark}”", found=fake, expected=mark)
    body = text
    for m in sorted(found, key=lambda m: m.start, reverse=True):
        body = body[:m.start] + body[m.end:]
    body = body.strip()
    if forged:
        what = "replaced"
    elif found:  # ours, misplaced or in look-alike brackets, or with spaces inside
        what = "corrected"
    elif rule.on_missing == "refuse":
        raise PolicyRefused("signature_missing", "text",
                            f"the text must carry the signature “{mark}” at its "
                            f"{rule.placement}", expected=mark)
    else:
        what = "added"
    return (mark + body if rule.placement == "start" else body + mark), what


class SignatureCheck(Check):
    """Adds, checks or replaces the sender's signature (see the module docstring)."""

    name = "signature"

    def __init__(self, config: PolicyConfig,
                 departments: Iterable[tuple[int, str, str | None]] = (),
                 short_names: Iterable[tuple[int, str]] = ()):
        self.config = config
        self.departments: dict[int, tuple[str, str | None]] = {}
        self.short_names: dict[int, str] = {}
        for department_id, signature, placement in departments:
            self.set_department(department_id, signature, placement)
        for department_id, short_name in short_names:
            self.set_short_name(department_id, short_name)

    def set_short_name(self, department_id: int, short_name: str | None) -> None:
        """The department's short name from now on (None: the department is gone): its
        signature when it has none of its own, if it can be one (see the module docstring)."""
        short_name = (short_name or "").strip()
        if short_name and signature_problem(short_name) is None:
            self.short_names[department_id] = short_name
        else:
            self.short_names.pop(department_id, None)

    def set_department(self, department_id: int, signature: str | None,
                       placement: str | None = None) -> None:
        """The department's signature from now on (None or "": the box's)."""
        if not signature:
            self.departments.pop(department_id, None)
            return
        problem = signature_problem(signature)
        if problem:
            raise ValueError(f"signature: {problem}")
        if placement is not None and placement not in PLACEMENTS:
            raise ValueError(f'placement: must be "start" or "end", got "{placement}"')
        self.departments[department_id] = (signature, placement)

    def rule_for(self, origin: Origin) -> SignatureRule | None:
        """The signature a request from `origin` carries; None when nothing is configured."""
        config = self.config
        name, placement = config.signature, None
        department = origin.department_id
        if department is not None and department in self.departments:
            name, placement = self.departments[department]
        elif department is not None and department in self.short_names:
            name = self.short_names[department]
        if not name:
            return None
        if origin.door in OWN_DOORS:
            return SignatureRule(name, placement or config.signature_placement)
        return SignatureRule(name, placement or config.signature_placement,
                             config.on_missing, config.on_forged)

    def prepare(self, request: SendRequest) -> SendRequest:
        rule = self.rule_for(request.origin)
        if rule is None or not isinstance(request.text, str) or not request.text.strip():
            return request  # an empty or non-text body is intake's to refuse, in its words
        text, what = sign(request.text, rule)
        return request if what == "present" else dataclasses.replace(request, text=text)


__all__ = ["PLACEMENTS", "Mark", "SignatureCheck", "SignatureRule", "marks", "sign",
           "split_tail_mark"]
