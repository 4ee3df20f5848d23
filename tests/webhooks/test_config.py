"""The [webhooks] config section: defaults, values read, errors naming the key, documented."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.config import Config, ConfigError, WebhooksConfig, load_config
from appliance.webhooks.policy import backoff, gives_up

SHIPPED = Path(__file__).resolve().parents[2] / "firmware-config" / "cardgate.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cardgate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults():
    w = load_config(SHIPPED).webhooks
    assert (w.timeout, w.max_attempts, w.max_age) == (10.0, 0, 86400.0)
    assert (w.backoff_base, w.backoff_cap) == (5.0, 3600.0)
    assert (w.concurrency, w.per_endpoint, w.retention) == (8, 2, 604800.0)


def test_values_are_read(tmp_path):
    w = load_config(write(tmp_path, """
[webhooks]
timeout = 3
max_attempts = 0
max_age = 600
backoff_base = 1
backoff_cap = 60
concurrency = 16
per_endpoint = 4
retention = 0
""")).webhooks
    assert (w.timeout, w.max_attempts, w.max_age) == (3.0, 0, 600.0)
    assert isinstance(w.timeout, float)
    assert (w.backoff_base, w.backoff_cap, w.concurrency, w.per_endpoint) == (1.0, 60.0, 16, 4)
    assert w.retention == 0.0


@pytest.mark.parametrize(("text", "named"), [
    ("timeout = 0", "webhooks.timeout"),
    ("timeout = \"10\"", "webhooks.timeout"),
    ("max_attempts = -1", "webhooks.max_attempts"),
    ("max_attempts = 0\nmax_age = 0", "webhooks.max_attempts"),
    ("max_age = -5", "webhooks.max_age"),
    ("backoff_base = 10\nbackoff_cap = 5", "webhooks.backoff_base"),
    ("backoff_cap = nan", "webhooks.backoff_cap"),
    ("concurrency = 0", "webhooks.concurrency"),
    ("per_endpoint = 0", "webhooks.per_endpoint"),
    ("retention = inf", "webhooks.retention"),
    ("retries = 3", "webhooks.retries"),
])
def test_a_bad_value_names_the_key(tmp_path, text, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_config(write(tmp_path, f"[webhooks]\n{text}\n"))


def test_every_key_is_documented_in_the_shipped_file():
    text = SHIPPED.read_text(encoding="utf-8").split("[webhooks]", 1)[1]
    for f in dataclasses.fields(Config().webhooks):
        assert f"\n{f.name} = " in text, f"webhooks.{f.name} is missing from {SHIPPED.name}"


def test_by_default_a_receiver_down_for_almost_a_day_loses_nothing():
    """The default schedule keeps retrying until max_age, whatever the jitter: the shortest
    waits (jitter 0.5) and the longest (1.0) alike reach a day before giving up."""
    w = WebhooksConfig()
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for jitter in (0.0, 0.999):
        rng = random.Random()
        rng.random = lambda jitter=jitter: jitter  # type: ignore[method-assign]
        now, attempts = start, 0
        while True:
            attempts += 1
            if gives_up(attempts, start, now, max_attempts=w.max_attempts, max_age=w.max_age):
                break
            now += timedelta(seconds=backoff(attempts, w.backoff_base, w.backoff_cap, rng))
        assert now - start >= timedelta(seconds=w.max_age), (jitter, attempts, now - start)
