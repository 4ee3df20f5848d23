"""The audit action of each admin-API change, from a table; secrets never reach the log."""

from __future__ import annotations

import pytest

from appliance.api.audit_trail import action_of, redact


@pytest.mark.parametrize(("method", "resource", "action"), [
    ("POST", "rules", "rule.create"),
    ("PUT", "rules", "rule.replace"),
    ("PATCH", "rules", "rule.change"),
    ("DELETE", "rules", "rule.delete"),
    ("POST", "rules/order", "rule.order"),
    ("POST", "blacklist", "blacklist.create"),
    ("DELETE", "blacklist", "blacklist.delete"),
    ("POST", "webhooks", "webhook.create"),
    ("PATCH", "webhooks", "webhook.change"),
    ("POST", "webhooks/test", "webhook.test"),
    ("POST", "groups", "group.create"),
    ("POST", "groups/members", "group.members.add"),
    ("DELETE", "groups/members", "group.members.remove"),
    ("PUT", "contacts", "contact.replace"),
    ("DELETE", "messages", "message.cancel"),
])
def test_action_names(method, resource, action):
    assert action_of(method, resource) == action


def test_secrets_are_redacted_at_any_depth():
    body = {"url": "http://x", "secret": "s3", "nested": [{"password": "p", "n": 1}]}
    assert redact(body) == {"url": "http://x", "secret": "***",
                            "nested": [{"password": "***", "n": 1}]}


@pytest.mark.parametrize(("method", "resource", "action"), [
    ("POST", "android/webhooks", "android.webhook.create"),
    ("DELETE", "android/webhooks", "android.webhook.delete"),
    ("DELETE", "android/messages", "message.cancel"),
])
def test_android_api_changes(method, resource, action):
    assert action_of(method, resource) == action
