"""The tables, as peewee models bound through `db.database_proxy`.

Knows: what is stored about SIMs, modems, messages and their parts, status reports, events,
API keys, inbound messages, quarantined PDUs, settings, contacts and groups, the blacklist; the
field names other layers use.
Must not know: how the schema is created or upgraded (`migrations`), who may write (`writer`),
or any policy.

Conventions:
- Times are `UtcDateTimeField`: aware UTC datetimes in, aware UTC datetimes out. The one
  exception is `SimCounter.window_start`, the local wall-clock start of a caps window (the MIIT
  daily cap resets at local midnight), stored naive on purpose.
- A SIM is referred to by its ICCID in a plain `sim` text column, not a foreign key: a status
  report, an inbound SMS or a quarantined PDU must be storable even for a SIM whose `Sim` row
  is not written yet (the modem deletes it from its memory only after our commit).
- The schema itself is frozen in `schema_v1` + later migrations; `tests/store` checks that the
  migrated tables and these models agree, so a field added here needs a migration too.
"""

from __future__ import annotations

import peewee as pw

from appliance.store.db import UtcDateTimeField, database_proxy, utcnow
from appliance.store.states import MessageState, PartState


class BaseModel(pw.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False  # MessageEvent -> message_event


class Sim(BaseModel):
    iccid = pw.CharField(primary_key=True, max_length=22)
    imsi = pw.CharField(default="", max_length=15)
    operator = pw.CharField(default="")  # as the network names it (+COPS)
    operator_code = pw.CharField(default="", max_length=6)  # MCC+MNC, e.g. 46000
    own_number = pw.CharField(default="")
    label = pw.CharField(default="")
    enabled = pw.BooleanField(default=True)
    state = pw.CharField(default="active", max_length=16)  # active / resting / barred / disabled
    health = pw.FloatField(default=1.0)  # 0..1, the balancer's score
    rest_until = UtcDateTimeField(null=True)
    consecutive_failures = pw.IntegerField(default=0)
    barred_reason = pw.TextField(default="")
    # TP-UDH concatenation reference, 8-bit, rotated per SIM: the handset reassembles by
    # (sender, reference), so references only need to be distinct per sending SIM.
    concat_ref = pw.IntegerField(default=0)
    last_seen_at = UtcDateTimeField(null=True)
    created_at = UtcDateTimeField(default=utcnow)


class Modem(BaseModel):
    imei = pw.CharField(primary_key=True, max_length=17)
    manufacturer = pw.CharField(default="")
    model = pw.CharField(default="")
    revision = pw.CharField(default="")
    last_port = pw.CharField(default="")
    sim = pw.CharField(null=True, max_length=22)  # ICCID of the SIM last seen in it
    last_seen_at = UtcDateTimeField(null=True)


class SimCounter(BaseModel):
    """Messages (parts) sent by one SIM in one caps window."""

    sim = pw.CharField(max_length=22)
    window = pw.CharField(max_length=8)  # minute / hour / day / month
    window_start = pw.DateTimeField()  # LOCAL wall-clock time in dispatch.timezone, naive
    count = pw.IntegerField(default=0)

    class Meta:
        indexes = ((("sim", "window", "window_start"), True),)


class Campaign(BaseModel):
    id = pw.AutoField()
    name = pw.CharField()
    created_by = pw.CharField(default="")
    priority = pw.IntegerField(default=0)
    created_at = UtcDateTimeField(default=utcnow)
    # Migration 14: its creator (the console's user), and pause / resume / cancel.
    user_id = pw.IntegerField(null=True)
    department_id = pw.IntegerField(null=True)
    state = pw.CharField(default="active", max_length=16)  # active / paused / cancelled
    state_changed_by = pw.CharField(default="")
    state_changed_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = ((("user_id", "id"), False),)


class Message(BaseModel):
    id = pw.AutoField()
    recipient = pw.CharField(max_length=20)  # E.164, "+8613800138000"
    text = pw.TextField()
    state = pw.CharField(default=MessageState.QUEUED.value, max_length=16)
    priority = pw.IntegerField(default=0)  # higher first
    category = pw.CharField(default="notice", max_length=16)  # alert / otp / notice / marketing
    campaign = pw.ForeignKeyField(Campaign, null=True, backref="messages", on_delete="SET NULL")
    submitter_kind = pw.CharField(default="system", max_length=16)  # api_key / user / system
    submitter_id = pw.CharField(default="")
    # Idempotency: a retried request with the same client_ref gets the same ids back. One
    # request with N recipients makes N messages, numbered by client_ref_seq (0..N-1).
    client_ref = pw.CharField(null=True)
    client_ref_seq = pw.IntegerField(default=0)
    send_at = UtcDateTimeField(null=True)
    expires_at = UtcDateTimeField(null=True)
    # The SIM that claimed it: every part goes through it. A queued message keeps `sim` set
    # ("pinned") once a part has left, so the rest follow through the same SIM.
    sim = pw.CharField(null=True, max_length=22)
    parts_count = pw.IntegerField(default=0)
    attempts = pw.IntegerField(default=0)  # claims so far
    error = pw.TextField(default="")
    created_at = UtcDateTimeField(default=utcnow)
    updated_at = UtcDateTimeField(default=utcnow)
    queued_at = UtcDateTimeField(null=True)
    sent_at = UtcDateTimeField(null=True)
    final_at = UtcDateTimeField(null=True)
    # Migration 12: who submitted it, through which door (policy.origin.Origin); NULL on
    # messages accepted before that version.
    door = pw.CharField(null=True, max_length=16)
    address = pw.CharField(null=True, max_length=64)
    api_key_id = pw.IntegerField(null=True)
    user_id = pw.IntegerField(null=True)
    department_id = pw.IntegerField(null=True)
    content_hash = pw.BigIntegerField(null=True)
    """policy.dedupe.content_hash of the text as sent: dedupe looks it up with the recipient."""

    class Meta:
        indexes = (
            # Claiming: "queued, highest priority, oldest first".
            (("state", "priority", "id"), False),
            (("sim", "state"), False),
            (("submitter_kind", "submitter_id", "client_ref", "client_ref_seq"), True),
            # Conversation threads and blacklist cancels find messages by recipient (migration 4).
            (("recipient", "id"), False),
            # Migration 12: dedupe's look-up, and the listing by department.
            (("content_hash", "recipient", "created_at"), False),
            (("department_id", "id"), False),
            # Migration 14: a campaign's progress by state, and its recipients by state.
            (("campaign", "state", "id"), False),
            # Migration 17: the dashboard's "today" as range counts.
            (("sent_at",), False),
            (("state", "final_at"), False),
            # Migration 15: the console history's filters, read newest first by id.
            (("state", "id"), False),
            (("sim", "id"), False),
            (("user_id", "id"), False),
        )


class Part(BaseModel):
    id = pw.AutoField()
    message = pw.ForeignKeyField(Message, backref="parts", on_delete="CASCADE")
    index = pw.IntegerField()  # 1-based
    count = pw.IntegerField()
    concat_ref = pw.IntegerField(null=True)  # None for a single-part message
    pdu = pw.TextField()  # hex SMS-SUBMIT TPDU (with the SMSC octet as the modem wants it)
    tpdu_length = pw.IntegerField()  # the <length> of AT+CMGS, TS 27.005 §3.5.1
    state = pw.CharField(default=PartState.PENDING.value, max_length=16)
    sim = pw.CharField(null=True, max_length=22)
    message_reference = pw.IntegerField(null=True)  # TP-MR from +CMGS
    attempts = pw.IntegerField(default=0)
    error = pw.TextField(default="")
    sent_at = UtcDateTimeField(null=True)
    """When the part left; for a part whose +CMGS went unanswered, when it may have (kept when
    "resend" puts it back to pending: it still pins a long message to its SIM)."""
    report_status = pw.IntegerField(null=True)  # TP-Status, TS 23.040 §9.2.3.15
    report_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = (
            (("message", "index"), True),
            # Matching a status report: (SIM, TP-MR) among recently sent parts.
            (("sim", "message_reference"), False),
        )


class StatusReportRecord(BaseModel):
    id = pw.AutoField()
    sim = pw.CharField(max_length=22)
    message_reference = pw.IntegerField()
    recipient = pw.CharField(default="")
    status = pw.IntegerField()
    received_at = UtcDateTimeField(default=utcnow)
    part = pw.ForeignKeyField(Part, null=True, backref="reports", on_delete="SET NULL")
    pdu = pw.TextField(default="")


class MessageEvent(BaseModel):
    """One row per state change of a message: the history the API and console show."""

    id = pw.AutoField()
    message = pw.ForeignKeyField(Message, backref="events", on_delete="CASCADE")
    at = UtcDateTimeField(default=utcnow)
    old_state = pw.CharField(null=True, max_length=16)  # None for the acceptance itself
    new_state = pw.CharField(max_length=16)
    detail = pw.TextField(default="")
    sim = pw.CharField(null=True, max_length=22)


class ApiKey(BaseModel):
    id = pw.AutoField()
    name = pw.CharField(unique=True)
    prefix = pw.CharField(index=True, max_length=8)  # shown in lists, used to find the row
    key_hash = pw.TextField()  # "scrypt$n$r$p$salt_hex$hash_hex"
    scopes = pw.TextField(default="")  # comma-separated: send,read,admin
    created_at = UtcDateTimeField(default=utcnow)
    last_used_at = UtcDateTimeField(null=True)
    revoked = pw.BooleanField(default=False)
    rate_per_minute = pw.IntegerField(null=True)  # migration 8: None = no limit of its own
    allowed_from = pw.TextField(default="")  # migration 8: CIDR networks, comma-separated
    user_id = pw.IntegerField(null=True)  # migration 10: whose sends the key's are
    department_id = pw.IntegerField(null=True)  # migration 10: ... or which department's

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)


