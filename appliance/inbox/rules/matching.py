"""One rule's keyword test: exact, prefix, contains, regular expression, or anything else.

Knows: the match kinds and how each compares a normalised text (`text.normalize_text`).
Must not know: conditions, actions, storage.

A pattern is normalised (or, for a regex, compiled) once, when the rule is saved or loaded, never
per message. Keyword patterns are normalised like the text, so "ＴＤ" as a pattern matches "td".
A regex is NFKC-normalised (full-width forms in the pattern fold like the text's) but not
case-folded (that would turn `\\D` into `\\d`); it is compiled with IGNORECASE and searched in
the normalised text (anchor it with ^...$ for a whole-text match).

Regexes are written by the appliance's admin, not by whoever sends an SMS; still, a pattern is
bounded (MAX_PATTERN) and must compile at save time, so a typo is a 400 naming it rather than a
rule that never matches.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from appliance.inbox.rules.text import normalize_text

KINDS = ("exact", "prefix", "contains", "regex", "any")
MAX_PATTERN = 500


class PatternError(ValueError):
    """A pattern that cannot be used; the message says why."""


@dataclass(frozen=True)
class Matcher:
    kind: str
    pattern: str  # as written by the admin (shown back by the API)
    normalized: str = ""  # the keyword as compared
    regex: re.Pattern[str] | None = field(default=None, compare=False)

    def match(self, text: str) -> str | None:
        """Why `text` (already normalised) matches, or None when it does not."""
        kind = self.kind
        if kind == "exact":
            return f"text is {self.pattern!r}" if text == self.normalized else None
        if kind == "prefix":
            return f"text starts with {self.pattern!r}" if text.startswith(self.normalized) \
                else None
        if kind == "contains":
            return f"text contains {self.pattern!r}" if self.normalized in text else None
        if kind == "regex":
            assert self.regex is not None
            found = self.regex.search(text)
            return None if found is None else \
                f"text matches /{self.pattern}/ at {found.start()}: {found.group()[:40]!r}"
        return "anything else"


def compile_matcher(kind: str, pattern: str) -> Matcher:
    """A Matcher, or PatternError saying what is wrong with `kind` or `pattern`."""
    if kind not in KINDS:
        raise PatternError(f"must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "any":
        return Matcher("any", "")
    if not isinstance(pattern, str):
        raise PatternError("must be a string")
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"too long: {len(pattern)} characters, at most {MAX_PATTERN}")
    if kind == "regex":
        source = unicodedata.normalize("NFKC", pattern)
        try:
            regex = re.compile(source, re.IGNORECASE)
        except re.error as exc:
            raise PatternError(f"not a valid regular expression: {exc}") from None
        if regex.search("") is not None and source.strip() in ("", ".*", "^", "$", "^.*$"):
            raise PatternError('matches every text: use the kind "any" for anything else')
        return Matcher("regex", pattern, source, regex)
    normalized = normalize_text(pattern)
    if not normalized:
        raise PatternError(f'a {kind} keyword must not be empty (use the kind "any" for '
                           "anything else)")
    return Matcher(kind, pattern, normalized)


__all__ = ["KINDS", "MAX_PATTERN", "Matcher", "PatternError", "compile_matcher"]
