"""Whom an automatic message may go to, and how often: the rules' safety catch.

Knows: which senders never get an automatic reply (alphanumeric names, short codes and
service numbers, the box's own SIMs), the per-sender cooldown, the loop bound, and the
built-in unsubscribe keywords. Must not know: storage, the clock (times are passed in), rules.

Who gets no automatic reply (`reply_refusal`):
- an alphanumeric sender ("ALIPAY", "中国移动"): nobody can answer it anyway;
- a number that is not a personal one. On the mainland only mobile numbers (+86 1[3-9]x,
  eleven digits) are: 10086/10010/10000 and the 106xx SP numbers (10690..., up to 20 digits,
  used for notices and verification codes) all start with 10, 95xxx/96xxx are bank and utility
  numbers, 12xxx public hotlines, 400/800 business lines and landlines take no SMS. Elsewhere,
  a number must normalise (phonenumbers) and have at least 8 digits with its country code, so
  a short code (5 or 6 digits) does not;
- one of the box's own SIMs (its +CNUM number, the `sim` table): two of our SIMs must not
  answer each other.
Automatic replies to one number are then bounded (`ReplyHistory`): at most one per cooldown
(`rules.reply_cooldown_seconds`), and at most `rules.loop_limit` within
`rules.loop_window_seconds`: two auto-responders answering each other stop there.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from appliance.inbox.rules.text import normalize_text

_PERSONAL_CN = re.compile(r"^\+861[3-9][0-9]{9}$")
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")


def reply_refusal(sender: str, number: str, own_numbers: frozenset[str]) -> str | None:
    """Why no automatic message may go to this sender (None: it may). `number` is the sender
    normalised to E.164 when it could be, else the sender as received."""
    if any(c.isalpha() for c in sender):
        return f"{sender!r} is an alphanumeric sender (nobody can answer it)"
    if number in own_numbers:
        return f"{number} is one of this box's own SIMs"
    if number.startswith("+86"):
        if not _PERSONAL_CN.match(number):
            return f"{number} is a mainland service number, landline or short code, not a mobile"
        return None
    if not _E164.match(number):
        return f"{sender!r} is a short code or service number, not a personal number"
    return None


@dataclass
class ReplyHistory:
    """Automatic replies per number, recent enough to matter (in memory; loaded from the
    action log at start)."""

    cooldown: timedelta
    loop_limit: int
    loop_window: timedelta
    _times: dict[str, deque[datetime]] = field(default_factory=dict)

    @property
    def horizon(self) -> timedelta:
        return max(self.cooldown, self.loop_window)

    def refusal(self, number: str, now: datetime) -> tuple[str, str] | None:
        """("loop" | "cooldown", why) when no automatic reply may go to `number` now."""
        times = self._times.get(number)
        if not times:
            return None
        recent = sum(1 for t in times if now - t < self.loop_window)
        if self.loop_limit and recent >= self.loop_limit:
            return "loop", (f"loop: {recent} automatic replies to {number} within "
                            f"{self.loop_window.total_seconds():.0f} s (limit "
                            f"{self.loop_limit}); no more until the window passes")
        last = times[-1]
        if now - last < self.cooldown:
            return "cooldown", (f"cooldown: replied to {number} "
                                f"{(now - last).total_seconds():.0f} s ago (at most one "
                                f"automatic reply per {self.cooldown.total_seconds():.0f} s)")
        return None

    def record(self, number: str, at: datetime) -> None:
        times = self._times.setdefault(number, deque())
        times.append(at)
        while times and at - times[0] >= self.horizon:
            times.popleft()

    def copy_for(self, number: str) -> ReplyHistory:
        """A copy holding only `number`'s replies (the dry run plays on it)."""
        out = ReplyHistory(self.cooldown, self.loop_limit, self.loop_window)
        if number in self._times:
            out._times[number] = deque(self._times[number])
        return out

    def load(self, replies: Iterable[tuple[str, datetime]]) -> None:
        """Earlier replies (number, time), oldest first."""
        for number, at in replies:
            self.record(number, at)

    def prune(self, now: datetime) -> None:
        """Forget numbers whose replies are all older than the horizon (bounds memory)."""
        for number in [n for n, t in self._times.items() if not t or now - t[-1] >= self.horizon]:
            del self._times[number]

    def __len__(self) -> int:
        return len(self._times)


_BARE = re.compile(r"[\s\W_]+")  # spaces, punctuation and symbols (not letters, digits, CJK)


def keyword_set(words: Iterable[str]) -> frozenset[str]:
    """Configured keywords in the form they are compared in (`unsubscribe_intent`)."""
    return frozenset(w for w in (_BARE.sub("", normalize_text(x)) for x in words) if w)


def unsubscribe_intent(normalized: str, unsubscribe: frozenset[str],
                       resubscribe: frozenset[str]) -> str | None:
    """"unsubscribe", "resubscribe" or None for a normalised text: whole-text matches only
    ("TD" unsubscribes, "TD 谢谢" does not: a reply is not an order unless it is the word),
    without its spaces and punctuation: "退订。", "T D" and "【退订】" are the word as a
    handset's input method or a hurried reader writes it."""
    bare = _BARE.sub("", normalized)
    if bare in unsubscribe:
        return "unsubscribe"
    if bare in resubscribe:
        return "resubscribe"
    return None


__all__ = ["ReplyHistory", "keyword_set", "reply_refusal", "unsubscribe_intent"]
