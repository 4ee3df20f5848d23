"""Modem profiles: device quirks as data, loaded from firmware-config/modems/*.toml.

Knows: the keys a profile may hold, their types and defaults, how a profile is matched to a
device (USB id and interface, or the text the modem gives about itself).
Must not know: serial ports, AT framing, or what the driver does with each value.

Like ModemManager's udev tags (ID_MM_PORT_TYPE_AT_PRIMARY, ID_MM_TTY_AT_PROBE_TRIES) and
Kannel's modems.conf (detect-string, init-string, speed), every device difference lives in a
profile file, with a comment naming the device that needed it; driver code never asks which
model it talks to.

A profile file looks like this (every key has a default; an unknown key or a value of the wrong
type raises ProfileError naming the file and the key):

    name = "huawei-e3372"
    description = "Huawei E3372 LTE stick in serial (stick) mode"
    init = ["^CURC=0"]
    cnmi = ["2,1,0,2,0", "2,1,0,1,0"]
    [match]
    usb_ids = ["12d1:1506"]
    at_interface = 2
    detect = ["E3372"]
    [serial]
    baudrate = 115200
"""

from __future__ import annotations

import dataclasses
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from appliance.typed_toml import build

GENERIC = "generic"


def _shipped_profiles_dir() -> Path:
    """firmware-config/modems at the top of the checkout (two levels above this package) when
    running from one; an installed wheel carries them in <prefix>/share/cardgate/modems
    (pyproject's data-files)."""
    checkout = Path(__file__).resolve().parents[2] / "firmware-config" / "modems"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "cardgate" / "modems"


