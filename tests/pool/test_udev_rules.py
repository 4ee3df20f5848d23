"""The shipped udev rules are the profiles rendered: they cannot drift apart."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from appliance.modem.profile import MatchRules, ModemProfile
from appliance.pool.udev_rules import RULES_NAME, render_rules

SHIPPED = Path(__file__).resolve().parents[2] / "firmware-config" / "udev" / RULES_NAME


def test_shipped_rules_equal_the_rendered_profiles(profiles: list[ModemProfile]) -> None:
    assert SHIPPED.read_text(encoding="utf-8") == render_rules(profiles), (
        "regenerate: python -m appliance.pool.udev_rules > firmware-config/udev/" + RULES_NAME)


def test_every_usb_id_is_hidden_from_modemmanager(profiles: list[ModemProfile]) -> None:
    text = render_rules(profiles)
    for profile in profiles:
        for usb_id in profile.match.usb_ids:
            vendor, product = usb_id.split(":")
            rule = (f'ATTRS{{idVendor}}=="{vendor}", ATTRS{{idProduct}}=="{product}", '
                    'ENV{ID_MM_DEVICE_IGNORE}="1"')
            assert rule in text, f"{profile.name}: {usb_id} not tagged"


def test_a_new_profile_shows_up_with_its_at_interface(profiles: list[ModemProfile]) -> None:
    new = dataclasses.replace(
        profiles[0], name="acme-x1",
        match=MatchRules(usb_ids=["abcd:0042"], at_interface=4))
    text = render_rules([*profiles, new])
    assert "# abcd:0042: acme-x1" in text
    assert ('ATTRS{idVendor}=="abcd", ATTRS{idProduct}=="0042", '
            'ENV{ID_USB_INTERFACE_NUM}=="04", ENV{CARDGATE_AT}="1"') in text
    assert text != render_rules(profiles)


def test_rules_are_well_formed(profiles: list[ModemProfile]) -> None:
    text = render_rules(profiles)
    labels = set(re.findall(r'LABEL="([^"]+)"', text))
    assert set(re.findall(r'GOTO="([^"]+)"', text)) <= labels
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert line.count('"') % 2 == 0, line
            assert "SYMLINK+=" not in line or "cardgate/" in line
