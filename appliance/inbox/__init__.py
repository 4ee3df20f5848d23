"""The inbox: what the SIMs receive, stored durably, reassembled, and told to the hub.

`handler.Inbox` is the drivers' inbound handler (appliance.modem.contract rule 3); the
auto-answer rules live in `appliance.inbox.rules` and subscribe to the hub's SmsReceived.
"""

from appliance.inbox.handler import Inbox

__all__ = ["Inbox"]