class InboundMessage(BaseModel):
    """One received SMS part (reassembly into conversations comes with the inbox)."""

    id = pw.AutoField()
    sim = pw.CharField(max_length=22)
    sender = pw.CharField()
    text = pw.TextField()
    received_at = UtcDateTimeField()  # the SMSC time stamp
    concat_ref = pw.IntegerField(null=True)
    concat_count = pw.IntegerField(default=1)
    concat_index = pw.IntegerField(default=1)
    smsc = pw.CharField(null=True)
    pdu = pw.TextField(default="")
    pdu_hash = pw.CharField(max_length=64, default="")
    """sha256 of `pdu`, hex (migration 2): the duplicate check looks it up by (sim, pdu_hash)."""
    stored_at = UtcDateTimeField(default=utcnow)  # arrival at the appliance
    inbox_id = pw.IntegerField(null=True)
    """The InboxMessage this part went into (migration 3); NULL while it waits for the others."""
    modem = pw.CharField(max_length=17, default="")  # IMEI it came through; "" when unknown

    class Meta:
        indexes = (
            (("sim", "sender", "concat_ref"), False),
            (("sim", "pdu_hash"), False),
            (("inbox_id", "stored_at"), False),
            (("sim", "sender", "received_at"), False),
        )


class InboxMessage(BaseModel):
    """One received message as the inbox shows it: its parts joined (migration 3).

    `partial`: a part never came within [inbox] partial_after_seconds; `text` then holds the
    parts present with a gap marker where one is missing, and a late part completes it in place
    (same id). `handled_at`: when the auto-answer rules ran on it (NULL: not yet)."""

    id = pw.AutoField()
    sim = pw.CharField(max_length=22)
    modem = pw.CharField(max_length=17, default="")
    sender = pw.CharField()  # as received (an alphanumeric sender stays as it is)
    number = pw.CharField()  # E.164 when the sender normalises, else the sender as received
    text = pw.TextField()
    smsc_at = UtcDateTimeField()  # the SMSC time stamp of its first part
    received_at = UtcDateTimeField()  # arrival of its first part at the appliance
    concat_ref = pw.IntegerField(null=True)
    parts_total = pw.IntegerField(default=1)
    parts_received = pw.IntegerField(default=1)
    partial = pw.BooleanField(default=False)
    updated_at = UtcDateTimeField(default=utcnow)  # stored, or last grown by a late part
    handled_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = (
            (("number", "id"), False),
            (("sim", "id"), False),
            (("received_at",), False),
            (("handled_at",), False),
            (("sim", "sender", "concat_ref"), False),
        )


