"""A message's content identity: what makes two texts "the same message" for dedupe.

Knows: the normalisation (Unicode NFC; invisible format characters removed, since a zero-width
space or a soft hyphen shows nothing on a handset: "会议" U+200B "改期" is "会议改期" to its reader;
leading and trailing white space removed, every run of white space one space) and the hash (the
first 8 bytes of sha256 of the normalised text, as a signed 64-bit integer: it fits a BIGINT
column and its index).
Must not know: storage, the window, who may lift dedupe (appliance.policy.dedupe). Pure, so
intake stamps every row with it at the cost of one hash per request.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACE = re.compile(r"\s+")
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def normalise(text: str) -> str:
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text))
    return _SPACE.sub(" ", text.strip())


def content_hash(text: str) -> int:
    digest = hashlib.sha256(normalise(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


__all__ = ["content_hash", "normalise"]
