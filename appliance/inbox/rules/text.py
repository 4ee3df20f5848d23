"""Text as rules compare it, and received text made fit to quote in a message we send.

Knows: Unicode normalisation. Must not know: rules, storage, SMS.

Matching is insensitive to case and to full-width/half-width forms, and ignores the spaces (and
invisible format characters) around a keyword: NFKC folds full-width Latin and digits
(ＴＤ → TD) and the ideographic space (U+3000) into their ASCII forms, case-folding makes
"Stop" and "STOP" one, and the trim drops "退订 "'s space. NFKC runs again after case-folding,
which can un-normalise a few characters.

The received text itself is stored exactly as it came (hostile); these are views of it.
"""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _strip_edges(text: str) -> str:
    """Whitespace and format characters (Cf: zero-width space, BOM, direction marks) off both
    ends: a handset or a copy-paste adds them where nobody sees them."""
    start, end = 0, len(text)
    while start < end and (text[start].isspace() or unicodedata.category(text[start]) == "Cf"):
        start += 1
    while end > start and (text[end - 1].isspace()
                           or unicodedata.category(text[end - 1]) == "Cf"):
        end -= 1
    return text[start:end]


def normalize_text(text: str) -> str:
    """The form rules compare: NFKC, case-folded, trimmed (ＴＤ, "td ", "Td" → "td")."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return _strip_edges(folded)


def quotable(text: str) -> str:
    """Received text fit to put into a message we send (a forward, a `{text}` placeholder):
    control characters other than TAB, LF and CR become spaces, and a lone surrogate (a UCS2
    part cut in the middle of a pair) becomes U+FFFD, because intake refuses both."""
    text = _CONTROL.sub(" ", text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text


__all__ = ["normalize_text", "quotable"]