class QuarantinedPdu(BaseModel):
    id = pw.AutoField()
    sim = pw.CharField(default="", max_length=22)
    pdu = pw.TextField()
    error = pw.TextField()
    at = UtcDateTimeField(default=utcnow)


class Setting(BaseModel):
    key = pw.CharField(primary_key=True)
    value = pw.TextField(default="")


class Contact(BaseModel):
    """An address-book entry. `name` is "" for a nameless contact (made when a rule adds a
    number nobody named to a group); `fields` is a JSON object of the user's own fields."""

    id = pw.AutoField()
    name = pw.CharField(default="", index=True)
    note = pw.TextField(default="")
    fields = pw.TextField(default="{}")
    created_at = UtcDateTimeField(default=utcnow)
    updated_at = UtcDateTimeField(default=utcnow)


class ContactNumber(BaseModel):
    """One number of a contact: E.164 when it normalises, else as given (alphanumeric, short
    code). Unique: a number belongs to at most one contact."""

    id = pw.AutoField()
    contact = pw.ForeignKeyField(Contact, backref="numbers", on_delete="CASCADE")
    number = pw.CharField(max_length=32, unique=True)


class ContactGroup(BaseModel):
    id = pw.AutoField()
    name = pw.CharField(unique=True)
    note = pw.TextField(default="")
    created_at = UtcDateTimeField(default=utcnow)


