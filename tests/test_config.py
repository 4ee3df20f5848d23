"""The config file: defaults, the shipped file, and errors that name the key at fault."""

import dataclasses
from pathlib import Path

import pytest

from appliance.config import Config, ConfigError, load_config

SHIPPED = Path(__file__).resolve().parent.parent / "firmware-config" / "cardgate.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cardgate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads_and_equals_the_defaults():
    assert load_config(SHIPPED) == Config()


def test_empty_file_gives_the_documented_defaults(tmp_path):
    config = load_config(write(tmp_path, ""))
    assert config.dispatch.per_sim_per_hour == 200
    assert config.dispatch.per_sim_per_day == 1000
    assert config.database.url == "sqlite:////var/lib/cardgate/cardgate.db"
    assert (config.http.host, config.http.port) == ("127.0.0.1", 8080)


def test_values_are_read(tmp_path):
    config = load_config(write(tmp_path, """
[http]
listen = "0.0.0.0:9000"
[modems]
ports = ["/dev/ttyUSB2", "/tmp/x/modem*"]
send_timeout = 30
[dispatch]
retries = 5
ambiguous = "resend"
"""))
    assert config.http.port == 9000
    assert config.modems.ports == ["/dev/ttyUSB2", "/tmp/x/modem*"]
    assert config.modems.send_timeout == 30.0 and isinstance(config.modems.send_timeout, float)
    assert config.dispatch.retries == 5
    assert config.dispatch.ambiguous == "resend"


@pytest.mark.parametrize("text, named", [
    ("[dispatch]\nper_sim_per_hour = \"many\"\n", "dispatch.per_sim_per_hour"),
    ("[dispatch]\nretrys = 3\n", "dispatch.retrys"),
    ("[modems]\nports = \"/dev/ttyUSB0\"\n", "modems.ports"),
    ("[modems]\nbaudrate = 1234\n", "modems.baudrate"),
    ("[modems]\nautodetect = 1\n", "modems.autodetect"),
    ("[http]\nlisten = \"8080\"\n", "http.listen"),
    ("[database]\nurl = \"mysql://x\"\n", "database.url"),
    ("[dispatch]\nambiguous = \"sometimes\"\n", "dispatch.ambiguous"),
    ("[dispatch]\ntimezone = \"Mars/Olympus\"\n", "dispatch.timezone"),
    ("[dispatch]\nper_sim_per_day = -1\n", "dispatch.per_sim_per_day"),
    ("[dispatch]\nrest_after_failures = 0\n", "dispatch.rest_after_failures"),
    ("[dispatch]\nrest_after_silences = 0\n", "dispatch.rest_after_silences"),
    ("[dispatch]\nrest_after_failures = 2.5\n", "dispatch.rest_after_failures"),
    ("[dispatch]\nrest_base_seconds = 0\n", "dispatch.rest_base_seconds"),
    ("[dispatch]\nrest_max_seconds = inf\n", "dispatch.rest_max_seconds"),
    ("[dispatch]\nrest_base_seconds = 600\n", "dispatch.rest_base_seconds"),  # > the max
    ("[dispatch]\nsend_timeout_factor = 0.5\n", "dispatch.send_timeout_factor"),
    ("[dispatch]\nsend_timeout_factor = nan\n", "dispatch.send_timeout_factor"),
    ("[dispatch]\nsend_timeout_floor = -1\n", "dispatch.send_timeout_floor"),
    ("[dispatch]\nsend_timeout_floor = nan\n", "dispatch.send_timeout_floor"),
    ("[modems]\nsend_timeout = nan\n", "modems.send_timeout"),
    ("[nosuch]\nx = 1\n", "nosuch"),
    ("dispatch = 3\n", "dispatch"),
])
def test_a_bad_value_names_the_file_and_the_key(tmp_path, text, named):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert named in message
    assert str(path) in message
    assert "\n" not in message


def test_the_rest_and_timeout_keys_are_read(tmp_path):
    config = load_config(write(tmp_path, """
[dispatch]
rest_after_failures = 5
rest_after_silences = 1
rest_base_seconds = 2
rest_max_seconds = 120
send_timeout_factor = 4
send_timeout_floor = 8
"""))
    d = config.dispatch
    assert (d.rest_after_failures, d.rest_after_silences) == (5, 1)
    assert (d.rest_base_seconds, d.rest_max_seconds) == (2.0, 120.0)
    assert (d.send_timeout_factor, d.send_timeout_floor) == (4.0, 8.0)
    assert isinstance(d.send_timeout_floor, float)


def test_every_dispatch_and_modems_key_is_documented_in_the_shipped_file():
    text = SHIPPED.read_text(encoding="utf-8")
    for section in (Config().dispatch, Config().modems):
        for f in dataclasses.fields(section):
            assert f"\n{f.name} = " in text, f"{f.name} is missing from {SHIPPED.name}"


def test_broken_toml_and_missing_file_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[http\n"))
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.toml")


def test_api_metrics_public_is_off_by_default_and_read_as_a_bool(tmp_path):
    assert load_config(write(tmp_path, "")).api.metrics_public is False
    assert load_config(write(tmp_path, "[api]\nmetrics_public = true\n")).api.metrics_public
    with pytest.raises(ConfigError, match="api.metrics_public"):
        load_config(write(tmp_path, '[api]\nmetrics_public = "yes"\n'))
    with pytest.raises(ConfigError, match="api.metrics_publik"):
        load_config(write(tmp_path, "[api]\nmetrics_publik = true\n"))
