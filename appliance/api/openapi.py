"""`GET /api/v1/openapi.json`: the JSON API described as an OpenAPI 3.1 document; `GET
/api/v1/docs`: the same, as a page to read and try (Swagger UI).

Knows: every route under /api/v1, its scope, parameters, request body and answers, written as
data built from small schema pieces in this one place.
Must not know: how any route works (the tests in tests/api/test_openapi.py hold the document to
the app: every route registered under /api/v1 is documented with its methods and scope, every
documented one exists, and real answers validate against the documented schemas).

Why data and not sanic-ext's decorators: sanic-ext documents every route of the app (the Kannel,
playSMS and /metrics doors included, HEAD routes too) unless each is excluded, wants global
config, and extending the app makes it serve /docs pages that load their scripts from a CDN the
box cannot reach. The app keeps `AUTO_EXTEND = False`. The reference page for people,
`GET /api/v1/docs`, is Swagger UI over this document, its files vendored in web/static (see
web/static/vendor/swagger-ui.README): nothing it needs comes from outside the box.

The document needs no key to read: it describes the API, not the data behind it.
Not described here: the compatibility doors (`/cgi-bin/sendsms`, `/index.php`) and `/metrics`,
which keep the formats of the software they imitate (README).
"""

from __future__ import annotations

import copy
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, JSONResponse, json

from appliance import __version__
from appliance.console_web import SECURITY_HEADERS
from appliance.console_web.assets import TEMPLATES_DIR
from appliance.dispatch.balancer import PRIORITY
from appliance.dispatch.intake import MAX_RECIPIENTS, MAX_TEXT_CHARS
from appliance.inbox.rules.definition import ACTION_TYPES
from appliance.inbox.rules.matching import KINDS
from appliance.policy.origin import DOORS
from appliance.pool.supervisor import PoolState
from appliance.store.states import MessageState, PartState
from appliance.store.webhooks import EVENTS

bp = Blueprint("openapi", url_prefix="/api/v1")

Schema = dict[str, Any]

# -- small pieces ----------------------------------------------------------------------------


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """The schema or JSON null (OpenAPI 3.1 is JSON Schema 2020-12: a type list)."""
    if "type" in schema and "enum" not in schema:
        kind = schema["type"]
        return {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Schema], required: tuple[str, ...] | str = (), *,
        closed: bool = False, description: str | None = None) -> Schema:
    """A JSON object; `closed`: other keys are refused (request bodies: the server names an
    unknown field in a 400)."""
    out: Schema = {"type": "object", "properties": properties}
    if required == "all":
        required = tuple(properties)
    if required:
        out["required"] = list(required)
    if closed:
        out["additionalProperties"] = False
    if description:
        out["description"] = description
    return out


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
ID: Schema = {"type": "integer", "minimum": 1}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time"}
TIME_OR_NULL = nullable(TIME)
STR_OR_NULL = nullable(STR)
INT_OR_NULL = nullable(INT)
NUMBER_TEXT: Schema = {"type": "string", "minLength": 1, "maxLength": 64,
                       "description": "a phone number in any common form (E.164 preferred), "
                                      "or a sender name / short code"}
NUMBERS: Schema = {"oneOf": [NUMBER_TEXT, array(NUMBER_TEXT)],
                   "description": "one number, or a list of them"}
SCOPES = ("send", "read", "approve", "admin")

# -- schemas ---------------------------------------------------------------------------------

MESSAGE_FIELDS: dict[str, Schema] = {
    "id": ID, "to": STR, "text": STR,
    "state": {"type": "string", "enum": [*(s.value for s in MessageState), "pending_approval"],
              "description": "pending_approval: held until an approver decides (stored as "
                             "held; see /api/v1/approvals)"},
    "category": STR, "priority": INT, "client_ref": STR_OR_NULL,
    "sim": nullable({**STR, "description": "the ICCID of the SIM it left through"}),
    "parts_count": INT, "attempts": INT, "error": STR_OR_NULL,
    "send_at": TIME_OR_NULL, "expires_at": TIME_OR_NULL, "created_at": TIME,
    "updated_at": TIME_OR_NULL, "sent_at": TIME_OR_NULL, "final_at": TIME_OR_NULL,
    "submitted_by": obj({
        "door": nullable({"type": "string", "enum": list(DOORS),
                          "description": "how it came in (null: before this was recorded)"}),
        "address": nullable({**STR, "description": "the client's IP address"}),
        "api_key_id": INT_OR_NULL, "user_id": INT_OR_NULL, "department_id": INT_OR_NULL,
    }, "all", description="who submitted it, through which door"),
}
HOLD = obj({"reason": {"type": "string", "enum": ["quiet_hours", "maintenance"]},
            "until": nullable({**TIME, "description": "null: until maintenance is off"})},
           "all")