class GroupMember(BaseModel):
    id = pw.AutoField()
    # No index of its own: the unique (group, contact) index starts with it.
    group = pw.ForeignKeyField(ContactGroup, backref="members", on_delete="CASCADE",
                               index=False)
    contact = pw.ForeignKeyField(Contact, backref="memberships", on_delete="CASCADE")

    class Meta:
        indexes = ((("group", "contact"), True),)


class BlacklistEntry(BaseModel):
    """A number no message may be sent to. `source`: sms (the recipient asked: TD/退订), api,
    rule, console."""

    id = pw.AutoField()
    number = pw.CharField(max_length=32, unique=True)
    reason = pw.TextField(default="")
    source = pw.CharField(max_length=16, default="api")
    created_at = UtcDateTimeField(default=utcnow)


class Rule(BaseModel):
    """An auto-answer rule (migration 5); `conditions` and `actions` are JSON text, validated
    by appliance.inbox.rules before they are stored. Evaluated in `position` order."""

    id = pw.AutoField()
    name = pw.CharField()
    position = pw.IntegerField(index=True)
    enabled = pw.BooleanField(default=True)
    match_kind = pw.CharField(max_length=16)  # exact / prefix / contains / regex / any
    pattern = pw.TextField(default="")
    conditions = pw.TextField(default="{}")
    actions = pw.TextField(default="[]")
    stop = pw.BooleanField(default=True)
    created_at = UtcDateTimeField(default=utcnow)
    updated_at = UtcDateTimeField(default=utcnow)


class RuleLog(BaseModel):
    """One automatic action, done or refused (migration 5): why a message was (not) sent."""

    id = pw.AutoField()
    at = UtcDateTimeField(default=utcnow)
    rule_id = pw.IntegerField(null=True)  # None: the built-in unsubscribe; no FK: kept on delete
    rule_name = pw.CharField(default="")
    inbox_id = pw.IntegerField(null=True)
    number = pw.CharField(max_length=32, default="")
    action = pw.CharField(max_length=24)  # reply / forward / webhook / ... / unsubscribe
    outcome = pw.CharField(max_length=16)  # done / blocked / failed
    detail = pw.TextField(default="")
    message_id = pw.IntegerField(null=True)

    class Meta:
        indexes = (
            (("number", "at"), False),
            (("at",), False),
            (("inbox_id",), False),
        )


