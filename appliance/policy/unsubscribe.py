"""The unsubscribe hint: a marketing message (category "marketing") tells its recipient how to
stop such messages (`回T退订` by default, `[policy] unsubscribe_hint`), as the carriers and
MIIT's rules on commercial SMS require.

Knows: the common ways a text already says it (回T退订, 回TD退订, 回复T退订, 退订回T,
退订请回复TD, 拒收请回复R, 回N退订, "reply STOP"...), recognised whatever the width, case,
spacing and punctuation; and how the hint is appended: directly after a punctuation mark
("…，回T退订": Chinese puts no space after its full-width punctuation), else after one space
("…详情见官网 回T退订", the usual way to set it apart from the sentence it would otherwise run
into); before a signature placed at the end.
Must not know: HTTP, storage, the other rules (the signature check runs after this one and
finds an end signature still at the end).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from typing import TYPE_CHECKING

from appliance.config import PolicyConfig
from appliance.policy.layer import Check
from appliance.policy.signature import split_tail_mark

if TYPE_CHECKING:
    from appliance.dispatch.intake import SendRequest

MARKETING = "marketing"
_KEY = r"(?:T|TD|N|R|0000|00000|STOP|退订|拒收)"
_REPLY = r"(?:短信)?(?:回复?|发送?|编辑)"
_STOP = r"(?:即?可?|以|进行)?(?:退订|拒收|退出|取消)"
_HINTS = re.compile(
    rf"{_REPLY}{_KEY}{_STOP}"  # 回T退订, 回复TD退订, 回复0000即可退订, 发送T退出
    rf"|(?:退订|拒收|取消)(?:请|短信)?(?:直接)?{_REPLY}{_KEY}"  # 退订回T, 拒收请回复R
    r"|REPLYSTOP|TEXTSTOP|STOPTOOPTOUT|STOPTOUNSUBSCRIBE")


_NOT_ALNUM = re.compile(r"[\W_]+")


def _fold(text: str) -> str:
    """NFKC, upper case, without spaces, punctuation or symbols: "回 Ｔ 退订" is 回T退订.

    Spaces, punctuation and symbols go first: NFKC of a Chinese text with full-width
    punctuation takes its slow path (~100 µs for three parts, measured), of what is left
    (letters and digits, mostly already normal) a quick check. All of it runs in C."""
    text = _NOT_ALNUM.sub("", text)
    if not unicodedata.is_normalized("NFKC", text):
        text = _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", text))
    return text.upper()


def has_hint(text: str, hint: str = "回T退订") -> bool:
    """Whether `text` already tells how to unsubscribe (the configured hint or a common one)."""
    folded = _fold(text)
    return _fold_hint(hint) in folded or _HINTS.search(folded) is not None


@functools.lru_cache(maxsize=16)
def _fold_hint(hint: str) -> str:
    return _fold(hint)


def with_hint(text: str, hint: str = "回T退订") -> str:
    """`text` with `hint` appended (before a signature at its end), unless it has one."""
    if has_hint(text, hint):
        return text
    body, tail = split_tail_mark(text)
    body = body.rstrip()
    gap = "" if not body or unicodedata.category(body[-1])[0] in ("P", "Z") else " "
    return f"{body}{gap}{hint}{tail}"


class UnsubscribeHintCheck(Check):
    """Appends the unsubscribe hint to marketing messages that lack one."""

    name = "unsubscribe_hint"

    def __init__(self, config: PolicyConfig):
        self.config = config  # read at each request, as the signature check does

    def prepare(self, request: SendRequest) -> SendRequest:
        if request.category != MARKETING or not isinstance(request.text, str) \
                or not request.text.strip():
            return request
        text = with_hint(request.text, self.config.unsubscribe_hint)
        return request if text == request.text else dataclasses.replace(request, text=text)


__all__ = ["MARKETING", "UnsubscribeHintCheck", "has_hint", "with_hint"]
