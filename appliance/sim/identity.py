"""Who a simulated modem is: vendor strings, IMEI, SIM identity, operator, and its quirks as data.

Knows: plausible Huawei / Quectel / SIMCom identity strings, Chinese operators (MCC-MNC, ICCID
issuer prefixes, number ranges), Luhn check digits, and the per-device quirks the interpreter
honours (which ICCID commands exist, which +CNMI combinations are refused, boot URCs).
Must not know: AT parsing, pseudo-terminals, SMS PDUs.

Everything is derived deterministically from (index, seed), so `modem3` is the same device on
every run: tests and benchmarks can name it and the demo shows stable IMEIs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Operator:
    """A Chinese mobile network as a SIM and +COPS present it."""

    long_name: str  # +COPS format 0 (what the sticks show for these operators)
    mcc_mnc: str  # +COPS format 2, and the IMSI prefix
    iccid_issuer: str  # ICCID digits 5-6 after "8986" (China's ITU-T E.118 prefix)
    number_prefixes: tuple[str, ...]  # 3-digit mobile number ranges the operator was given


OPERATORS: tuple[Operator, ...] = (
    Operator("CHINA MOBILE", "46000", "00", ("139", "138", "135", "150", "188")),
    Operator("CHN-UNICOM", "46001", "01", ("186", "130", "131", "156", "166")),
    Operator("CHN-CT", "46011", "03", ("189", "133", "153", "180", "199")),
)


@dataclass(frozen=True)
class Vendor:
    """Identity strings and quirks of one modem family."""

    manufacturer: str
    model: str
    revision: str
    tac: str  # IMEI Type Allocation Code (8 digits); the rest is serial + Luhn
    iccid_commands: frozenset[str]  # the ICCID queries this firmware answers
    boot_urcs: tuple[str, ...]  # lines emitted after power-on / AT+CFUN=1,1
    sim_removed_urcs: tuple[str, ...]
    memory_full_urc: str | None
    vendor_settings: frozenset[str] = frozenset()  # vendor commands answered with a plain OK


# The three families the appliance is sold with. Boot URCs are what each one prints after a
# reset (Huawei E3372 "^SYSSTART"/"^SIMST", Quectel EC25 "RDY … SMS DONE", SIMCom SIM7600
# "RDY … PB DONE"); "+CPIN: …" is appended by the interpreter from the SIM's real state.
VENDORS: tuple[Vendor, ...] = (
    Vendor(
        "huawei", "E3372", "21.180.01.00.00", "86151803",
        frozenset({"^ICCID?", "+CCID", "+ICCID"}),
        ("^SYSSTART", "^SIMST: 1"), ("^SIMST: 255",), '^SMMEMFULL: "SM"',
        frozenset({"^CURC"}),  # ^CURC=0 silences ^RSSI/^BOOT/^MODE (the E3372 profile sends it)
    ),
    Vendor(
        "Quectel", "EC25", "EC25EFAR06A06M4G", "86769503",
        frozenset({"+QCCID", "+CCID", "+ICCID"}),
        ("RDY", "+CFUN: 1"), ("+CPIN: NOT READY",), None,
    ),
    Vendor(
        "SIMCOM INCORPORATED", "SIMCOM_SIM7600G-H", "LE20B04SIM7600G22", "86234004",
        frozenset({"+CICCID", "+CCID", "+ICCID"}),
        ("RDY", "+CFUN: 1"), ("+SIMCARD: NOT AVAILABLE", "+CPIN: NOT INSERTED"), None,
    ),
)

ALL_ICCID_COMMANDS = frozenset({"^ICCID?", "+CCID", "+ICCID", "+QCCID", "+CICCID"})


@dataclass
class SimProfile:
    """One simulated modem with its SIM. Mutable on purpose: tests tweak a field before start."""

    index: int
    manufacturer: str
    model: str
    revision: str
    imei: str
    iccid: str
    imsi: str
    operator_name: str
    mcc_mnc: str
    own_number: str
    signal: int  # +CSQ rssi, 0-31 (99 = unknown)
    pin: str | None = None  # None: the SIM has no PIN lock
    puk: str = "12345678"
    sim_present: bool = True
    smsc: str = "+8613800100500"
    # Every ICCID command by default so any probing order works; narrow it to test fallbacks.
    iccid_commands: frozenset[str] = ALL_ICCID_COMMANDS
    # +CNMI combinations refused with +CMS ERROR: 303, as "2,1,2,1,0" strings (5 values), to
    # exercise fallback tables like ModemManager's (many Qualcomm parts refuse <ds>=1).
    rejected_cnmi: frozenset[str] = frozenset()
    boot_urcs: tuple[str, ...] = ("RDY",)
    sim_removed_urcs: tuple[str, ...] = ("+CPIN: NOT INSERTED",)
    memory_full_urc: str | None = None
    vendor_settings: frozenset[str] = frozenset()
    storage_capacity: int = 30
    first_storage_index: int = 0  # Huawei/Quectel number SM slots from 0, some others from 1
    first_message_reference: int = 0
    lac: str = "2A3B"
    cell_id: str = "0C1F2E"
    extra: dict[str, str] = field(default_factory=dict)


def luhn_check_digit(digits: str) -> str:
    """The Luhn digit that makes `digits + result` valid (IMEI, ICCID)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # doubled: rightmost of the payload sits next to the check digit
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


def _digits(index: int, seed: str, purpose: str, count: int) -> str:
    """Deterministic pseudo-random digits per (seed, index, purpose)."""
    out = ""
    counter = 0
    while len(out) < count:
        digest = hashlib.sha256(f"{seed}|{index}|{purpose}|{counter}".encode()).hexdigest()
        out += str(int(digest, 16))[5:]  # skip leading digits: they are biased
        counter += 1
    return out[:count]


def make_profile(index: int, seed: str = "") -> SimProfile:
    """The profile of simulated modem `index`: same answer for the same (index, seed), always.

    Operators rotate China Mobile, China Unicom, China Telecom; vendors rotate on a different
    stride so every operator is seen on every vendor in a fleet of nine.
    """
    operator = OPERATORS[index % len(OPERATORS)]
    vendor = VENDORS[(index + index // len(OPERATORS)) % len(VENDORS)]
    imei_body = vendor.tac + _digits(index, seed, "imei", 6)
    iccid_body = "8986" + operator.iccid_issuer + _digits(index, seed, "iccid", 13)
    prefixes = operator.number_prefixes
    number_prefix = prefixes[index // len(OPERATORS) % len(prefixes)]
    return SimProfile(
        index=index,
        manufacturer=vendor.manufacturer,
        model=vendor.model,
        revision=vendor.revision,
        imei=imei_body + luhn_check_digit(imei_body),
        iccid=iccid_body + luhn_check_digit(iccid_body),
        imsi=operator.mcc_mnc + _digits(index, seed, "imsi", 10),
        operator_name=operator.long_name,
        mcc_mnc=operator.mcc_mnc,
        own_number="+86" + number_prefix + _digits(index, seed, "msisdn", 8),
        signal=12 + int(_digits(index, seed, "csq", 2)) % 17,
        boot_urcs=vendor.boot_urcs,
        sim_removed_urcs=vendor.sim_removed_urcs,
        memory_full_urc=vendor.memory_full_urc,
        vendor_settings=vendor.vendor_settings,
        first_message_reference=int(_digits(index, seed, "mr", 3)) % 256,
        lac=f"{0x1000 + int(_digits(index, seed, 'lac', 4)):04X}",
        cell_id=f"{int(_digits(index, seed, 'ci', 7)) % 0xFFFFFF:06X}",
    )