class Webhook(BaseModel):
    """A configured webhook endpoint (migration 6)."""

    id = pw.AutoField()
    url = pw.TextField()
    events = pw.TextField()  # comma-separated event names, or "*"
    secret = pw.CharField()  # HMAC-SHA256 key; "" sends unsigned
    enabled = pw.BooleanField(default=True)
    description = pw.TextField(default="")
    created_at = UtcDateTimeField(default=utcnow)
    updated_at = UtcDateTimeField(default=utcnow)
    # Migration 9: the Android API's endpoints (store.android_webhooks).
    format = pw.CharField(default="cardgate", max_length=16)  # cardgate / android
    api_key_id = pw.IntegerField(null=True)  # the key that registered an android endpoint
    client_ref = pw.CharField(null=True, max_length=64)  # its id as the Android API names it

    class Meta:
        indexes = ((("api_key_id", "client_ref"), True),)


class WebhookDelivery(BaseModel):
    """One event to POST to one endpoint (or to a bare URL when `webhook` is NULL)."""

    id = pw.AutoField()
    webhook = pw.ForeignKeyField(Webhook, null=True, backref="deliveries", on_delete="CASCADE")
    url = pw.TextField(default="")  # bare-URL rows only; an endpoint's row uses the endpoint's
    secret = pw.CharField(default="")  # likewise
    event = pw.CharField(max_length=64)
    payload = pw.TextField()  # JSON
    state = pw.CharField(default="pending", max_length=16)  # pending / delivered / failed
    attempts = pw.IntegerField(default=0)
    next_attempt_at = UtcDateTimeField()
    """Pending: when it is due. Final: when it became final (what retention counts from)."""
    last_status = pw.IntegerField(null=True)  # the last HTTP status, None if no answer
    last_error = pw.TextField(default="")
    created_at = UtcDateTimeField(default=utcnow)
    delivered_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = ((("state", "next_attempt_at"), False),)


class MessageOption(BaseModel):
    """How a message must be encoded, when not the default (a row only for those that ask)."""

    message = pw.ForeignKeyField(Message, primary_key=True, on_delete="CASCADE")
    force_ucs2 = pw.BooleanField(default=False)
    message_class = pw.IntegerField(null=True)  # TP-DCS class 0-3 (0 = flash)


class KannelMessage(BaseModel):
    """A message accepted through Kannel's sendsms: what its delivery reports render, and which
    DLR types have fired (a bit mask; `open` while more may be owed)."""

    message = pw.ForeignKeyField(Message, primary_key=True, on_delete="CASCADE")
    service = pw.CharField(default="")  # the API key's name (Kannel's sendsms-user)
    sender = pw.TextField(default="")  # `from` as given: recorded, not sent (a SIM has one)
    account = pw.CharField(default="")
    smsc = pw.CharField(default="")  # as the caller named it
    charset = pw.CharField(default="", max_length=64)
    coding = pw.IntegerField(null=True)
    mclass = pw.IntegerField(null=True)
    udh = pw.TextField(default="")  # hex
    binfo = pw.TextField(default="")
    validity_at = UtcDateTimeField(null=True)
    deferred_at = UtcDateTimeField(null=True)
    dlr_mask = pw.IntegerField(default=0)
    dlr_url = pw.TextField(default="")
    fired = pw.IntegerField(default=0)
    open = pw.BooleanField(default=False, index=True)


# -- migration 10: accounts and the audit log ------------------------------------------------


class Department(BaseModel):
    id = pw.AutoField()
    name = pw.CharField(unique=True, max_length=64)
    short_name = pw.CharField(max_length=32, default="")  # 简称: what its signature shows
    created_at = UtcDateTimeField(default=utcnow)


