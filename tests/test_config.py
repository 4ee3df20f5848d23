"""The config file: defaults, the shipped file, and errors that name the key at fault."""

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


def test_broken_toml_and_missing_file_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[http\n"))
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.toml")
