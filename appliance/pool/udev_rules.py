"""The udev rules for our modems, rendered from the modem profiles (quirks are data).

Knows: udev rule syntax, ModemManager's ID_MM_DEVICE_IGNORE tag, the properties udev's
60-serial.rules import for USB ttys (ID_USB_INTERFACE_NUM, ID_SERIAL_SHORT, ID_PATH_TAG), and
which USB ids and AT interfaces the profiles name.
Must not know: how the pool uses ports, AT commands.

The shipped firmware-config/udev/77-cardgate.rules is this module's output, and a test keeps it
so: add a profile, then run `python -m appliance.pool.udev_rules > firmware-config/udev/
77-cardgate.rules`. The file sorts after ModemManager's own 77-mm-* rules and before
80-mm-candidate.rules, where ModemManager decides which ports to probe.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from appliance.modem.profile import ModemProfile, load_profiles

RULES_NAME = "77-cardgate.rules"

_HEAD = """\
# cardgate: keep ModemManager off our modems and give their ttys stable names.
# GENERATED from firmware-config/modems/*.toml by appliance.pool.udev_rules; do not edit.
# Regenerate: python -m appliance.pool.udev_rules > firmware-config/udev/77-cardgate.rules
# Install: /etc/udev/rules.d/77-cardgate.rules, then `udevadm control --reload` and
# `udevadm trigger --subsystem-match=tty`.

ACTION=="remove", GOTO="cardgate_end"
SUBSYSTEM!="tty", GOTO="cardgate_end"
"""

_TAIL = """\
# A stable name per stick and interface: by USB serial number where the stick has one,
# else by the physical USB port (two identical sticks without serials stay apart).
# (ID_PATH_TAG of a tty names its USB interface too, so siblings do not collide.)
ENV{CARDGATE_MODEM}!="1", GOTO="cardgate_end"
ENV{ID_SERIAL_SHORT}=="?*", \
SYMLINK+="cardgate/%E{ID_VENDOR_ID}-%E{ID_SERIAL_SHORT}-if%E{ID_USB_INTERFACE_NUM}"
ENV{ID_SERIAL_SHORT}!="?*", ENV{ID_PATH_TAG}=="?*", SYMLINK+="cardgate/%E{ID_PATH_TAG}"
ENV{CARDGATE_AT}=="1", ENV{ID_SERIAL_SHORT}=="?*", \
SYMLINK+="cardgate/at-%E{ID_VENDOR_ID}-%E{ID_SERIAL_SHORT}"

LABEL="cardgate_end"
"""


def _usb_ids(profiles: Iterable[ModemProfile]) -> dict[str, list[ModemProfile]]:
    """Every USB id the profiles name, with the profiles naming it, in a stable order."""
    by_id: dict[str, list[ModemProfile]] = {}
    for profile in sorted(profiles, key=lambda p: p.name):
        for usb_id in profile.match.usb_ids:
            by_id.setdefault(usb_id, []).append(profile)
    return dict(sorted(by_id.items()))


def render_rules(profiles: Iterable[ModemProfile]) -> str:
    """The rules file for `profiles`: one tagging rule per USB id, one AT-port rule per
    (USB id, interface) a profile knows."""
    lines = [_HEAD]
    for usb_id, owners in _usb_ids(profiles).items():
        vendor, product = usb_id.split(":")
        names = ", ".join(p.name for p in owners)
        match = f'ATTRS{{idVendor}}=="{vendor}", ATTRS{{idProduct}}=="{product}"'
        lines.append(f"# {usb_id}: {names}")
        if any(p.match.probe_behind for p in owners):
            lines.append("# (a USB-serial adapter: the modem behind it is found by probing)")
        # ModemManager would otherwise open every tty of the stick and fight us for it.
        lines.append(f'{match}, ENV{{ID_MM_DEVICE_IGNORE}}="1", ENV{{CARDGATE_MODEM}}="1"')
        interfaces = sorted({p.match.at_interface for p in owners
                             if p.match.at_interface is not None})
        for number in interfaces:
            lines.append(f'{match}, ENV{{ID_USB_INTERFACE_NUM}}=="{number:02x}", '
                         f'ENV{{CARDGATE_AT}}="1"')
        lines.append("")
    lines.append(_TAIL)
    return "\n".join(lines)


def main() -> None:
    sys.stdout.write(render_rules(load_profiles()))


if __name__ == "__main__":
    main()