class User(BaseModel):
    id = pw.AutoField()
    name = pw.CharField(unique=True, max_length=64)
    display_name = pw.CharField(max_length=128, default="")
    role = pw.CharField(max_length=16)  # accounts.roles.ROLES
    department = pw.ForeignKeyField(Department, null=True, backref="users",
                                    column_name="department_id")
    disabled = pw.BooleanField(default=False)
    must_change_password = pw.BooleanField(default=True)
    password_hash = pw.TextField()  # "scrypt$n$r$p$salt_hex$hash_hex", as API keys
    password_changed_at = UtcDateTimeField(null=True)
    created_at = UtcDateTimeField(default=utcnow)
    last_login_at = UtcDateTimeField(null=True)

    class Meta:
        table_name = "app_user"  # "user" is reserved in PostgreSQL


class LoginAttempt(BaseModel):
    id = pw.AutoField()
    at = UtcDateTimeField(default=utcnow)
    name = pw.CharField(max_length=64)  # as typed (an unknown name too)
    address = pw.CharField(max_length=64, default="")
    door = pw.CharField(max_length=16, default="console")
    success = pw.BooleanField(default=False)
    reason = pw.CharField(max_length=32, default="")  # ok / invalid / disabled / locked

    class Meta:
        indexes = ((("name", "at"), False),)


class LoginLock(BaseModel):
    subject = pw.CharField(primary_key=True, max_length=128)  # user:<name> / address:<ip>
    failures = pw.IntegerField(default=0)
    last_failure_at = UtcDateTimeField()
    locked_until = UtcDateTimeField(null=True)


class UserSession(BaseModel):
    id = pw.AutoField()
    token_hash = pw.CharField(unique=True, max_length=64)  # sha256 hex of the token
    user = pw.ForeignKeyField(User, backref="sessions", on_delete="CASCADE",
                              column_name="user_id")
    address = pw.CharField(max_length=64, default="")
    door = pw.CharField(max_length=16, default="console")
    created_at = UtcDateTimeField(default=utcnow)
    last_seen_at = UtcDateTimeField(default=utcnow)
    expires_at = UtcDateTimeField()  # the absolute end, whatever the activity
    ended_at = UtcDateTimeField(null=True)


class AuditEntry(BaseModel):
    seq = pw.IntegerField(primary_key=True)
    at = UtcDateTimeField()
    actor_kind = pw.CharField(max_length=16)
    actor_id = pw.CharField(max_length=64, default="")
    actor_name = pw.CharField(max_length=128, default="")
    address = pw.CharField(max_length=64, default="")
    door = pw.CharField(max_length=16, default="")
    action = pw.CharField(max_length=64)
    target = pw.CharField(max_length=255, default="")
    detail = pw.TextField(default="{}")  # canonical JSON (sorted keys)
    prev_hash = pw.CharField(max_length=64)
    hash = pw.CharField(max_length=64)

    class Meta:
        indexes = ((("action", "seq"), False), (("at",), False))


# -- migration 11: the content rules -------------------------------------------------------


class DepartmentSignature(BaseModel):
    """A department's 【signature】 (migration 11): the text inside the brackets, and where it
    goes (None: the box default). No foreign key: departments are another step's table."""

    department_id = pw.IntegerField(primary_key=True)
    signature = pw.CharField(max_length=16)
    placement = pw.CharField(max_length=8, null=True)  # start / end
    updated_at = UtcDateTimeField(default=utcnow)


class ForbiddenWord(BaseModel):
    """One word of the forbidden-word list (migration 11), as entered and as matched."""

    id = pw.AutoField()
    word = pw.CharField(max_length=100)
    normalized = pw.CharField(max_length=100, unique=True)
    created_at = UtcDateTimeField(default=utcnow)


class ContactConsent(BaseModel):
    """A number's marketing consent (migration 11): granted / withdrawn, with where it came
    from (imported / reply / staff) and when. No row: unknown."""

    id = pw.AutoField()
    number = pw.CharField(max_length=32, unique=True)
    state = pw.CharField(max_length=16)
    source = pw.CharField(max_length=16)
    detail = pw.TextField(default="")
    at = UtcDateTimeField(default=utcnow)
# -- approval and quotas (migration 13) -------------------------------------------------------


