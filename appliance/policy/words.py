"""Forbidden words: a request whose text contains one of the list's words is refused, naming
the word and where it was found.

Knows: how a text is folded before matching (NFKC, so full-width ＦＡ is FA; case-folded; and
with every space, punctuation mark, symbol, mark and invisible format character dropped, so
"发 票", "发.票", "发_票", "发\\u200b票" are all 发票), and the matcher: one compiled regular
expression built as a trie of the folded words (the regex engine walks it in C; a plain
alternation of thousands of words would try each of them at every position).
Must not know: HTTP, storage (the list is loaded by `load` and swapped by `set_words` after
every change through the API), the other rules.

Where a word with Latin letters is not matched: inside a longer Latin word ("sex" is not in
"Essex"), judged on the text as written, so "s e x" and "s.e.x" still are. Chinese has no word
boundaries: a folded match is a match. What the fold costs: "打发。票据" folds to 打发票据 and
contains 发票; the list's owner chooses words with that in mind (the refusal names the match).

Cost: the text is folded once per request (one pass), then one regex search; measured in
tests/policy/test_words.py (a 1,000-word list against a 3-part text).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.dispatch.intake import PolicyRefused
from appliance.policy.layer import Check

if TYPE_CHECKING:
    from appliance.dispatch.intake import SendRequest

MAX_WORD = 50  # characters of a word as written
_DROPPED = ("P", "S", "Z", "C", "M")  # punctuation, symbols, separators, controls, marks
_LATIN = re.compile(r"[a-z0-9]")


class WordError(ValueError):
    """A word that cannot be on the list (empty once folded, too long)."""


def _fold_char(char: str) -> str:
    out = []
    for c in unicodedata.normalize("NFKC", char).casefold():
        if unicodedata.category(c)[0] not in _DROPPED:
            out.append(c)
    return "".join(out)


def fold(text: str) -> tuple[str, list[int]]:
    """`text` as the matcher sees it, and for each folded character the index in `text` of the
    character it came from."""
    folded: list[str] = []
    where: list[int] = []
    for i, char in enumerate(text):
        if char.isascii():  # the common case, without a Unicode database look-up
            if char.isalnum():
                folded.append(char.lower())
                where.append(i)
            continue
        for c in _fold_char(char):
            folded.append(c)
            where.append(i)
    return "".join(folded), where


def fold_word(word: str) -> str:
    """The word as stored in the list's UNIQUE `normalized` column; WordError if unusable."""
    if not isinstance(word, str):
        raise WordError("a word must be a string")
    word = word.strip()
    if not word:
        raise WordError("a word must not be empty")
    if len(word) > MAX_WORD:
        raise WordError(f"a word must be at most {MAX_WORD} characters, got {len(word)}")
    folded = fold(word)[0]
    if not folded:
        raise WordError(f"“{word}” has no letters or digits: it would match every text")
    return folded


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex matching any of `words` (folded), built as a trie: common prefixes once."""
    trie: dict = {}
    for word in words:
        node = trie
        for c in word:
            node = node.setdefault(c, {})
        node[""] = True

    def render(node: dict) -> str:
        end = "" in node
        branches = [re.escape(c) + render(child) for c, child in sorted(node.items()) if c]
        if not branches:
            return ""
        # Longer words first: a word and its extension ("发票" and "发票代开") both match,
        # and naming the longer one says more.
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if end:
            return f"(?:{body})?" if len(branches) > 1 or len(body) > 1 else body + "?"
        return body

    return render(trie)


@dataclass(frozen=True)
class Found:
    word: str  # as written in the list
    as_written: str  # the span of the text that matched, as the submitter wrote it
    position: int  # where it starts in the text (0-based, in characters)


class WordList:
    """The forbidden words, compiled for matching."""

    def __init__(self, words: Iterable[str] = ()):
        self.words: dict[str, str] = {}  # folded -> as written (the first one kept)
        for word in words:
            self.words.setdefault(fold_word(word), word.strip())
        self._pattern = (re.compile(_trie_pattern(self.words)) if self.words else None)

    def __len__(self) -> int:
        return len(self.words)

    def find(self, text: str) -> Found | None:
        """The first forbidden word in `text`, or None."""
        if self._pattern is None:
            return None
        folded, where = fold(text)
        pos = 0
        while True:
            m = self._pattern.search(folded, pos)
            if m is None:
                return None
            start, end = where[m.start()], where[m.end() - 1] + 1
            if self._bounded(text, m.group(), start, end):
                return Found(self.words[m.group()], text[start:end], start)
            pos = m.start() + 1

    @staticmethod
    def _bounded(text: str, word: str, start: int, end: int) -> bool:
        """A word starting (ending) with a Latin letter or digit must not continue a Latin
        word of the text as written."""
        if _LATIN.match(word[0]) and start > 0 and text[start - 1].isascii() \
                and text[start - 1].isalnum():
            return False
        return not (_LATIN.match(word[-1]) and end < len(text) and text[end].isascii()
                    and text[end].isalnum())


class ForbiddenWordsCheck(Check):
    """Refuses a text containing a forbidden word (the text as the submitter wrote it: this
    check runs before the signature and the unsubscribe hint are added)."""

    name = "forbidden_words"

    def __init__(self, words: Iterable[str] = ()):
        self.list = WordList(words)

    def set_words(self, words: Iterable[str]) -> None:
        """The list from now on (compiled here, then swapped in one assignment)."""
        self.list = WordList(words)

    def prepare(self, request: SendRequest) -> SendRequest:
        if not isinstance(request.text, str):
            return request
        found = self.list.find(request.text)
        if found is not None:
            raise PolicyRefused(
                "forbidden_word", "text",
                f"the text contains the forbidden word “{found.word}” (as “{found.as_written}” "
                f"at position {found.position})", word=found.word, found=found.as_written,
                position=found.position)
        return request


__all__ = ["ForbiddenWordsCheck", "Found", "WordError", "WordList", "fold", "fold_word"]
