"""The [rules] config section: defaults, values read, and errors naming the key."""

from pathlib import Path

import pytest

from appliance.config import ConfigError, RulesConfig, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cardgate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(tmp_path):
    config = load_config(write(tmp_path, ""))
    assert config.rules == RulesConfig()
    assert config.rules.unsubscribe_keywords == ["TD", "T", "退订", "STOP", "UNSUBSCRIBE"]
    assert config.rules.resubscribe_keywords == ["订阅", "START"]
    assert "订阅" in config.rules.unsubscribe_reply


def test_values_are_read(tmp_path):
    config = load_config(write(tmp_path, """
[rules]
reply_cooldown_seconds = 10
loop_limit = 2
loop_window_seconds = 600
unsubscribe_keywords = ["QUIT"]
resubscribe_keywords = ["BACK"]
unsubscribe_reply = ""
"""))
    assert config.rules.reply_cooldown_seconds == 10
    assert config.rules.loop_limit == 2
    assert config.rules.unsubscribe_keywords == ["QUIT"]
    assert config.rules.unsubscribe_reply == ""


# (case, TOML body of [rules], words in the error)
BAD = [
    ("unknown key", "colour = 1", "rules.colour"),
    ("negative cooldown", "reply_cooldown_seconds = -1", "rules.reply_cooldown_seconds"),
    ("nan window", "loop_window_seconds = nan", "rules.loop_window_seconds"),
    ("negative loop", "loop_limit = -1", "rules.loop_limit"),
    ("zero window with a limit", "loop_window_seconds = 0", "rules.loop_window_seconds"),
    ("empty keyword", 'unsubscribe_keywords = [" "]', "rules.unsubscribe_keywords[0]"),
    ("keyword in both", 'resubscribe_keywords = ["ＴＤ"]', "rules.resubscribe_keywords[0]"),
    ("control char reply", 'unsubscribe_reply = "a\\u0007"', "rules.unsubscribe_reply"),
]


@pytest.mark.parametrize("case,body,words", BAD, ids=[c[0] for c in BAD])
def test_bad_values_name_the_key(tmp_path, case, body, words):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, f"[rules]\n{body}\n"))
    assert words in str(err.value)