class ApprovalRule(BaseModel):
    """A department's own approval rule; the box default (`[approval]`) applies otherwise."""

    department_id = pw.IntegerField(primary_key=True)
    mode = pw.CharField(max_length=16)  # none / all / above / category
    above = pw.IntegerField(default=0)  # mode "above": more recipients than this need approval
    categories = pw.TextField(default="")  # mode "category": comma-separated
    updated_at = UtcDateTimeField(default=utcnow)


class Approval(BaseModel):
    """One send request waiting for (or decided by) an approver; its messages wait `held`."""

    state = pw.CharField(max_length=16)  # pending / approved / rejected
    door = pw.CharField(max_length=16)
    address = pw.CharField(max_length=64, default="")
    api_key_id = pw.IntegerField(null=True)
    user_id = pw.IntegerField(null=True)
    department_id = pw.IntegerField(null=True)
    role = pw.CharField(max_length=16, null=True)
    category = pw.CharField(max_length=32)
    text = pw.TextField()
    recipients = pw.IntegerField()
    parts = pw.IntegerField()
    created_at = UtcDateTimeField(default=utcnow)
    decided_by = pw.CharField(default="")
    decided_by_key_id = pw.IntegerField(null=True)
    decided_by_user_id = pw.IntegerField(null=True)
    decided_at = UtcDateTimeField(null=True)
    reason = pw.TextField(default="")
    # Migration 14: when the submitter saw the decision (the console's notice of outcomes).
    submitter_seen_at = UtcDateTimeField(null=True)

    class Meta:
        indexes = ((("state", "id"), False), (("user_id", "submitter_seen_at"), False))


class ApprovalMessage(BaseModel):
    """A message an approval holds (written with the message, in its transaction)."""

    message = pw.ForeignKeyField(Message, primary_key=True, on_delete="CASCADE")
    approval = pw.ForeignKeyField(Approval, index=True, on_delete="CASCADE")


class Quota(BaseModel):
    """An account's monthly limit (parts; None: no limit) and whether it is prepaid."""

    account = pw.CharField(primary_key=True, max_length=32)  # user:<id> / department:<id>
    monthly_limit = pw.IntegerField(null=True)
    prepaid = pw.BooleanField(default=False)
    updated_at = UtcDateTimeField(default=utcnow)


class Ledger(BaseModel):
    """One change of an account's balance, in parts; rows are only ever added."""

    account = pw.CharField(max_length=32)
    delta = pw.IntegerField()
    kind = pw.CharField(max_length=16)  # topup / charge / refund / adjust
    message_id = pw.IntegerField(null=True, index=True)  # no FK: the ledger outlives messages
    actor = pw.CharField(default="")  # who: an API key, a CLI user, "dispatch"
    at = UtcDateTimeField(default=utcnow)
    note = pw.TextField(default="")

    class Meta:
        indexes = ((("account", "at"), False),)


class MessageCharge(BaseModel):
    """An account a message is charged to (written with the message)."""

    # No index of its own: the primary key (message_id, account) serves look-ups by message.
    message = pw.ForeignKeyField(Message, on_delete="CASCADE", index=False)
    account = pw.CharField(max_length=32, index=True)

    class Meta:
        primary_key = pw.CompositeKey("message", "account")


class PolicyRecipientCap(BaseModel):
    """A department's own per-send recipient cap (migration 12), overriding
    `[policy_limits] max_recipients_per_send`. Keyed by the department's id (no foreign key:
    departments are another part's table, and a cap may be set before it exists)."""

    department_id = pw.IntegerField(primary_key=True)
    max_recipients = pw.IntegerField()
    updated_at = UtcDateTimeField(default=utcnow)


class MessageTemplate(BaseModel):
    """A named text staff pick on the compose page (migration 16)."""

    id = pw.AutoField()
    name = pw.CharField(max_length=100, unique=True)
    text = pw.TextField()
    category = pw.CharField(max_length=16, default="notice")
    created_by = pw.CharField(default="")
    created_at = UtcDateTimeField(default=utcnow)
    updated_at = UtcDateTimeField(default=utcnow)

    class Meta:
        table_name = "message_template"


