'''Webhooks: signed JSON POSTs to LAN devices, from a durable queue, retried with backoff.

Knows: which hub events become deliveries, how a delivery is signed and sent, when it is
retried and when it fails for good. The queue's rows and queries are `appliance.store.webhooks`.
Must not know: the dispatcher or the inbox beyond their hub events and committed rows.

What a receiver gets: `POST <url>` with a JSON body
`{"id": <delivery id>, "event": "sms.received", "created_at": "...", "data": {...}}` and headers
- `X-Cardgate-Event`: the event name (`sms.received`, `message.sent`, `message.delivered`,
  `message.failed`, `message.expired`, `message.ambiguous`, `message.cancelled`,
  `approval.decided`, `webhook.test`, or a rules engine's own name);
- `X-Cardgate-Delivery`: the delivery's id. The same id comes again when a delivery is retried
  (the receiver's 2xx was lost, or the box restarted after the POST but before recording it):
  delivery is at least once, so receivers dedupe by this id;
- `X-Cardgate-Timestamp`: unix seconds when this attempt was signed (each retry signs anew);
- `X-Cardgate-Signature: sha256=<hex>`: HMAC-SHA256 with the endpoint's secret over
  `<timestamp>.<raw body>`. A delivery without a secret (a rules-engine POST given none) is sent
  unsigned: no signature header at all.

Verifying, in the receiver (`body` the raw request bytes, `secret` as shown on create):

    ts = headers["X-Cardgate-Timestamp"]
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(headers["X-Cardgate-Signature"], "sha256=" + mac): reject()
    if abs(time.time() - int(ts)) > 300: reject()  # a replay, or a clock far off
    if seen(headers["X-Cardgate-Delivery"]): return 200  # a retry of one already handled

Against replays a receiver rejects timestamps more than 5 minutes away from its own clock (the
timestamp is signed, so it cannot be refreshed without the secret) and remembers delivery ids
for those 5 minutes.

Outcomes: a 2xx answer is delivered. 408, 425, 429, any 5xx, a timeout or a connection that
fails are retried with exponential backoff and jitter (`[webhooks]` backoff_base doubling up to
backoff_cap, times a random 0.5..1). Any other answer (1xx, 3xx: redirects are not followed,
so a signed body never goes where it was not configured; 4xx: the receiver refused this
request, and the same request again cannot help) fails for good at once. A delivery also fails
for good after `max_attempts` attempts (by default no limit), or when an attempt fails after
`max_age` (a day by default).

Nothing is lost while a target is down: the rows stay pending on disk (across restarts) and
a failing target is blocked as a whole for its backoff, so its backlog does not occupy the
workers; at most `per_endpoint` POSTs go to one target at a time, so other endpoints keep
flowing. The hub subscriber only writes rows; it never waits on HTTP.

Catch-up after a crash (between an event's commit and its delivery rows):
- outbound states: the `message_event` rows are the source. A MessageStateChanged on the hub
  only wakes the fan-out, which reads the rows after a cursor (`setting`
  webhooks.cursor.message_event), writes their deliveries and advances the cursor in the same
  transaction. A crash or a hub drop loses nothing: the next wake (or the start) reads on from
  the cursor.
- inbound SMS: the hub's SmsReceived is the live path; the highest inbox id turned into
  deliveries is kept as webhooks.cursor.inbox_message in the same transaction, and at start the
  inbox messages after it (complete or partial) are turned into deliveries. What can still be
  missed: an SmsReceived dropped by the hub (a subscriber 10,000 events behind) is delivered only
  at the next start; and a message whose row id is below one already delivered when the crash
  came (only if the inbox ever wrote a message's row before the message was complete).
- approval decisions: the hub's ApprovalDecided is the only path (`approval.decided`, data:
  approval_id, state, decided_by, reason, message_ids, at); one decided just before a crash,
  or dropped by the hub, is not delivered. The decision itself is on disk, and the messages'
  own `message.cancelled` events (a rejection) are caught up as above.
'''

from appliance.webhooks.deliverer import Deliverer
from appliance.webhooks.signing import sign, verify

__all__ = ["Deliverer", "sign", "verify"]
