"""The content rules over JSON: `/api/v1/policy/words` (the forbidden-word list) and
`/api/v1/policy/signatures` (the box's signature settings and each department's signature).

Knows: the JSON shapes, which store function each request becomes, and that the running
checks hold the list and the signatures in memory (swapped after each committed change, so
the next request is judged by the new list).
Must not know: SQL (store.forbidden_words, store.signatures), how words are folded or matched
(policy.words), what a valid signature is (config.signature_problem).

Scope: admin, reading included (the list is the policy's, not every device's business).

Adding words: POST a JSON body {"word": "..."} or {"words": [...]}, or a plain-text body with
one word per line (a bulk import; blank lines are skipped). A word already listed (the same
once folded: "发 票" is 发票) is reported in `already`, not an error.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sanic import Blueprint, Request
from sanic.response import JSONResponse, json

from appliance.api import jsonbody as jb
from appliance.api.auth import require_scope
from appliance.api.errors import ApiError
from appliance.config import signature_problem
from appliance.policy.build import check_named
from appliance.policy.signature import PLACEMENTS, SignatureCheck
from appliance.policy.words import ForbiddenWordsCheck, WordError, WordList, fold_word
from appliance.store import forbidden_words as words_store
from appliance.store import signatures as signatures_store

bp = Blueprint("policy", url_prefix="/api/v1/policy")

MAX_WORDS = 10_000  # per request
WORD_FIELDS = {"word", "words"}
SIGNATURE_FIELDS = {"department_id", "signature", "placement"}
MAX_ID = 2**63 - 1  # larger ids cannot exist (integer keys), nor be queried (SQLite)
_reloading = asyncio.Lock()


def word_view(w: dict[str, Any]) -> dict[str, Any]:
    return {"id": w["id"], "word": w["word"], "normalized": w["normalized"],
            "created_at": jb.iso(w["created_at"])}


def _given_words(request: Request) -> list[str]:
    """The words of a POST: a JSON body, or text with one word per line."""
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type == "text/plain":
        try:
            raw = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise jb.bad("words", "a text body must be UTF-8") from None
        words = [line.strip() for line in raw.splitlines() if line.strip()]
        field = "words"
    else:
        body = jb.json_object(request, WORD_FIELDS)
        if ("word" in body) == ("words" in body):
            raise jb.bad("words", 'give "word" (one) or "words" (a list)')
        field = "word" if "word" in body else "words"
        words = [body["word"]] if field == "word" else body["words"]
        if not isinstance(words, list):
            raise jb.bad("words", "must be a list of strings")
    if not words:
        raise jb.bad(field, "no word given")
    if len(words) > MAX_WORDS:
        raise jb.bad(field, f"at most {MAX_WORDS} words per request, got {len(words)}")
    for i, word in enumerate(words):
        where = field if field == "word" else f"{field}[{i}]"
        jb.text(word, where, limit=200, required=True)
    return words


async def _reload_words(request: Request) -> None:
    """The running check's list from what is now committed (one reload at a time: an older
    read never replaces a newer list). Compiled off the event loop: thousands of words."""
    appliance = request.app.ctx.appliance
    check = check_named(appliance.policy, "forbidden_words")
    if not isinstance(check, ForbiddenWordsCheck):
        return
    async with _reloading:
        words = await appliance.store.read(words_store.all_words)
        check.use(await asyncio.to_thread(WordList, words))


@bp.route("/words", methods=["GET", "HEAD"])
@require_scope("admin")
async def list_words(request: Request) -> JSONResponse:
    limit, offset = jb.limit_offset(request, default=500)
    q = jb.text(request.args.get("q", ""), "q", limit=100).strip()
    rows, total = await request.app.ctx.appliance.store.read(
        lambda: words_store.list_words(q, limit=limit, offset=offset))
    return json({"words": [word_view(w) for w in rows], "total": total, "limit": limit,
                 "offset": offset})


@bp.post("/words")
@require_scope("admin")
async def add_words(request: Request) -> JSONResponse:
    words = _given_words(request)
    pairs = []
    for i, word in enumerate(words):
        try:
            pairs.append((word.strip(), fold_word(word)))
        except WordError as exc:
            raise jb.bad("word" if len(words) == 1 else f"words[{i}]", str(exc)) from None
    added, already = await request.app.ctx.appliance.store.write(
        lambda: words_store.add_words(pairs))
    if added:
        await _reload_words(request)
    return json({"added": [word_view(w) for w in added], "already": already},
                status=201 if added else 200)


@bp.delete("/words")
@require_scope("admin")
async def delete_word_by_text(request: Request) -> JSONResponse:
    word = jb.text(request.args.get("word", ""), "word", limit=200, required=True)
    try:
        folded = fold_word(word)
    except WordError as exc:
        raise jb.bad("word", str(exc)) from None
    row = await request.app.ctx.appliance.store.write(lambda: words_store.delete_folded(folded))
    if row is None:
        raise ApiError(404, "not_found", f"“{word.strip()}” is not on the forbidden-word list")
    await _reload_words(request)
    return json({**word_view(row), "deleted": True})


@bp.delete("/words/<word_id:int>")
@require_scope("admin")
async def delete_word(request: Request, word_id: int) -> JSONResponse:
    if not 0 < word_id <= MAX_ID:
        raise ApiError(404, "not_found", f"no forbidden word with id {word_id}")
    row = await request.app.ctx.appliance.store.write(lambda: words_store.delete_word(word_id))
    if row is None:
        raise ApiError(404, "not_found", f"no forbidden word with id {word_id}")
    await _reload_words(request)
    return json({**word_view(row), "deleted": True})


# -- signatures ------------------------------------------------------------------------------


def _settings(request: Request) -> dict[str, Any]:
    policy = request.app.ctx.appliance.config.policy
    return {"signature": policy.signature, "placement": policy.signature_placement,
            "on_missing": policy.on_missing, "on_forged": policy.on_forged,
            "unsubscribe_hint": policy.unsubscribe_hint}


def signature_view(s: dict[str, Any]) -> dict[str, Any]:
    return {"department_id": s["department_id"], "signature": s["signature"],
            "placement": s["placement"], "updated_at": jb.iso(s["updated_at"])}


@bp.route("/signatures", methods=["GET", "HEAD"])
@require_scope("admin")
async def list_signatures(request: Request) -> JSONResponse:
    rows = await request.app.ctx.appliance.store.read(signatures_store.list_signatures)
    return json({"default": _settings(request),
                 "departments": [signature_view(s) for s in rows]})


@bp.put("/signatures")
@require_scope("admin")
async def set_signature(request: Request) -> JSONResponse:
    body = jb.json_object(request, SIGNATURE_FIELDS)
    department_id = body.get("department_id")
    if not isinstance(department_id, int) or isinstance(department_id, bool) \
            or not 0 < department_id <= MAX_ID:
        raise jb.bad("department_id", "is required: a department's id (a positive integer)")
    if "signature" not in body:
        raise jb.bad("signature", 'is required: the text inside 【】 (null or "" removes it)')
    signature = body["signature"]
    if signature is not None:
        signature = jb.text(signature, "signature", limit=20).strip()
        if signature.startswith("【") and signature.endswith("】"):
            signature = signature[1:-1]
        if signature:
            problem = signature_problem(signature)
            if problem:
                raise jb.bad("signature", problem)
    placement = body.get("placement")
    if placement is not None and placement not in PLACEMENTS:
        raise jb.bad("placement", 'must be "start", "end" or null (the box default)')
    appliance = request.app.ctx.appliance
    await appliance.store.write(
        lambda: signatures_store.set_signature(department_id, signature, placement))
    check = check_named(appliance.policy, "signature")
    if isinstance(check, SignatureCheck):
        check.set_department(department_id, signature, placement)
    rows = await appliance.store.read(signatures_store.list_signatures)
    mine = [s for s in rows if s["department_id"] == department_id]
    if not mine:
        return json({"department_id": department_id, "signature": None, "placement": None,
                     "updated_at": None})
    return json(signature_view(mine[0]))