class SendSchedule(BaseModel):
    """A recurring send (migration 16): claimed per firing by a conditional update of
    next_at (store.compose)."""

    id = pw.AutoField()
    name = pw.CharField()
    kind = pw.CharField(max_length=16)  # daily / weekly / monthly / cron
    cron = pw.CharField(max_length=100)
    timezone = pw.CharField(max_length=64)
    spec = pw.TextField()  # JSON: text, category, priority, numbers, group_ids
    state = pw.CharField(max_length=16, default="active")
    next_at = UtcDateTimeField(null=True)
    last_fired_at = UtcDateTimeField(null=True)
    last_result = pw.TextField(default="")
    fired = pw.IntegerField(default=0)
    created_by = pw.CharField(default="")
    user_id = pw.IntegerField(null=True)
    department_id = pw.IntegerField(null=True)
    role = pw.CharField(max_length=16, null=True)
    created_at = UtcDateTimeField(default=utcnow)

    class Meta:
        table_name = "send_schedule"
        indexes = ((("state", "next_at"), False),)  # the runner reads the earliest due
class ReplyThread(BaseModel):
    """A number that wrote to us (migration 15): its newest inbox message, kept by a trigger
    on inbox_message, and the newest one the console has shown (unread: the ones after it)."""

    number = pw.CharField(primary_key=True)
    last_inbox_id = pw.IntegerField(index=True)
    read_upto_id = pw.IntegerField(default=0)


class AndroidRefusal(BaseModel):
    """A recipient of an Android API message that was left out, with why (migration 18):
    `position` is its index in the request's phoneNumbers (store.android)."""

    id = pw.AutoField()
    api_key_id = pw.IntegerField()
    android_id = pw.CharField(max_length=64)
    position = pw.IntegerField()
    recipient = pw.CharField()
    error = pw.TextField()
    created_at = UtcDateTimeField(default=utcnow)

    class Meta:
        table_name = "android_refusal"
        indexes = ((("api_key_id", "android_id", "position"), True),)


ALL_MODELS: list[type[BaseModel]] = [
    Sim,
    Modem,
    SimCounter,
    Campaign,
    Message,
    Part,
    StatusReportRecord,
    MessageEvent,
    ApiKey,
    InboundMessage,
    QuarantinedPdu,
    Setting,
    InboxMessage,
    Contact,
    ContactNumber,
    ContactGroup,
    GroupMember,
    BlacklistEntry,
    Rule,
    RuleLog,
    Webhook,
    WebhookDelivery,
    MessageOption,
    KannelMessage,
    Department,
    User,
    LoginAttempt,
    LoginLock,
    UserSession,
    AuditEntry,
    DepartmentSignature,
    ForbiddenWord,
    ContactConsent,
    ApprovalRule,
    Approval,
    ApprovalMessage,
    Quota,
    Ledger,
    MessageCharge,
    PolicyRecipientCap,
    MessageTemplate,
    SendSchedule,
    ReplyThread,
    AndroidRefusal,
]

__all__ = [
    "ALL_MODELS",
    "AndroidRefusal",
    "MessageTemplate",
    "SendSchedule",
    "ApiKey",
    "Approval",
    "ApprovalMessage",
    "ApprovalRule",
    "AuditEntry",
    "Department",
    "LoginAttempt",
    "LoginLock",
    "User",
    "UserSession",
    "BaseModel",
    "BlacklistEntry",
    "DepartmentSignature",
    "ForbiddenWord",
    "Campaign",
    "Contact",
    "ContactConsent",
    "ContactGroup",
    "ContactNumber",
    "GroupMember",
    "InboundMessage",
    "InboxMessage",
    "KannelMessage",
    "Ledger",
    "Message",
    "MessageCharge",
    "MessageEvent",
    "MessageOption",
    "Modem",
    "Part",
    "PolicyRecipientCap",
    "QuarantinedPdu",
    "ReplyThread",
    "Quota",
    "Rule",
    "RuleLog",
    "Setting",
    "Sim",
    "SimCounter",
    "StatusReportRecord",
    "Webhook",
    "WebhookDelivery",
]