SCHEMAS: dict[str, Schema] = {
    "Error": obj({"error": obj({
        "code": {**STR, "description": "stable, for programs (e.g. invalid_field, not_found)"},
        "message": {**STR, "description": "for people: what is wrong and how to fix it"},
        "field": {**STR, "description": "the request field or parameter at fault"},
    }, ("code", "message"))}, ("error",),
        description="Every 4xx/5xx answer. Some carry more keys beside code and message "
                    "(e.g. `rejected` on a 422, `contact_id` on a 409 number_taken)."),
    # messages
    "MessageSend": obj({
        "to": {**NUMBERS, "description": f"one number or up to {MAX_RECIPIENTS} of them "
                                         f"(the default of `[dispatch] max_recipients`)"},
        "text": {**STR, "minLength": 1, "maxLength": MAX_TEXT_CHARS,
                 "description": "at most 10 parts (GSM-7 or UCS2, chosen for the text)"},
        "category": {"type": "string", "enum": list(PRIORITY), "default": "notice"},
        "priority": {**INT, "minimum": 0, "maximum": 100,
                     "description": "overrides the category's; above alert's needs `admin`"},
        "send_at": nullable({**TIME, "description": "with a time zone; at most a year ahead"}),
        "ttl": {"type": "number", "exclusiveMinimum": 0,
                "description": "seconds the message may wait before it expires"},
        "client_ref": nullable({**STR, "minLength": 1, "maxLength": 64,
                                "description": "idempotency key: a replay answers the same "
                                               "ids; a different request under it is a 409"}),
        "skip_dedupe": {**BOOL, "default": False,
                        "description": "send even if the same text went to a number within "
                                       "the dedupe window: for alert and otp, or an admin "
                                       "key (else 403 skip_dedupe_not_allowed)"},
    }, ("to", "text"), closed=True),
    "Rejected": obj({"to": STR, "reason": STR}, "all"),
    "MessageAccepted": obj({
        "messages": array(obj({"id": ID, "to": STR}, "all")),
        "parts": {**INT, "description": "parts per message"},
        "encoding": {"type": "string", "enum": ["gsm7", "ucs2"]},
        "rejected": array(ref("Rejected"), description="recipients left out: on the "
                                                       "blacklist, or by a policy rule (a "
                                                       "duplicate, no marketing consent...)"),
        "policy": {"type": "object", "description": "what the policy rules tell besides, "
                   "e.g. `waiting`: held back by quiet hours or maintenance until a time",
                   "properties": {"waiting": {**HOLD, "properties": {
                       **HOLD["properties"], "message": STR}}}},
    }, ("messages", "parts", "encoding", "rejected")),
    "Maintenance": obj({
        "on": {**BOOL, "description": "maintenance switched on by hand, in force now"},
        "since": TIME_OR_NULL, "until": TIME_OR_NULL, "reason": STR_OR_NULL, "by": STR_OR_NULL,
        "windows": array(obj({"start": TIME, "end": TIME}, "all"),
                         description="configured windows not yet over"),
        "held": {"type": "object", "additionalProperties": HOLD,
                 "description": "category -> why it waits now, until when"},
    }, "all"),
    "MaintenanceInput": obj({
        "on": BOOL, "until": nullable({**TIME, "description": "with a time zone; in the "
                                                             "future"}),
        "reason": {**STR, "maxLength": 200}}, ("on",), closed=True),
    "RecipientCaps": obj({
        "default": {**INT, "description": "[policy_limits] max_recipients_per_send (0: none)"},
        "departments": array(obj({"department_id": ID, "max_recipients": ID}, "all")),
    }, "all"),
    "RecipientCapInput": obj({"max_recipients": {**INT, "minimum": 1, "maximum": 1_000_000}},
                             ("max_recipients",), closed=True),
    "RecipientCap": obj({"department_id": ID, "max_recipients": ID}, "all"),
    "RecipientCapRemoved": obj({"department_id": ID, "removed": BOOL}, "all"),
    "MessagePart": obj({
        "index": INT, "state": {"type": "string", "enum": [s.value for s in PartState]},
        "sim": STR_OR_NULL, "message_reference": INT_OR_NULL, "error": STR_OR_NULL,
        "sent_at": TIME_OR_NULL, "report_status": INT_OR_NULL, "report_at": TIME_OR_NULL,
    }, "all"),
    "MessageEvent": obj({"at": TIME, "from": STR_OR_NULL, "to": STR, "detail": STR_OR_NULL,
                         "sim": STR_OR_NULL}, "all"),
    "Message": obj({**MESSAGE_FIELDS, "parts": array(ref("MessagePart")),
                    "events": array(ref("MessageEvent")),
                    "waiting": nullable({**HOLD, "description": "a queued message held back "
                                                                "now, why and until when"})},
                   "all"),
    "MessageSummary": obj(MESSAGE_FIELDS, "all"),  # in listings: no parts, no history
    "MessagePage": obj({
        "messages": array(ref("MessageSummary")),
        "next_since": nullable({**INT, "description": "ascending order: poll with ?since="}),
        "next_before": nullable({**INT, "description": "descending: page with ?before="}),
    }, ("messages",)),
    # modems and health
    "Modem": obj({
        "port": STR, "state": {"type": "string", "enum": [s.value for s in PoolState]},
        "state_reason": STR_OR_NULL, "since": STR_OR_NULL, "profile": STR_OR_NULL,
        "usb_id": STR_OR_NULL, "manufacturer": STR_OR_NULL, "model": STR_OR_NULL,
        "revision": STR_OR_NULL, "imei": STR_OR_NULL,
        "sim": obj({k: STR_OR_NULL for k in ("iccid", "imsi", "operator", "operator_code",
                                             "own_number")}),
        "signal": obj({"rssi": INT_OR_NULL, "dbm": INT_OR_NULL, "bars": INT}, "all"),
        "registration": STR_OR_NULL, "recoveries": INT,
        "counters": {"type": "object", "description": "sent/failed/... counts of its SIM"},
        "history": nullable({"type": "object",
                             "description": "first/last seen, plugs, ports, ICCIDs"}),
    }, ("port", "state", "imei", "sim", "signal", "counters")),
    "ModemList": obj({"modems": array(ref("Modem"))}, "all"),
    "Sim": obj({
        "iccid": STR, "imsi": STR_OR_NULL, "label": STR_OR_NULL, "operator": STR_OR_NULL,
        "operator_code": STR_OR_NULL, "own_number": STR_OR_NULL, "enabled": {"type": "boolean"},
        "state": STR, "barred_reason": STR_OR_NULL, "last_seen_at": TIME_OR_NULL,
        "created_at": TIME_OR_NULL,
        "port": nullable({**STR, "description": "the modem it is in now"}),
        "modem_state": STR_OR_NULL,
        "counters": {"type": "object", "description": "sent/failed/... counts (this run)"},
        "caps": obj({w: obj({"limit": INT, "used": INT_OR_NULL}, "all")
                     for w in ("minute", "hour", "day", "month")}, "all"),
    }, "all"),
    "SimList": obj({"sims": array(ref("Sim"))}, "all"),
    "Health": obj({
        "status": {"type": "string", "enum": ["ok", "degraded", "starting"]},
        "problems": array(STR), "version": STR, "uptime_seconds": {"type": "number"},
        "modems": obj({"total": INT, "ready": INT}, "all"),
    }, "all"),
    # inbox and conversations
    "InboxMessage": obj({
        "id": ID, "sender": STR, "number": STR, "contact": nullable({"type": "object"}),
        "text": STR, "sim": STR_OR_NULL, "modem": STR_OR_NULL, "smsc_at": TIME_OR_NULL,
        "received_at": TIME, "updated_at": TIME_OR_NULL,
        "partial": {**BOOL, "description": "parts are still missing"},
        "parts": INT, "parts_received": INT, "handled_at": TIME_OR_NULL,
    }, ("id", "sender", "number", "text", "sim", "received_at", "partial")),
    "InboxPage": obj({
        "messages": array(ref("InboxMessage")),
        "next_since": nullable({**INT, "description": "ascending order: poll with ?since="}),
        "next_before": nullable({**INT, "description": "descending: page with ?before="}),
    }, ("messages",)),
    "Conversation": obj({
        "number": STR,
        "contact": nullable(obj({"id": ID, "name": STR, "numbers": array(STR)})),
        "items": array(obj({
            "direction": {"type": "string", "enum": ["in", "out"]}, "id": ID, "number": STR,
            "text": STR, "sim": STR_OR_NULL, "at": TIME,
        }, ("direction", "id", "number", "text", "at"))),
        "next_before": nullable({**STR, "description": "an opaque cursor for ?before="}),
    }, "all"),
    # contacts and groups
    "ContactInput": obj({
        "name": {**STR, "maxLength": 255}, "numbers": {**NUMBERS, "maxItems": 20},
        "note": {**STR, "maxLength": 10_000},
        "fields": {"type": "object", "maxProperties": 50,
                   "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
                   "description": "your own fields (at most 16 KB as JSON)"},
        "groups": {**array(ID, maxItems=100), "description": "group ids (POST only)"},
        "consent": ref("ConsentInput"),
    }, closed=True),
    "Contact": obj({"id": ID, "name": STR, "numbers": array(STR),
                    "groups": array(obj({"id": ID, "name": STR}, "all")),
                    "fields": {"type": "object"}, "note": STR, "created_at": TIME,
                    "updated_at": TIME_OR_NULL, "consent": ref("Consent")},
                   ("id", "name", "numbers")),
    "Consent": obj({
        "state": {"type": "string", "enum": ["granted", "withdrawn", "unknown", "mixed"],
                  "description": "mixed: its numbers disagree (see numbers)"},
        "source": nullable({"type": "string", "enum": ["imported", "reply", "staff"]}),
        "at": TIME_OR_NULL,
        "numbers": {"type": "object", "additionalProperties": {
            "type": "string", "enum": ["granted", "withdrawn", "unknown"]}},
    }, "all", description="marketing consent of the contact's numbers"),
    "ConsentInput": {"oneOf": [
        {"type": "string", "enum": ["granted", "withdrawn", "unknown"]},
        obj({"state": {"type": "string", "enum": ["granted", "withdrawn", "unknown"]},
             "source": {"type": "string", "enum": ["staff", "imported"], "default": "staff"}},
            ("state",), closed=True)],
        "description": "sets the consent of every number of the contact"},
    "ContactList": obj({"contacts": array(ref("Contact")), "total": INT, "limit": INT,
                        "offset": INT}, "all"),
    "GroupInput": obj({"name": {**STR, "minLength": 1, "maxLength": 255},
                       "note": {**STR, "maxLength": 10_000}}, closed=True),
    "Group": obj({"id": ID, "name": STR, "note": STR, "members": INT, "created_at": TIME,
                  "contacts": array(ref("Contact"))}, ("id", "name", "members")),
    "GroupList": obj({"groups": array(ref("Group"))}, "all"),
    "Members": obj({"numbers": NUMBERS, "contact_ids": array(ID)}, closed=True,
                   description="numbers and/or contact ids (a number nobody has gets a "
                               "nameless contact)"),
    "Deleted": obj({"id": ID, "deleted": BOOL}, "all"),
    # blacklist
    "BlacklistInput": obj({"number": NUMBER_TEXT, "reason": {**STR, "maxLength": 500},
                           "source": {"type": "string", "enum": ["api", "console"]}},
                          ("number",), closed=True),
    "BlacklistEntry": obj({"number": STR, "reason": STR, "source": STR,
                           "created_at": TIME_OR_NULL}, ("number", "reason", "source")),
    "BlacklistAdded": {"allOf": [ref("BlacklistEntry"), obj({
        "added": {**BOOL, "description": "false: it was listed already (200)"},
        "cancelled": array(ID, description="waiting messages to it, cancelled")}, "all")]},
    "BlacklistList": obj({"blacklist": array(ref("BlacklistEntry")), "total": INT,
                          "limit": INT, "offset": INT}, "all"),
    # content policy and reports
    "WordInput": obj({"word": {**STR, "minLength": 1, "maxLength": 50},
                      "words": array({**STR, "minLength": 1, "maxLength": 50},
                                     minItems=1, maxItems=10_000)},
                     closed=True, description='"word" or "words" (or a text/plain body, '
                                              'one word per line)'),
    "Word": obj({"id": ID, "word": STR,
                 "normalized": {**STR, "description": "as matched: NFKC, case-folded, "
                                                      "without spaces and punctuation"},
                 "created_at": TIME_OR_NULL}, ("id", "word", "normalized")),
    "WordList": obj({"words": array(ref("Word")), "total": INT, "limit": INT, "offset": INT},
                    "all"),
    "WordsAdded": obj({"added": array(ref("Word")),
                       "already": array(STR, description="listed already (same when folded)")},
                      "all"),
    "WordDeleted": {"allOf": [ref("Word"), obj({"deleted": BOOL}, "all")]},
    "SignatureInput": obj({
        "department_id": ID,
        "signature": nullable({**STR, "maxLength": 20,
                               "description": "2 to 8 characters inside 【】 (brackets "
                                              "optional); null or \"\" removes it"}),
        "placement": nullable({"type": "string", "enum": ["start", "end"],
                               "description": "null: the box default"}),
    }, ("department_id", "signature"), closed=True),
    "DepartmentSignature": obj({"department_id": ID, "signature": STR_OR_NULL,
                                "placement": STR_OR_NULL, "updated_at": TIME_OR_NULL}, "all"),
    "Signatures": obj({
        "default": obj({"signature": STR, "placement": STR, "on_missing": STR,
                        "on_forged": STR, "unsubscribe_hint": STR}, "all",
                       description="the [policy] section of the config file"),
        "departments": array(ref("DepartmentSignature")),
    }, "all"),
    "NumberQuality": obj({
        "contacts": INT,
        "invalid": array(obj({"contact_id": ID, "name": STR, "number": STR_OR_NULL,
                              "why": STR}, "all")),
        "shared": array(obj({"number": STR, "as_stored": array(STR),
                             "contacts": array(obj({"id": ID, "name": STR}, "all"))}, "all")),
        "groups": array(obj({"id": ID, "name": STR, "members": INT, "valid_mobile": INT,
                             "share": nullable({"type": "number", "minimum": 0,
                                                "maximum": 1})}, "all")),
    }, "all"),
    # rules
    "RuleAction": obj({
        "type": {"type": "string", "enum": list(ACTION_TYPES)},
        "template": {**STR, "description": "reply, forward: {name}, {sender}, {text}..."},
        "to": {**NUMBERS, "description": "forward: 1 to 20 numbers"},
        "url": {**STR, "description": "webhook"}, "secret": {**STR, "description": "webhook"},
        "group": {**ID, "description": "add_to_group, remove_from_group"},
        "reason": {**STR, "maxLength": 200, "description": "blacklist"},
    }, ("type",), closed=True),
    "RuleConditions": obj({
        "senders": {"type": "string", "enum": ["any", "known", "unknown", "group"]},
        "groups": array(ID), "sims": array({**STR, "pattern": "^[0-9A-Fa-f]{6,22}$"}),
        "time": obj({"from": {**STR, "description": "HH:MM"},
                     "to": {**STR, "description": "HH:MM"}}, "all", closed=True),
        "weekdays": array({"oneOf": [STR, {**INT, "minimum": 1, "maximum": 7}]}),
    }, closed=True),
    "RuleInput": obj({
        "name": {**STR, "minLength": 1, "maxLength": 100}, "enabled": BOOL,
        "match": {"type": "string", "enum": list(KINDS), "default": "any"},
        "pattern": STR_OR_NULL, "conditions": nullable(ref("RuleConditions")),
        "actions": array(ref("RuleAction"), minItems=1, maxItems=10), "stop": BOOL,
        "position": {**ID, "description": "where it goes in the order (1 = first)"},
    }, closed=True, description="POST and PUT: a whole rule (name and actions required); "
                                "PATCH: any of its fields"),
    "Rule": obj({"id": ID, "position": INT, "name": STR, "enabled": BOOL, "match": STR,
                 "pattern": STR_OR_NULL, "conditions": {"type": "object"},
                 "actions": array({"type": "object"}), "stop": BOOL,
                 "created_at": TIME_OR_NULL, "updated_at": TIME_OR_NULL},
                ("id", "position", "name", "enabled", "match", "actions", "stop")),
    "RuleList": obj({"rules": array(ref("Rule")),
                     "broken": array(obj({"id": ID, "error": STR}, "all"))}, ("rules",)),
    "RuleOrder": obj({"ids": array(INT, description="every rule id, in the new order")},
                     "all", closed=True),
    "RuleLog": obj({"entries": array(obj({"id": ID, "at": TIME, "rule_id": INT_OR_NULL,
                                          "action": STR, "outcome": STR})),
                    "next_before": INT_OR_NULL}, "all"),
    "DryRunInput": obj({"sender": {**STR, "minLength": 1, "maxLength": 32},
                        "text": {**STR, "maxLength": 5000},
                        "sim": {**STR, "maxLength": 22},
                        "at": {**TIME, "description": "with a time zone; default now"}},
                       ("sender", "text"), closed=True),
    "DryRun": obj({"number": STR, "rules": array({"type": "object"}),
                   "actions": array({"type": "object"})}, ("rules", "actions"),
                  description="what the rules would do now; nothing is sent or written"),
    # webhooks
    "WebhookInput": obj({
        "url": {**STR, "description": "http:// or https://"},
        "events": {"oneOf": [{"type": "string", "enum": [*EVENTS, "*"]},
                             array({"type": "string", "enum": [*EVENTS, "*"]}, minItems=1)]},
        "secret": nullable({**STR, "description": "HMAC key; generated when null or left "
                                                  "out (shown once)"}),
        "description": STR, "enabled": BOOL,
    }, closed=True, description="POST needs url and events; PATCH any of them"),
    "Webhook": obj({"id": ID, "url": STR, "events": array(STR), "enabled": BOOL,
                    "description": STR, "created_at": TIME, "updated_at": TIME_OR_NULL,
                    "signed": BOOL,
                    "secret": {**STR, "description": "only in the answers that set it"},
                    "deliveries": array({"type": "object"}),
                    "counts": {"type": "object"}}, ("id", "url", "events", "enabled")),
    "WebhookList": obj({"webhooks": array(ref("Webhook")), "events": array(STR)}, "all"),
    "WebhookTest": obj({"delivery": ID, "event": STR}, "all"),
    # approval
    "Approval": obj({
        "id": ID,
        "state": {"type": "string", "enum": ["pending_approval", "approved", "rejected"]},
        "category": STR, "text": STR, "recipients": INT,
        "parts": {**INT, "description": "parts per message"},
        "first_recipients": array(STR),
        "submitter": obj({"door": STR, "address": STR, "api_key_id": INT_OR_NULL,
                          "user_id": INT_OR_NULL, "department_id": INT_OR_NULL,
                          "role": STR_OR_NULL}, "all"),
        "created_at": TIME, "decided_by": STR_OR_NULL, "decided_at": TIME_OR_NULL,
        "reason": nullable({**STR, "description": "why it was rejected"}),
        "messages": array(obj({"id": ID, "to": STR, "state": STR}, "all"),
                          description="(one approval only) its messages"),
    }, ("id", "state", "category", "text", "recipients", "parts", "first_recipients",
        "submitter", "created_at", "decided_by", "decided_at", "reason")),
    "ApprovalPage": obj({"approvals": array(ref("Approval")), "next_before": INT_OR_NULL},
                        "all"),
    "ApprovalRule": obj({
        "mode": {"type": "string", "enum": ["none", "all", "above", "category"]},
        "above": {**INT, "minimum": 0, "maximum": 1_000_000,
                  "description": "mode above: more recipients than this need approval"},
        "categories": array({"type": "string", "enum": list(PRIORITY)},
                            description="mode category: these need approval")},
        ("mode",), closed=True),
    "ApprovalRules": obj({
        "default": obj({"mode": STR, "above": INT, "categories": array(STR)}, "all"),
        "departments": array(obj({"department_id": ID, "mode": STR, "above": INT,
                                  "categories": array(STR)}, "all"))}, "all"),
    "ApprovalReject": obj({"reason": {**STR, "minLength": 1, "maxLength": 500}}, ("reason",),
                          closed=True),
    # quotas and the ledger
    "Quota": obj({"account": STR, "monthly_limit": INT_OR_NULL, "prepaid": BOOL,
                  "used_this_month": INT, "reserved": INT, "balance": INT,
                  "left": nullable({**INT, "description": "parts that may still be accepted; "
                                                          "null: no bound"})}, "all"),
    "QuotaList": obj({"month_start": TIME, "quotas": array(ref("Quota"))}, "all"),
    "QuotaInput": obj({"monthly": nullable({**INT, "minimum": 0}),
                       "prepaid": BOOL}, ("monthly",), closed=True),
    "LedgerEntry": obj({"id": ID, "account": STR, "delta": INT,
                        "kind": {"type": "string",
                                 "enum": ["topup", "charge", "refund", "adjust"]},
                        "message_id": INT_OR_NULL, "by": STR, "at": TIME, "note": STR}, "all"),
    "LedgerPage": obj({"entries": array(ref("LedgerEntry")), "next_before": INT_OR_NULL,
                       "account": STR, "balance": INT}, ("entries", "next_before")),
    "LedgerInput": obj({"account": STR, "kind": {"type": "string", "enum": ["topup", "adjust"],
                                                 "default": "topup"},
                        "parts": INT, "note": {**STR, "maxLength": 500}},
                       ("account", "parts"), closed=True),
    "LedgerAdded": {"allOf": [ref("LedgerEntry"), obj({"balance": INT}, "all")]},
}