DEFAULT_PROFILES_DIR = _shipped_profiles_dir()


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file and the key at fault."""


@dataclass(frozen=True)
class MatchRules:
    usb_ids: list[str] = field(default_factory=list)
    """"vvvv:pppp" USB vendor:product ids (lower-case hex) this profile is for."""
    at_interface: int | None = None
    """USB interface number carrying the AT port (ModemManager's ID_MM_PORT_TYPE_AT_PRIMARY);
    None when unknown or not USB."""
    detect: list[str] = field(default_factory=list)
    """Substrings looked for (case-insensitive) in ATI / +CGMI / +CGMM output."""
    probe_behind: bool = False
    """True for USB-serial adapters: the USB id says only "a serial port", so the modem behind
    it is identified by the detect strings of the other profiles (ModemManager marks these
    adapters ID_MM_TTY_MANUAL_SCAN_ONLY for the same reason)."""


@dataclass(frozen=True)
class SerialSettings:
    baudrate: int = 115200
    command_interval: float = 0.0
    """Seconds to leave between commands (pacing for modems that drop bytes when rushed)."""
    command_timeout: float = 5.0
    """Seconds an ordinary command may take."""
    probe_tries: int = 3
    """Plain "AT" attempts before the port counts as not a modem (a freshly plugged stick may
    still be booting)."""
    resync_tries: int = 3
    """Bare "AT" probes after an abandoned command before the next one is written, so the
    late answer of the abandoned command is not taken for the next one's."""
    resync_timeout: float = 1.0
    """Seconds each resync probe waits. A modem known to be hung gets one probe only, so a
    reset command is not held up by probes that cannot be answered."""


@dataclass(frozen=True)
class ModemProfile:
    name: str = ""
    description: str = ""
    init: list[str] = field(default_factory=list)
    """Commands (without "AT") sent after the driver's own E0, +CMEE=1, +CMGF=0, +CPMS, +CNMI."""
    cnmi: list[str] = field(
        default_factory=lambda: ["2,1,0,2,0", "2,1,0,1,0", "1,1,0,1,0", "2,1,0,0,0"]
    )
    """+CNMI parameter sets tried in order until one answers OK (TS 27.005 §3.4.1;
    ModemManager's cnmi_sequence)."""
    storage: list[str] = field(default_factory=lambda: ["SM", "SM", "SM"])
    """+CPMS <mem1>,<mem2>,<mem3>: read/delete, write/send, receive (TS 27.005 §3.2.2)."""
    csms: int | None = None
    """+CSMS service to select (TS 27.005 §3.2.1); None leaves the modem's default."""
    ack_direct: bool = False
    """Acknowledge +CMT/+CDS with +CNMA (needed when +CSMS=1 is in force, TS 27.005 §3.4.4)."""
    ignore_urcs: list[str] = field(default_factory=list)
    """URC prefixes dropped quietly (e.g. Huawei's ^DSFLOWRPT every two seconds)."""
    extra_urcs: list[str] = field(default_factory=list)
    """Vendor URC prefixes the AT layer must recognise besides the standard ones."""
    signal_urcs: list[str] = field(default_factory=list)
    """URC prefixes whose first number is an rssi on the +CSQ scale (Huawei ^RSSI)."""
    iccid_commands: list[str] = field(
        default_factory=lambda: ["+CCID", "+ICCID", "^ICCID?", "+QCCID", "+CRSM=176,12258,0,0,10"]
    )
    """Commands tried in order until one yields an ICCID."""
    reset_command: str = "+CFUN=1,1"
    hang_timeout: float = 30.0
    """Seconds without any answer after which the supervisor should reset the modem."""
    reset_wait: float = 60.0
    """Seconds a reset modem may take to answer again."""
    match: MatchRules = field(default_factory=MatchRules)
    serial: SerialSettings = field(default_factory=SerialSettings)
    path: str = ""
    """The file it came from (set by the loader)."""

    @property
    def is_generic(self) -> bool:
        return self.name == GENERIC

    @property
    def urc_prefixes(self) -> list[str]:
        """Prefixes the AT layer must treat as unsolicited, besides its defaults."""
        return list(dict.fromkeys([*self.extra_urcs, *self.signal_urcs, *self.ignore_urcs]))

    def matches_usb(self, usb_id: str, interface: int | None = None) -> bool:
        if usb_id.lower() not in self.match.usb_ids:
            return False
        return interface is None or self.match.at_interface in (None, interface)

    def text_score(self, identity_text: str) -> tuple[int, int]:
        """(how many detect strings occur in the text, length of the longest that does):
        "SIEMENS TC35i" fits the TC35i profile (SIEMENS and TC35) better than the MC39i one
        (SIEMENS alone). (0, 0) when none occurs."""
        text = identity_text.upper()
        hits = [len(d) for d in self.match.detect if d and d.upper() in text]
        return (len(hits), max(hits, default=0))

    def matches_text(self, identity_text: str) -> bool:
        return self.text_score(identity_text)[0] > 0


# -- loading ---------------------------------------------------------------------------------

def _check(p: ModemProfile, file: str) -> None:
    def bad(key: str, why: str) -> ProfileError:
        return ProfileError(f"{file}: {key}: {why}")

    if not p.name:
        raise bad("name", "missing")
    for i, usb_id in enumerate(p.match.usb_ids):
        vid, sep, pid = usb_id.partition(":")
        ok = sep and len(vid) == len(pid) == 4 and all(c in "0123456789abcdef" for c in vid + pid)
        if not ok:
            raise bad(f"match.usb_ids[{i}]",
                      f'must be "vvvv:pppp" in lower-case hex, got {usb_id!r}')
    if p.match.at_interface is not None and not 0 <= p.match.at_interface < 32:
        raise bad("match.at_interface", f"must be 0..31, got {p.match.at_interface}")
    if p.serial.baudrate not in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400,
                                 460800, 921600):
        raise bad("serial.baudrate", f"not a standard rate: {p.serial.baudrate}")
    if p.serial.command_interval < 0:
        raise bad("serial.command_interval", f"must be >= 0, got {p.serial.command_interval}")
    if p.serial.command_timeout <= 0:
        raise bad("serial.command_timeout", f"must be > 0, got {p.serial.command_timeout}")
    if p.serial.probe_tries < 1:
        raise bad("serial.probe_tries", "must be >= 1")
    if p.serial.resync_tries < 0:
        raise bad("serial.resync_tries", "must be >= 0")
    if p.serial.resync_timeout <= 0:
        raise bad("serial.resync_timeout", f"must be > 0, got {p.serial.resync_timeout}")
    if not p.cnmi:
        raise bad("cnmi", "needs at least one parameter set")
    if not 1 <= len(p.storage) <= 3:
        raise bad("storage", "must name 1 to 3 memories")
    for i, mem in enumerate(p.storage):
        if mem not in ("SM", "ME", "MT", "BM", "SR", "TA"):  # TS 27.005 §3.2.2 <memX> values
            raise bad(f"storage[{i}]", f"unknown memory {mem!r}")
    for key in ("init", "iccid_commands"):
        for i, cmd in enumerate(getattr(p, key)):
            if cmd.upper().startswith("AT"):
                raise bad(f"{key}[{i}]", f"write commands without the AT prefix, got {cmd!r}")
    if p.reset_command.upper().startswith("AT"):
        raise bad("reset_command", "write the command without the AT prefix")
    if p.hang_timeout <= 0 or p.reset_wait <= 0:
        raise bad("hang_timeout" if p.hang_timeout <= 0 else "reset_wait", "must be > 0")


