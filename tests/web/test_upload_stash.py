"""The console's upload stashes (console_web.stash): one private directory per use and app,
removed when the app stops. In a module of its own: it starts an appliance of its own, which
binds the store's models to its database (a module-scoped console beside it would then read
the wrong one)."""

from __future__ import annotations


async def test_the_upload_stashes_are_one_per_app_and_removed_when_it_stops(tmp_path):
    from tests.api.conftest import running

    async with running(tmp_path, modems=1) as gateway:
        ctx = gateway.app.ctx
        directories = [ctx.compose_imports.directory, ctx.contacts_uploads.directory]
        assert directories[0] != directories[1]
        assert all(d.is_dir() for d in directories)
    assert not any(d.exists() for d in directories)