# -- operations ------------------------------------------------------------------------------

ERROR_TEXT = {400: "invalid body or parameter (the field is named)", 401: "no or a wrong key",
              403: "the key lacks the scope, or is used from outside its networks (or a "
                   "policy refusal such as skip_dedupe_not_allowed)",
              404: "no such resource (or not the caller's)", 409: "conflict",
              422: "every recipient is on the blacklist (`rejected` lists them), or a policy "
                   "rule refused the request (`code` names it: forbidden_word, "
                   "signature_missing, signature_forged, recipient_cap, "
                   "no_recipient_left...)",
              429: "too many failed attempts, or the key's rate (Retry-After)",
              503: "not running yet"}


def _json(schema: Schema, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def path_param(name: str, schema: Schema, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema,
            "description": description}


def query(name: str, schema: Schema, description: str = "") -> dict[str, Any]:
    out = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        out["description"] = description
    return out


PAGING = [query("limit", {**INT, "minimum": 1, "maximum": 500, "default": 50}),
          query("offset", {**INT, "minimum": 0, "default": 0})]


def _backup_op() -> dict[str, Any]:
    """POST /api/v1/backup: no body; the archive itself (application/gzip) as the answer."""
    backup = op("A backup of the database and settings, made now: the checked .tar.gz that "
                "`cardgate restore` takes (a copy is kept in the data folder's backups/)",
                "admin", (200, None, "the archive"), errors=(409, 503),
                body=obj({}, closed=True, description="nothing: no body, or {}"))
    backup["responses"]["200"]["content"] = {
        "application/gzip": {"schema": {"type": "string", "format": "binary"}}}
    return backup


def op(summary: str, scope: str | None, ok: tuple[int, Schema | None, str], *,
       body: Schema | None = None, params: list | None = None,
       errors: tuple[int, ...] = (),
       also: tuple[int, Schema, str] | None = None) -> dict[str, Any]:
    """One operation: `scope` None is open to all (no key); `also`: a second success."""
    responses: dict[str, Any] = {}
    for status, schema, what in (ok, also) if also else (ok,):
        responses[str(status)] = (_json(schema, what) if schema is not None
                                  else {"description": what})
    codes = set(errors)
    if scope is not None:
        codes |= {401, 403, 429}
    if body is not None:
        codes.add(400)
    for code in sorted(codes):
        responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    out: dict[str, Any] = {"summary": summary, "responses": responses}
    if scope is None:
        out["security"] = []
        out["description"] = "No key needed."
    else:
        out["security"] = [{"bearer": []}]
        out["x-scope"] = scope
        out["description"] = (f"Needs a key with the `{scope}` scope"
                              + ("" if scope == "admin" else " (or `admin`)") + ".")
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = {"required": True,
                              "content": {"application/json": {"schema": body}}}
    return out


def with_head(get: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """GET and HEAD (monitors and scripts ask with HEAD): the same answers, without a body."""
    head = copy.deepcopy(get)
    head["summary"] = f"{get['summary']} (headers only)"
    for status, response in head["responses"].items():
        if "$ref" in response:  # an error answer: its status and headers, no body either
            head["responses"][status] = {"description": ERROR_TEXT[int(status)]}
        response.pop("content", None)
    return {"get": get, "head": head}


MESSAGE_ID = path_param("message_id", ID, "the id POST /messages answered")
CONTACT_ID = path_param("contact_id", ID, "a contact's id")
GROUP_ID = path_param("group_id", ID, "a group's id")
RULE_ID = path_param("rule_id", ID, "a rule's id")
WEBHOOK_ID = path_param("webhook_id", ID, "a webhook endpoint's id")
APPROVAL_ID = path_param("approval_id", ID, "an approval's id (POST /messages answers it in "
                                            "`policy.approval.id`)")
DEPARTMENT_ID = path_param("department_id", ID, "a department's id")
ACCOUNT = path_param("account", STR, "user:<id> or department:<id>")
NUMBER = path_param("number", STR, 'a number in any form ("+" as %2B)')
WHOLE_RULE = {**ref("RuleInput"), "required": ["name", "actions"]}


def _optional_body(operation: dict[str, Any]) -> dict[str, Any]:
    operation["requestBody"]["required"] = False
    return operation


def _page(operation: dict[str, Any]) -> dict[str, Any]:
    """An operation whose answer is an HTML page."""
    operation["responses"]["200"]["content"] = {"text/html": {"schema": {"type": "string"}}}
    return operation


def _health() -> dict[str, Any]:
    health = op("Health for monitoring", None, (200, ref("Health"), "ok"))
    # Not the error shape: a monitor reads the same body, with what is wrong in `problems`.
    health["responses"]["503"] = _json(ref("Health"), "starting, or degraded (see problems)")
    return health


def _paths() -> dict[str, dict[str, Any]]:
    r = ref
    return {
        "/api/v1/openapi.json": with_head(op(
            "This document", None, (200, {"type": "object"}, "OpenAPI 3.1"))),
        "/api/v1/docs": with_head(_page(op(
            "This document as a page to read and try (Swagger UI, served by the box)", None,
            (200, None, "the page")))),
        "/api/v1/health": with_head(_health()),
        "/api/v1/modems": with_head(op(
            "Every modem: state, identity, SIM, signal, counters; unplugged ones as gone",
            "read", (200, r("ModemList"), "the modems"))),
        "/api/v1/sims": with_head(op(
            "Every SIM known: where it is, its state, counters and caps used", "read",
            (200, r("SimList"), "the SIMs"))),
        "/api/v1/messages": {
            **with_head(op(
                "The caller's messages (an admin key: everyone's), newest first", "read",
                (200, r("MessagePage"), "a page"),
                params=[query("since", {**INT, "minimum": 0}, "after this id, oldest first"),
                        query("before", ID, "before this id, newest first"),
                        query("limit", {**INT, "minimum": 1, "maximum": 1000,
                                        "default": 100}),
                        query("order", {"type": "string", "enum": ["asc", "desc"]}),
                        query("state", STR, "states, comma-separated (`pending_approval`: "
                              "held for an open approval)"),
                        query("to", {**STR, "maxLength": 64}, "the recipient"),
                        query("sim", {**STR, "maxLength": 22}, "the sending SIM's ICCID"),
                        query("client_ref", {**STR, "maxLength": 255}),
                        query("created_from", TIME, "accepted at or after"),
                        query("created_to", TIME, "accepted at or before"),
                        query("door", {"type": "string", "enum": list(DOORS)},
                              "submitted through this door"),
                        query("department_id", ID, "submitted by this department")],
                errors=(400,))),
            "post": op(
                "Send a message to one or many recipients", "send",
                (202, r("MessageAccepted"), "accepted: stored durably, one id per recipient"),
                body=r("MessageSend"), errors=(409, 422))},
        "/api/v1/messages/{message_id}": {
            **with_head(op("A message: state, SIM, parts, history", "read",
                           (200, r("Message"), "the message"), params=[MESSAGE_ID],
                           errors=(404,))),
            "delete": op("Cancel a message not yet sent", "send",
                         (200, r("Message"), "cancelled"), params=[MESSAGE_ID],
                         errors=(404, 409))},
        "/api/v1/inbox": with_head(op(
            "Received messages, reassembled", "read", (200, r("InboxPage"), "a page"),
            params=[query("since", {**INT, "minimum": 0}, "after this id, oldest first"),
                    query("before", ID, "before this id, newest first"),
                    query("limit", {**INT, "minimum": 1, "maximum": 1000, "default": 100}),
                    query("number", {**STR, "maxLength": 64}, "the sender"),
                    query("sim", {**STR, "maxLength": 22}, "the receiving SIM's ICCID"),
                    query("from", TIME, "received at or after"),
                    query("to", TIME, "received at or before"),
                    query("order", {"type": "string", "enum": ["asc", "desc"]})],
            errors=(400,))),
        "/api/v1/conversations/{number}": with_head(op(
            "Both directions with a number (or its contact) in time order", "read",
            (200, r("Conversation"), "the newest items, oldest first"),
            params=[NUMBER, query("before", STR, "next_before, or an ISO 8601 time"),
                    query("limit", {**INT, "minimum": 1, "maximum": 500, "default": 50})],
            errors=(400,))),
        "/api/v1/contacts": {
            **with_head(op("Contacts", "read", (200, r("ContactList"), "a page"),
                           params=[*PAGING, query("q", {**STR, "maxLength": 100}, "search"),
                                   query("group", ID, "members of this group")],
                           errors=(400,))),
            "post": op("Create a contact", "admin", (201, r("Contact"), "created"),
                       body=r("ContactInput"), errors=(409,))},
        "/api/v1/contacts/{contact_id}": {
            **with_head(op("A contact", "read", (200, r("Contact"), "the contact"),
                           params=[CONTACT_ID], errors=(404,))),
            "put": op("Replace a contact (a field left out is emptied)", "admin",
                      (200, r("Contact"), "replaced"), body=r("ContactInput"),
                      params=[CONTACT_ID], errors=(404, 409)),
            "patch": op("Change some of a contact's fields", "admin",
                        (200, r("Contact"), "changed"), body=r("ContactInput"),
                        params=[CONTACT_ID], errors=(404, 409)),
            "delete": op("Delete a contact", "admin", (200, r("Deleted"), "deleted"),
                         params=[CONTACT_ID], errors=(404,))},
        "/api/v1/groups": {
            **with_head(op("Groups", "read", (200, r("GroupList"), "every group"))),
            "post": op("Create a group", "admin", (201, r("Group"), "created"),
                       body={**r("GroupInput"), "required": ["name"]}, errors=(409,))},
        "/api/v1/groups/{group_id}": {
            **with_head(op("A group with its members", "read", (200, r("Group"), "the group"),
                           params=[GROUP_ID], errors=(404,))),
            "put": op("Replace a group (name required)", "admin", (200, r("Group"), "replaced"),
                      body={**r("GroupInput"), "required": ["name"]}, params=[GROUP_ID],
                      errors=(404, 409)),
            "patch": op("Rename a group or change its note", "admin",
                        (200, r("Group"), "changed"), body=r("GroupInput"),
                        params=[GROUP_ID], errors=(404, 409)),
            "delete": op("Delete a group (its contacts stay)", "admin",
                         (200, r("Deleted"), "deleted"), params=[GROUP_ID], errors=(404,))},
        "/api/v1/groups/{group_id}/members": {
            "post": op("Add numbers and/or contacts to a group", "admin",
                       (200, r("Group"), "the group now"), body=r("Members"),
                       params=[GROUP_ID], errors=(404,)),
            "delete": op("Take numbers and/or contacts out (body, or ?number=&contact_id=)",
                         "admin", (200, r("Group"), "the group now"), params=[
                             GROUP_ID, query("number", array(STR)),
                             query("contact_id", array(ID))], errors=(400, 404))
            | {"requestBody": {"required": False,
                               "content": {"application/json": {"schema": r("Members")}}}}},
        "/api/v1/blacklist": {
            **with_head(op("The blacklist", "read", (200, r("BlacklistList"), "a page"),
                           params=[*PAGING, query("q", {**STR, "maxLength": 100})],
                           errors=(400,))),
            "post": op("Blacklist a number (cancels its waiting messages)", "admin",
                       (201, r("BlacklistAdded"), "added"), body=r("BlacklistInput"),
                       also=(200, r("BlacklistAdded"), "listed already (added: false)"))},
        "/api/v1/blacklist/{number}": {"delete": op(
            "Take a number off the blacklist", "admin",
            (200, obj({"number": STR, "removed": BOOL}, "all"), "removed"),
            params=[NUMBER], errors=(400, 404))},
        "/api/v1/policy/words": {
            **with_head(op("The forbidden-word list", "admin", (200, r("WordList"), "a page"),
                           params=[query("limit", {**INT, "minimum": 1, "maximum": 500,
                                                   "default": 500}),
                                   query("offset", {**INT, "minimum": 0, "default": 0}),
                                   query("q", {**STR, "maxLength": 100})],
                           errors=(400,))),
            "post": op("Add words (JSON, or text/plain with one word per line)", "admin",
                       (201, r("WordsAdded"), "added"), body=r("WordInput"),
                       also=(200, r("WordsAdded"), "every word was listed already"))
            | {"requestBody": {"required": True, "content": {
                "application/json": {"schema": r("WordInput")},
                "text/plain": {"schema": STR}}}},
            "delete": op("Remove a word given as ?word=", "admin",
                         (200, r("WordDeleted"), "removed"),
                         params=[{**query("word", {**STR, "minLength": 1, "maxLength": 200}),
                                  "required": True}], errors=(400, 404))},
        "/api/v1/policy/words/{word_id}": {"delete": op(
            "Remove a word", "admin", (200, r("WordDeleted"), "removed"),
            params=[path_param("word_id", ID, "the word's id")], errors=(404,))},
        "/api/v1/policy/signatures": {
            **with_head(op("Signature settings: the box's and each department's", "admin",
                           (200, r("Signatures"), "the settings"))),
            "put": op("Set or remove a department's signature", "admin",
                      (200, r("DepartmentSignature"), "as it is now"),
                      body=r("SignatureInput"))},
        "/api/v1/reports/number-quality": with_head(op(
            "Invalid numbers, numbers shared by several contacts, valid mobiles per group",
            "read", (200, r("NumberQuality"), "the report"))),
        "/api/v1/rules": {
            **with_head(op("Auto-answer rules in order, and those that no longer compile",
                           "read", (200, r("RuleList"), "the rules"), errors=(503,))),
            "post": op("Create a rule", "admin", (201, r("Rule"), "created"),
                       body=WHOLE_RULE, errors=(409, 503))},
        "/api/v1/rules/{rule_id}": {
            **with_head(op("A rule", "read", (200, r("Rule"), "the rule"),
                           params=[RULE_ID], errors=(404,))),
            "put": op("Replace a rule", "admin", (200, r("Rule"), "replaced"),
                      body=WHOLE_RULE, params=[RULE_ID], errors=(404, 503)),
            "patch": op("Change some of a rule's fields", "admin", (200, r("Rule"), "changed"),
                        body=r("RuleInput"), params=[RULE_ID],
                        errors=(404, 503)),
            "delete": op("Delete a rule", "admin",
                         (200, obj({"deleted": ID}, "all"), "deleted"), params=[RULE_ID],
                         errors=(404, 503))},
        "/api/v1/rules/order": {"post": op(
            "Reorder the rules", "admin", (200, r("RuleList"), "the rules, reordered"),
            body=r("RuleOrder"), errors=(503,))},
        "/api/v1/rules/log": with_head(op(
            "The log of automatic actions, newest first", "read", (200, r("RuleLog"), "a page"),
            params=[query("limit", {**INT, "minimum": 1, "default": 100}),
                    query("before", ID), query("number", {**STR, "maxLength": 32}),
                    query("rule_id", ID), query("inbox_id", ID)], errors=(400,))),
        "/api/v1/rules/dry-run": {"post": op(
            "What the rules would do with a message (nothing is sent or written)", "read",
            (200, r("DryRun"), "the evaluation"), body=r("DryRunInput"), errors=(503,))},
        "/api/v1/webhooks": {
            **with_head(op("The webhook endpoints this key registered, every one for an admin "
                           "key (secrets never shown again)", "read",
                           (200, r("WebhookList"), "the endpoints and the event names"))),
            "post": op("Add an endpoint", "admin", (201, r("Webhook"), "created, with its "
                                                                       "secret"),
                       body={**r("WebhookInput"), "required": ["url", "events"]})},
        "/api/v1/webhooks/{webhook_id}": {
            **with_head(op("An endpoint, its latest deliveries and counts by state (another "
                           "key's endpoint is a 404, as a missing one; an admin key sees every "
                           "one)", "read",
                           (200, r("Webhook"), "the endpoint"), params=[WEBHOOK_ID],
                           errors=(404,))),
            "patch": op("Change an endpoint", "admin", (200, r("Webhook"), "changed"),
                        body=r("WebhookInput"), params=[WEBHOOK_ID], errors=(404,)),
            "delete": op("Delete an endpoint and its pending deliveries", "admin",
                         (204, None, "deleted"), params=[WEBHOOK_ID], errors=(404,))},
        "/api/v1/backup": {"post": _optional_body(_backup_op())},
        "/api/v1/maintenance": {
            **with_head(op("What quiet hours and maintenance hold now", "read",
                           (200, r("Maintenance"), "the holds"))),
            "put": op("Maintenance on (every message but alerts waits) or off, at once",
                      "admin", (200, r("Maintenance"), "the holds now"),
                      body=r("MaintenanceInput"))},
        "/api/v1/recipient-caps": with_head(op(
            "The per-send recipient cap and departments' own", "read",
            (200, r("RecipientCaps"), "the caps"))),
        "/api/v1/recipient-caps/{department_id}": {
            "put": op("Set a department's own per-send recipient cap", "admin",
                      (200, r("RecipientCap"), "set"), body=r("RecipientCapInput"),
                      params=[DEPARTMENT_ID], errors=(404,)),
            "delete": op("Remove a department's own cap (the default applies)", "admin",
                         (200, r("RecipientCapRemoved"), "removed"), params=[DEPARTMENT_ID],
                         errors=(404,))},
        "/api/v1/webhooks/{webhook_id}/test": {"post": op(
            "Queue a webhook.test delivery", "admin", (202, r("WebhookTest"), "queued"),
            params=[WEBHOOK_ID], errors=(404, 503))},
        "/api/v1/approval-rules": with_head(op(
            "Which requests wait for approval: the box default ([approval]) and each "
            "department's own rule", "read", (200, r("ApprovalRules"), "the rules"))),
        "/api/v1/approval-rules/{department_id}": {
            "put": op("Set a department's own approval rule", "admin",
                      (200, obj({"department_id": ID, "mode": STR, "above": INT,
                                 "categories": array(STR)}, "all"), "the rule"),
                      body=r("ApprovalRule"), params=[DEPARTMENT_ID], errors=(404,)),
            "delete": op("Remove a department's own rule (the box default applies)", "admin",
                         (200, obj({"department_id": ID, "deleted": BOOL}, "all"), "removed"),
                         params=[DEPARTMENT_ID], errors=(404,))},
        "/api/v1/approvals": with_head(op(
            "Send requests held for approval, newest first (an approver: all; another key: "
            "its own)", "read", (200, r("ApprovalPage"), "a page"),
            params=[query("state", {"type": "string",
                                    "enum": ["pending", "approved", "rejected"]}),
                    query("before", ID, "before this id"),
                    query("limit", {**INT, "minimum": 1, "maximum": 500, "default": 100})],
            errors=(400,))),
        "/api/v1/approvals/{approval_id}": with_head(op(
            "An approval and its messages", "read", (200, r("Approval"), "the approval"),
            params=[APPROVAL_ID], errors=(404,))),
        "/api/v1/approvals/{approval_id}/approve": {"post": _optional_body(op(
            "Approve: its held messages are queued (never the approver's own request: 403 "
            "own_request; a department's approver decides that department's requests: 403 "
            "other_department; every message cancelled or expired meanwhile: 409 nothing_held, "
            "reject it to close it)", "approve", (200, r("Approval"), "approved"),
            params=[APPROVAL_ID],
            body=obj({}, closed=True, description="nothing: no body, or {}"),
            errors=(404, 409)))},
        "/api/v1/approvals/{approval_id}/reject": {"post": op(
            "Reject with a reason: its held messages are cancelled (the same deciders as "
            "approve)", "approve",
            (200, r("Approval"), "rejected"), body=r("ApprovalReject"), params=[APPROVAL_ID],
            errors=(404, 409))},
        "/api/v1/quotas": with_head(op(
            "Accounts with a quota: limit, prepaid, use this month, reserved, balance (an "
            "admin: every one; another key: its own user's and department's)",
            "read", (200, r("QuotaList"), "the quotas"))),
        "/api/v1/quotas/{account}": {"put": op(
            "Set an account's monthly limit (parts; null: none) and whether it is prepaid",
            "admin", (200, r("Quota"), "the account's standing"), body=r("QuotaInput"),
            params=[ACCOUNT])},
        "/api/v1/ledger": {
            **with_head(op("Ledger rows, newest first (with `account`: its balance too; "
                           "an admin: every account, another key: its own)",
                           "read", (200, r("LedgerPage"), "a page"),
                           params=[query("account", STR, "user:<id> or department:<id>"),
                                   query("before", ID, "before this row id"),
                                   query("limit", {**INT, "minimum": 1, "maximum": 1000,
                                                   "default": 100})],
                           errors=(400, 404))),
            "post": op("Add a topup or an adjustment (in parts)", "admin",
                       (201, r("LedgerAdded"), "the row, and the balance after it"),
                       body=r("LedgerInput"))},
    }


def _tag_by_resource(paths: dict[str, dict[str, Any]]) -> None:
    """Tag each operation with the resource its path names (`/api/v1/messages/{id}` →
    messages): the reference page groups operations by tag, and a hundred untagged ones are
    one list."""
    for path, item in paths.items():
        resource = path.removeprefix("/api/v1/").split("/", 1)[0]
        resource = {"openapi.json": "reference", "docs": "reference"}.get(resource, resource)
        for operation in item.values():
            operation["tags"] = [resource]


def build_document() -> dict[str, Any]:
    import sys

    from appliance.api import openapi_accounts

    here = sys.modules[__name__]
    SCHEMAS.update(openapi_accounts.schemas(here))
    paths = {**_paths(), **openapi_accounts.paths(here)}
    _tag_by_resource(paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cardgate JSON API", "version": __version__,
            "description": (
                "The SMS gateway's JSON API. Authenticate with `Authorization: Bearer <key>` "
                "(`cardgate apikey create --scopes send,read`); each operation names the "
                "scope it needs in `x-scope` and in its description (`admin` may do "
                "everything). Every error is `{\"error\": {\"code\", \"message\", "
                "\"field\"?}}`; any request may also get 413 (a body over 1 MiB) or 431 (headers "
                "and URL over 8 KB). The Kannel (`/cgi-bin/sendsms`) and playSMS (`/index.php`) "
                "doors and `/metrics` keep their own formats and are not described here."),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "An API key; scopes: " + ", ".join(SCOPES)}},
            "responses": {f"E{code}": _json(ref("Error"), text)
                          for code, text in ERROR_TEXT.items()},
        },
        "security": [{"bearer": []}],
    }


DOCUMENT = build_document()


@bp.route("/openapi.json", methods=["GET", "HEAD"])
async def openapi_document(request: Request) -> JSONResponse:
    return json(DOCUMENT)


DOCS_PAGE = (TEMPLATES_DIR / "api_docs.html").read_bytes()
DOCS_HEADERS = SECURITY_HEADERS
"""The console's: Swagger UI needs no more (its styles are inline and its icons data: URIs,
both allowed there), and it may call only the box ("Try it out")."""


@bp.route("/docs", methods=["GET", "HEAD"])
async def docs_page(request: Request) -> HTTPResponse:
    return HTTPResponse(DOCS_PAGE, content_type="text/html; charset=utf-8",
                        headers=DOCS_HEADERS)
