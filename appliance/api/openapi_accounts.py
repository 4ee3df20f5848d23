"""The OpenAPI description of the accounts and audit routes (users, departments, the audit
log), merged into `openapi.DOCUMENT`.

Knows: the paths, schemas and answers of `api.users` and `api.audit`, written with the
pieces of `api.openapi`.
Must not know: how the routes work (tests/api/test_openapi.py holds this to the app).
"""

from __future__ import annotations

from typing import Any

from appliance.accounts.roles import ROLES
from appliance.audit.export import FORMATS

Schema = dict[str, Any]


def schemas(p) -> dict[str, Schema]:
    """`p`: the openapi module (its small pieces: obj, array, STR...)."""
    role = {"type": "string", "enum": list(ROLES)}
    user = p.obj({"id": p.ID, "name": p.STR, "display_name": p.STR, "role": role,
                  "department_id": p.nullable(p.ID), "department": p.STR_OR_NULL,
                  "disabled": p.BOOL, "must_change_password": p.BOOL, "created_at": p.TIME,
                  "last_login_at": p.TIME_OR_NULL, "password_changed_at": p.TIME_OR_NULL},
                 "all", description="A console user (the password hash is never shown)")
    password = {**p.STR, "minLength": 8, "maxLength": 256,
                "description": "at least 8 characters, not the user's name; the user must "
                               "change it at their next login"}
    department = p.obj({"id": p.ID, "name": p.STR, "short_name": p.STR, "created_at": p.TIME},
                       "all")
    entry = p.obj({
        "seq": p.ID, "at": p.TIME,
        "actor": p.obj({"kind": p.STR, "id": p.STR, "name": p.STR}, "all"),
        "address": p.STR, "door": p.STR, "action": p.STR, "target": p.STR,
        "detail": {"description": "what the entry records (an object; as stored if not JSON)"},
        "prev_hash": p.STR, "hash": p.STR}, "all")
    return {
        "User": user,
        "UserList": p.obj({"users": p.array(p.ref("User"))}, "all"),
        "UserInput": p.obj({
            "name": {**p.STR, "minLength": 1, "maxLength": 64, "pattern": r"^[\w.@-]+$"},
            "role": role, "password": password,
            "display_name": {**p.STR, "maxLength": 128},
            "department_id": p.nullable(p.ID)}, ("name", "role", "password"), closed=True),
        "UserChange": p.obj({
            "role": role, "display_name": {**p.STR, "maxLength": 128},
            "department_id": p.nullable(p.ID), "disabled": p.BOOL,
            "must_change_password": p.BOOL, "password": password},
            closed=True, description="what to change; `password` resets it"),
        "Unlocked": p.obj({"id": p.ID, "name": p.STR, "unlocked": p.BOOL}, "all"),
        "Department": department,
        "DepartmentList": p.obj({"departments": p.array(p.ref("Department"))}, "all"),
        "DepartmentInput": p.obj({"name": {**p.STR, "minLength": 1, "maxLength": 64},
                                  "short_name": {**p.STR, "maxLength": 32}}, closed=True),
        "AuditEntry": entry,
        "AuditPage": p.obj({"entries": p.array(p.ref("AuditEntry")),
                            "next_since": p.INT_OR_NULL, "next_before": p.INT_OR_NULL},
                           ("entries",)),
        "AuditVerify": p.obj({"ok": p.BOOL, "entries": p.INT, "last_hash": p.STR,
                              "first_bad": p.nullable(p.obj({"seq": p.ID, "reason": p.STR},
                                                            "all"))}, "all"),
    }


def paths(p) -> dict[str, dict[str, Any]]:
    r = p.ref
    user_id = p.path_param("user_id", p.ID, "a user's id")
    department_id = p.path_param("department_id", p.ID, "a department's id")
    export = p.op("The whole audit log, oldest first, streamed", "admin",
                  (200, None, "CSV or JSON lines"),
                  params=[p.query("format", {"type": "string", "enum": list(FORMATS),
                                             "default": "jsonl"}),
                          p.query("since_time", p.TIME)], errors=(400,))
    export["responses"]["200"]["content"] = {
        media.split(";")[0]: {"schema": p.STR} for media in FORMATS.values()}
    return {
        "/api/v1/users": {
            **p.with_head(p.op("Console users", "admin", (200, r("UserList"), "the users"))),
            "post": p.op("Create a user (must change the password at first login)", "admin",
                         (201, r("User"), "created"), body=r("UserInput"), errors=(409,))},
        "/api/v1/users/{user_id}": {
            **p.with_head(p.op("A user", "admin", (200, r("User"), "the user"),
                               params=[user_id], errors=(404,))),
            "patch": p.op("Change a user: role, department, disabled, reset the password",
                          "admin", (200, r("User"), "changed"), body=r("UserChange"),
                          params=[user_id], errors=(404, 409))},
        "/api/v1/users/{user_id}/unlock": {"post": p.op(
            "End a user's lockout after failed logins", "admin", (200, r("Unlocked"),
                                                                  "unlocked"),
            params=[user_id], errors=(404,))},
        "/api/v1/departments": {
            **p.with_head(p.op("Departments", "admin", (200, r("DepartmentList"),
                                                        "the departments"))),
            "post": p.op("Create a department", "admin", (201, r("Department"), "created"),
                         body={**r("DepartmentInput"), "required": ["name"]},
                         errors=(409,))},
        "/api/v1/departments/{department_id}": {
            **p.with_head(p.op("A department", "admin", (200, r("Department"), "it"),
                               params=[department_id], errors=(404,))),
            "patch": p.op("Rename a department or change its short name", "admin",
                          (200, r("Department"), "changed"), body=r("DepartmentInput"),
                          params=[department_id], errors=(404, 409)),
            "delete": p.op("Delete a department without users or keys", "admin",
                           (200, p.obj({"deleted": p.ID}, "all"), "deleted"),
                           params=[department_id], errors=(404, 409))},
        "/api/v1/audit": p.with_head(p.op(
            "Audit log entries (newest first; `since` pages forward)", "admin",
            (200, r("AuditPage"), "a page"),
            params=[p.query("action", {**p.STR, "maxLength": 128},
                            "an action, or a prefix: `user` lists user.*"),
                    p.query("actor", {**p.STR, "maxLength": 128}, "an actor's name or id"),
                    p.query("since_time", p.TIME), p.query("since", {**p.INT, "minimum": 0}),
                    p.query("before", p.ID),
                    p.query("limit", {**p.INT, "minimum": 1, "maximum": 500, "default": 50}),
                    p.query("order", {"type": "string", "enum": ["asc", "desc"]})],
            errors=(400,))),
        "/api/v1/audit/verify": p.with_head(p.op(
            "Check the hash chain; the first broken entry, if any", "admin",
            (200, r("AuditVerify"), "the check"))),
        "/api/v1/audit/export": p.with_head(export),
    }
