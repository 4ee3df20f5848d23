"""Shipped profiles load and validate; bad profiles fail naming file and key; matching."""

from pathlib import Path

import pytest

from appliance.modem.profile import (
    DEFAULT_PROFILES_DIR,
    ModemProfile,
    ProfileError,
    load_profile,
    load_profiles,
    match_profile,
)

SHIPPED = sorted(DEFAULT_PROFILES_DIR.glob("*.toml"))


def test_the_expected_profiles_are_shipped() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"generic", "huawei-e3372", "huawei-e3131", "huawei-e1750", "huawei-e153",
            "zte-mf190", "zte-mf626", "quectel-ec20", "quectel-ec25", "simcom-sim800",
            "simcom-sim7600", "wavecom-q2403", "cinterion-mc39i", "cinterion-tc35i",
            "usb-serial-ch340", "usb-serial-cp210x", "usb-serial-ftdi",
            "usb-serial-pl2303"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_profile_loads(path: Path) -> None:
    profile = load_profile(path)
    assert profile.name == path.stem
    assert profile.cnmi and profile.iccid_commands and profile.reset_command
    # Quirks as data: every profile file explains itself in comments.
    assert path.read_text().lstrip().startswith("#")


def test_load_profiles_sorts_generic_last(profiles: list[ModemProfile]) -> None:
    assert profiles[-1].name == "generic"
    names = [p.name for p in profiles[:-1]]
    assert names == sorted(names)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "key"),
    [('name = "bad"\ncnmi_fallbacks = ["2,1,0,2,0"]\n', "cnmi_fallbacks"),
     ('name = "bad"\n[match]\nusb_id = ["12d1:1506"]\n', "match.usb_id"),
     ('name = "bad"\n[serial]\nbaudrate = "fast"\n', "serial.baudrate"),
     ('name = "bad"\nhang_timeout = "30"\n', "hang_timeout"),
     ('name = "bad"\ninit = "+CREG=1"\n', "init"),
     ('name = "bad"\ninit = ["+CREG=1", 5]\n', "init[1]"),
     ('name = "bad"\ninit = ["AT+CREG=1"]\n', "init[0]"),
     ('name = "bad"\n[match]\nusb_ids = ["12D1-1506"]\n', "match.usb_ids[0]"),
     ('name = "bad"\nstorage = ["SIM"]\n', "storage[0]"),
     ('name = "bad"\n[serial]\nbaudrate = 12345\n', "serial.baudrate"),
     ('name = "bad"\nmatch = 3\n', "match"),
     ('name = "bad"\n[serial]\nresync_tries = -1\n', "serial.resync_tries"),
     ('name = "bad"\n[serial]\nresync_timeout = 0\n', "serial.resync_timeout")],
)
def test_invalid_profile_names_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = _write(tmp_path, "bad", text)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    message = str(err.value)
    assert str(path) in message
    assert f"{key}:" in message


def test_name_must_match_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "one", 'name = "other"\n')
    with pytest.raises(ProfileError, match="one.toml: name"):
        load_profile(path)


def test_a_directory_without_generic_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "only", 'name = "only"\n')
    with pytest.raises(ProfileError, match="generic"):
        load_profiles(tmp_path)


def test_a_configured_directory_is_used(tmp_path: Path) -> None:
    _write(tmp_path, "generic", 'name = "generic"\n')
    _write(tmp_path, "mystick", 'name = "mystick"\n[match]\nusb_ids = ["abcd:0001"]\n')
    loaded = load_profiles(tmp_path)
    assert [p.name for p in loaded] == ["mystick", "generic"]
    assert match_profile(loaded, usb_id="abcd:0001").name == "mystick"


def _name(profiles: list[ModemProfile], **kwargs: object) -> str:
    return match_profile(profiles, **kwargs).name  # type: ignore[arg-type]


def test_match_by_usb_id_and_interface(profiles: list[ModemProfile]) -> None:
    assert _name(profiles, usb_id="1e0e:9001") == "simcom-sim7600"
    assert _name(profiles, usb_id="1e0e:9001", interface=2) == "simcom-sim7600"
    # Interface 0 of a SIM7600 is its QCDM port, not AT: no profile claims it.
    assert _name(profiles, usb_id="1e0e:9001", interface=0) == "generic"
    assert _name(profiles, usb_id="19d2:0117") == "zte-mf190"


def test_shared_usb_id_is_decided_by_detect_string(profiles: list[ModemProfile]) -> None:
    assert _name(profiles, usb_id="12d1:1506", identity_text="huawei E3372 21.180") == \
        "huawei-e3372"
    assert _name(profiles, usb_id="12d1:1506", identity_text="huawei E3131") == "huawei-e3131"
    assert _name(profiles, usb_id="2c7c:0125", identity_text="Quectel EC25") == "quectel-ec25"
    assert _name(profiles, usb_id="2c7c:0125", identity_text="Quectel EC20F") == "quectel-ec20"


def test_match_by_detect_string_without_usb(profiles: list[ModemProfile]) -> None:
    assert _name(profiles, identity_text="WAVECOM MODEM MULTIBAND  900E  1800") == \
        "wavecom-q2403"
    assert _name(profiles, identity_text="SIEMENS TC35i") == "cinterion-tc35i"
    assert _name(profiles, identity_text="SIMCOM_Ltd SIMCOM_SIM800L") == "simcom-sim800"


def test_usb_serial_adapter_probes_the_modem_behind(profiles: list[ModemProfile]) -> None:
    # A CH340 says nothing about the modem: the detect text finds the SIM800 behind it...
    assert _name(profiles, usb_id="1a86:7523", identity_text="SIM800 R14.18") == \
        "simcom-sim800"
    # ...but never a USB stick profile, whatever the text says.
    assert _name(profiles, usb_id="1a86:7523", identity_text="huawei E3372") == \
        "usb-serial-ch340"
    # Nothing recognised behind it: the adapter's own conservative profile.
    assert _name(profiles, usb_id="067b:2303", identity_text="ACME GSM") == "usb-serial-pl2303"


def test_generic_fallback(profiles: list[ModemProfile]) -> None:
    assert _name(profiles) == "generic"
    assert _name(profiles, usb_id="ffff:0001") == "generic"
    assert _name(profiles, identity_text="Unknown Vendor X1") == "generic"


def test_profile_urc_prefixes_include_ignored_and_signal(profiles: list[ModemProfile]) -> None:
    e3372 = next(p for p in profiles if p.name == "huawei-e3372")
    assert "^DSFLOWRPT" in e3372.urc_prefixes and "^RSSI" in e3372.urc_prefixes
