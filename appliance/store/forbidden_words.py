"""The forbidden-word list's persistence.

Knows: the ForbiddenWord table; that a word is unique by its folded form (the caller folds:
`policy.words.fold_word`).
Must not know: how words are folded or matched, HTTP, the event loop. Synchronous: runs
inside `Store.write` / `Store.read`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from appliance.store.db import utcnow
from appliance.store.models import ForbiddenWord

MAX_PAGE = 5000


def _view(row: ForbiddenWord) -> dict[str, Any]:
    return {"id": row.id, "word": row.word, "normalized": row.normalized,
            "created_at": row.created_at}


def all_words() -> list[str]:
    """Every word as written, oldest first: what the matcher is built from."""
    return [w for (w,) in ForbiddenWord.select(ForbiddenWord.word)
            .order_by(ForbiddenWord.id).tuples()]


def list_words(q: str = "", *, limit: int = 500,
               offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Words oldest first, `limit` from `offset`, and how many match `q` (a part of the word)."""
    query = ForbiddenWord.select()
    if q:
        query = query.where(ForbiddenWord.word.contains(q))
    total = query.count()
    rows = query.order_by(ForbiddenWord.id).limit(max(1, min(limit, MAX_PAGE))).offset(
        max(0, offset))
    return [_view(r) for r in rows], total


def add_words(words: Iterable[tuple[str, str]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Add (word, folded) pairs; returns the rows added and the words already listed (by
    their folded form, or twice in `words`)."""
    pairs = list(words)
    have = {n for (n,) in ForbiddenWord.select(ForbiddenWord.normalized).where(
        ForbiddenWord.normalized.in_([f for _, f in pairs])).tuples()} if pairs else set()
    added, already = [], []
    now = utcnow()
    for word, folded in pairs:
        if folded in have:
            already.append(word)
            continue
        have.add(folded)
        added.append(_view(ForbiddenWord.create(word=word, normalized=folded, created_at=now)))
    return added, already


def delete_word(word_id: int) -> dict[str, Any] | None:
    """Remove a word by id; the row removed, or None when there was none."""
    row = ForbiddenWord.get_or_none(ForbiddenWord.id == word_id)
    if row is None:
        return None
    row.delete_instance()
    return _view(row)


def delete_folded(folded: str) -> dict[str, Any] | None:
    """Remove the word whose folded form is `folded`; the row removed, or None."""
    row = ForbiddenWord.get_or_none(ForbiddenWord.normalized == folded)
    if row is None:
        return None
    row.delete_instance()
    return _view(row)


__all__ = ["add_words", "all_words", "delete_folded", "delete_word", "list_words"]
