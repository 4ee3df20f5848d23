"""[inbox] in cardgate.toml: its default, the shipped file, and errors naming the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from appliance.config import Config, ConfigError, load_config

SHIPPED = Path(__file__).resolve().parents[2] / "firmware-config" / "cardgate.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cardgate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_default_waits_an_hour_for_a_missing_part(tmp_path: Path):
    assert load_config(write(tmp_path, "")).inbox.partial_after_seconds == 3600.0


def test_the_value_is_read(tmp_path: Path):
    config = load_config(write(tmp_path, "[inbox]\npartial_after_seconds = 90\n"))
    assert config.inbox.partial_after_seconds == 90.0


@pytest.mark.parametrize("value", ["0", "-5", "inf", '"soon"'])
def test_a_bad_value_names_the_key(tmp_path: Path, value: str):
    with pytest.raises(ConfigError, match=r"inbox\.partial_after_seconds"):
        load_config(write(tmp_path, f"[inbox]\npartial_after_seconds = {value}\n"))


def test_an_unknown_key_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="partial_after"):
        load_config(write(tmp_path, "[inbox]\npartial_after = 90\n"))


def test_every_inbox_key_is_documented_in_the_shipped_file():
    text = SHIPPED.read_text(encoding="utf-8")
    assert "\n[inbox]\n" in text
    for f in dataclasses.fields(Config().inbox):
        assert f"\n{f.name} = " in text
    assert load_config(SHIPPED).inbox == Config().inbox
