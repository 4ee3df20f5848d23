"""The console's upload stashes: one contacts.uploads.UploadStash per use (the address book's
import, compose's recipient import) per app, kept as an attribute of app.ctx.

Knows: that a stash's private directory is made when the server starts (off the event loop)
and removed with what it holds when the server stops.
Must not know: what a page keeps in it.
"""

from __future__ import annotations

import asyncio

from sanic import Blueprint, Request

from appliance.contacts.uploads import UploadStash


def keep_stash(bp: Blueprint, attr: str) -> None:
    """Register on `bp` the listeners that open `app.ctx.<attr>` when the server starts and
    close it when it stops."""

    @bp.listener("before_server_start")
    async def _open_stash(app) -> None:  # noqa: ANN001
        setattr(app.ctx, attr, await asyncio.to_thread(UploadStash))

    @bp.listener("after_server_stop")
    async def _close_stash(app) -> None:  # noqa: ANN001
        # The closed stash stays: a late call finds nothing in it rather than failing.
        stash = getattr(app.ctx, attr, None)
        if stash is not None:
            await asyncio.to_thread(stash.close)


def stash_of(request: Request, attr: str) -> UploadStash:
    """The app's stash `attr` (opened by keep_stash). Its methods do file I/O: call them with
    `asyncio.to_thread`."""
    return getattr(request.app.ctx, attr)


__all__ = ["keep_stash", "stash_of"]
