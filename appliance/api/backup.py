"""`POST /api/v1/backup` (admin): a backup of the database and settings, made now and sent
back as one file (the same archive `cardgate backup` and the technician console make).

Knows: the HTTP shape of the download. Must not know: the archive's layout (appliance.backup).

The archive is also kept in the data folder's `backups/` (where the console's go), so a
download cut short still leaves a copy on the box. The audit trail records the request
(`backup.create`) like any other admin change.
"""

from __future__ import annotations

import asyncio

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, file_stream

from appliance.api import jsonbody as jb
from appliance.api.auth import require_scope
from appliance.api.errors import ApiError
from appliance.backup import BackupError, backup_dir_for, create_backup, default_backup_path

bp = Blueprint("backup", url_prefix="/api/v1")


@bp.post("/backup")
@require_scope("admin")
async def post_backup(request: Request) -> HTTPResponse:
    if request.body:
        jb.json_object(request, set())  # no fields: anything given is a mistake, named
    appliance = request.app.ctx.appliance
    folder = backup_dir_for(appliance.config.database.url)
    if folder is None:
        raise ApiError(409, "not_supported", "backups are made of SQLite databases only; back "
                       "up PostgreSQL with pg_dump")
    output = default_backup_path(folder)
    try:
        manifest = await asyncio.to_thread(create_backup, appliance.config.database.url,
                                           getattr(appliance, "config_path", None), output)
    except BackupError as exc:
        raise ApiError(503, "backup_failed", str(exc)) from None
    return await file_stream(
        output, mime_type="application/gzip", filename=output.name,
        headers={"X-Cardgate-Schema-Version": str(manifest["schema_version"])})