def load_profile(path: str | Path) -> ModemProfile:
    """Read and validate one profile file."""
    path = Path(path)
    file = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{file}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ProfileError(f"{file}: cannot read: {exc.strerror}") from None
    profile = build(ModemProfile, data, ProfileError, location=f"{file}: ", skip=("path",))
    assert isinstance(profile, ModemProfile)
    if profile.name and profile.name != path.stem:
        raise ProfileError(f"{file}: name: must equal the file name {path.stem!r}")
    _check(profile, file)
    return dataclasses.replace(profile, path=file)


def load_profiles(directory: str | Path | None = None) -> list[ModemProfile]:
    """Every *.toml in `directory` (default: the shipped firmware-config/modems), sorted by
    name with the generic profile last. Raises ProfileError if one is bad or generic is
    missing: a half-loaded set would quietly mis-drive a modem."""
    folder = Path(directory) if directory else DEFAULT_PROFILES_DIR
    profiles = [load_profile(p) for p in sorted(folder.glob("*.toml"))]
    if not any(p.is_generic for p in profiles):
        raise ProfileError(f"{folder}: no {GENERIC}.toml: the fallback profile is required")
    return sorted(profiles, key=lambda p: (p.is_generic, p.name))


def match_profile(
    profiles: list[ModemProfile],
    usb_id: str | None = None,
    interface: int | None = None,
    identity_text: str = "",
) -> ModemProfile:
    """The profile for a device: by USB id (and AT interface) first, then by what the modem
    says about itself (ATI, +CGMI, +CGMM), then generic.

    Several sticks share one USB id (Huawei 12d1:1001 and 12d1:1506, Quectel 2c7c:0125):
    when more than one profile claims it, the identity text decides, and without text the
    first by name is used until the pool has probed the port (match again with the text).
    A USB-serial adapter's profile (probe_behind) only says what kind of port it is; the
    modem behind it is looked for by detect strings among the profiles without USB ids, and
    the adapter's profile is used only when none matches."""
    generic = next(p for p in profiles if p.is_generic)
    candidates = [p for p in profiles if not p.is_generic]
    by_usb: list[ModemProfile] = []
    if usb_id:
        by_usb = [p for p in candidates if p.matches_usb(usb_id, interface)]
    devices = [p for p in by_usb if not p.match.probe_behind]
    if devices:
        return _best_by_text(devices, identity_text) or devices[0]
    if identity_text:
        # Behind an adapter only serial-attached modems (no USB ids) can sit; with no USB id
        # at all (a static port) any profile's detect strings may match.
        found = _best_by_text(
            [p for p in candidates
             if not p.match.probe_behind and not (by_usb and p.match.usb_ids)],
            identity_text,
        )
        if found is not None:
            return found
    return by_usb[0] if by_usb else generic


def _best_by_text(profiles: list[ModemProfile], identity_text: str) -> ModemProfile | None:
    scored = [(p.text_score(identity_text), i) for i, p in enumerate(profiles)]
    best = max((s for s in scored if s[0][0] > 0), key=lambda s: (s[0], -s[1]), default=None)
    return profiles[best[1]] if best is not None else None
