"""The simulated modem's AT commands, one small function each, looked up in a table.

Knows: the syntax and answers of the V.25ter / 3GPP TS 27.007 / TS 27.005 commands a gateway
uses (identity, SIM PIN, registration, +CNMI, storage), as Huawei/Quectel/SIMCom firmware give
them. Must not know: bytes, echo, pseudo-terminals, or the +CMGS prompt (the interpreter in
`modem.py` owns those; +CMGS and +CFUN=1,1 are registered there).

A handler takes (modem, kind, args) where kind is "exec", "read" ("?"), "test" ("=?") or
"set" ("=…"), and returns the information lines to print before OK, or raises ModemError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .modem import SimulatedModem


class ModemError(Exception):
    """A final error result: kind "CME" / "CMS" (shaped by +CMEE), or None for a bare ERROR."""

    def __init__(self, kind: str | None, code: int = 0):
        super().__init__(f"{kind} {code}")
        self.kind = kind
        self.code = code


Handler = Callable[["SimulatedModem", str, list[str]], list[str]]
BAD = ModemError(None)  # malformed or unsupported syntax: a plain ERROR, as the sticks give


def split_args(text: str) -> list[str]:
    """`"SM","SM",1` → ['SM', 'SM', '1']: commas outside quotes split, quotes are dropped."""
    args: list[str] = []
    current = ""
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            args.append(current.strip())
            current = ""
        else:
            current += char
    args.append(current.strip())
    return args


def int_arg(args: list[str], position: int, default: int | None = None,
            allowed: range | None = None) -> int:
    if position >= len(args) or args[position] == "":
        if default is None:
            raise BAD
        return default
    try:
        value = int(args[position])
    except ValueError:
        raise BAD from None
    if allowed is not None and value not in allowed:
        raise BAD
    return value


def _setting(read_line: Callable[[SimulatedModem], str], test_line: str,
             apply: Callable[[SimulatedModem, list[str]], None]) -> Handler:
    """A handler for a plain setting: =? lists the range, ? shows it, = stores it."""

    def handler(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
        if kind == "read":
            return [read_line(modem)]
        if kind == "test":
            return [test_line]
        if kind == "set":
            apply(modem, args)
            return []
        raise BAD

    return handler


def _fixed(*lines_of: Callable[[SimulatedModem], str], sim: bool = False) -> Handler:
    """A query answered the same with or without "?" (+CGMI, +CGSN, +CIMI…)."""

    def handler(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
        if kind == "set":
            raise BAD
        if kind == "test":
            return []
        if sim:
            modem.require_sim("CME")
        return [line(modem) for line in lines_of]

    return handler


def _ati(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    p = modem.profile
    return [f"Manufacturer: {p.manufacturer}", f"Model: {p.model}", f"Revision: {p.revision}",
            f"IMEI: {p.imei}", "+GCAP: +CGSM,+DS,+ES"]


def _iccid(command: str, prefix: str) -> Handler:
    """ICCID queries: readable without the PIN (EF_ICCID is not PIN-protected), not w/o SIM."""

    def handler(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
        key = command + ("?" if kind == "read" else "")
        if key not in modem.profile.iccid_commands or kind in ("set", "test"):
            raise BAD
        if not modem.profile.sim_present:
            raise ModemError("CME", 10)
        return [f"{prefix}: {modem.profile.iccid}"]

    return handler


# TS 27.007 §8.18 +CRSM: READ BINARY (176) of EF_ICCID (file 2FE2 = 12258, TS 51.011 §10.1.1).
CRSM_READ_BINARY = 176
EF_ICCID = 0x2FE2


def _swapped_bcd(digits: str) -> str:
    """ICCID digits as EF_ICCID stores them: F-padded to whole octets, nibbles swapped."""
    if len(digits) % 2:
        digits += "F"
    return "".join(digits[i + 1] + digits[i] for i in range(0, len(digits), 2))


def _crsm(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    """Restricted SIM access: only EF_ICCID is readable here (every family we mimic answers
    it, without the PIN: EF_ICCID is not PIN-protected). Other files: "file not found"."""
    if kind == "test":
        return []
    if kind != "set":
        raise BAD
    command = int_arg(args, 0)
    if not modem.profile.sim_present:
        raise ModemError("CME", 10)
    if command != CRSM_READ_BINARY:
        raise ModemError("CME", 4)
    if int_arg(args, 1, default=0) != EF_ICCID:
        return ["+CRSM: 106,130"]  # sw1 sw2 6A82: file not found (TS 51.011 §9.4.4)
    data = _swapped_bcd(modem.profile.iccid)
    wanted = int_arg(args, 4, default=len(data) // 2)
    return [f'+CRSM: 144,0,"{data[: 2 * wanted]}"']


def _cnma(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    """TS 27.005 §3.4.4: acknowledge the +CMT/+CDS shown (needs +CSMS=1); PDU mode <n> 0/1 is
    an RP-ACK, 2 an RP-ERROR."""
    if kind == "test":
        return ["+CNMA: (0-2)"]
    if kind not in ("exec", "set"):
        raise BAD
    n = int_arg(args, 0, default=0, allowed=range(0, 3)) if kind == "set" else 0
    if modem.csms != 1:
        raise ModemError("CMS", 340)
    modem.acknowledge(negative=n == 2)
    return []


def _cpin(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    if kind == "test":
        return []
    status = modem.sim_status
    if status == "ABSENT":
        raise ModemError("CME", 10)
    if kind == "read":
        return [f"+CPIN: {status}"]
    if kind != "set":
        raise BAD
    if status == "READY":
        raise ModemError("CME", 3)
    if status == "SIM PUK":
        if len(args) < 2 or args[0] != modem.profile.puk:
            raise ModemError("CME", 16)
        modem.profile.pin = args[1]
        modem.pin_tries_left = 3
    elif args[0] != modem.profile.pin:
        modem.pin_tries_left -= 1  # three strikes → SIM PUK, like every SIM (TS 31.102)
        raise ModemError("CME", 16)
    modem.sim_unlocked = True
    modem.update_registration()
    return []


def _cops(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    p = modem.profile
    if kind == "test":
        return [f'+COPS: (2,"{p.operator_name}","{p.operator_name}","{p.mcc_mnc}",7),,'
                "(0-4),(0-2)"]
    if kind == "read":
        if modem.registration_status() not in (1, 5):
            return ["+COPS: 0"]
        name = p.mcc_mnc if modem.cops_format == 2 else p.operator_name
        return [f'+COPS: 0,{modem.cops_format},"{name}",7']
    if kind == "set":
        mode = int_arg(args, 0, allowed=range(0, 5))
        if mode == 3:
            modem.cops_format = int_arg(args, 1, allowed=range(0, 3))
        return []
    raise BAD


def _creg_line(modem: SimulatedModem, with_n: bool) -> str:
    stat = modem.registration_status()
    head = f"+CREG: {modem.creg_n},{stat}" if with_n else f"+CREG: {stat}"
    if modem.creg_n == 2 and stat in (1, 5):
        head += f',"{modem.profile.lac}","{modem.profile.cell_id}"'
    return head


def _creg(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    if kind == "read":
        return [_creg_line(modem, with_n=True)]
    if kind == "test":
        return ["+CREG: (0-2)"]
    if kind == "set":
        modem.creg_n = int_arg(args, 0, default=0, allowed=range(0, 3))
        return []
    raise BAD


def _csq(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    if kind == "test":
        return ["+CSQ: (0-31,99),(0-7,99)"]
    if kind == "set":
        raise BAD
    rssi = modem.profile.signal if modem.radio_on else 99
    return [f"+CSQ: {rssi},99"]


def _cnum(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    modem.require_sim("CME")
    return [f'+CNUM: "","{modem.profile.own_number}",145']


def _cnmi_set(modem: SimulatedModem, args: list[str]) -> None:
    values = tuple(int_arg(args, i, default=0) for i in range(5))
    mode, mt, bm, ds, bfr = values
    # Out-of-range values and the combinations this firmware refuses both give 303, which is
    # what a fallback table has to step past.
    refused = ",".join(str(v) for v in values) in modem.profile.rejected_cnmi
    if mode > 3 or mt > 3 or bm > 3 or ds > 2 or bfr > 1 or refused:
        raise ModemError("CMS", 303)
    modem.cnmi = values


def _cpms(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    store = modem.store
    if kind == "test":
        return ['+CPMS: ("SM","ME","MT"),("SM","ME","MT"),("SM","ME","MT")']
    modem.require_sim("CMS")
    counts = f"{store.used},{store.capacity}"
    if kind == "read":
        return ["+CPMS: " + ",".join(f'"{name}",{counts}' for name in modem.cpms)]
    if kind != "set":
        raise BAD
    names = [a.upper() for a in args if a]
    if not names or any(name not in ("SM", "ME", "MT") for name in names):
        raise ModemError("CMS", 302)
    modem.cpms = (names + modem.cpms[len(names):])[:3]
    return ["+CPMS: " + ",".join([counts] * 3)]


def _cmgr(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    if kind == "test":
        return []
    if kind != "set":
        raise BAD
    modem.require_sim("CMS")
    index = int_arg(args, 0)
    message = modem.store.read(index) if modem.store.valid_index(index) else None
    if message is None:
        raise ModemError("CMS", 321)
    return [f"+CMGR: {message.stat},,{modem.tpdu_length(message.pdu)}", message.pdu]


def _cmgl(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    if kind == "test":
        return ["+CMGL: (0-4)"]
    modem.require_sim("CMS")
    if kind == "exec":
        args = ["0"]  # TS 27.005: the default <stat> is "received unread"
    elif kind != "set":
        raise BAD
    if not args[0].isdigit():  # text-mode "ALL" in PDU mode
        raise ModemError("CMS", 302)
    stat = int_arg(args, 0, allowed=range(0, 5))
    lines: list[str] = []
    for index, message in modem.store.list(stat):
        lines += [f"+CMGL: {index},{message.stat},,{modem.tpdu_length(message.pdu)}",
                  message.pdu]
    return lines


def _cmgd(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    if kind == "test":
        return ["+CMGD: (0-29),(0-4)"]
    if kind != "set":
        raise BAD
    modem.require_sim("CMS")
    index = int_arg(args, 0)
    flag = int_arg(args, 1, default=0, allowed=range(0, 5))
    if flag == 0 and not modem.store.valid_index(index):
        raise ModemError("CMS", 321)
    modem.store.delete(index, flag)  # an empty slot deletes fine: Quectel/Huawei answer OK
    return []


def _csca(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    if kind == "test":
        return []
    modem.require_sim("CMS")
    if kind == "read":
        return [f'+CSCA: "{modem.profile.smsc}",145']
    if kind == "set" and args[0]:
        modem.profile.smsc = args[0]
        return []
    raise BAD


def _ok(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    return []


def _echo(on: bool) -> Handler:
    def handler(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
        modem.echo = on
        return []

    return handler


def _reset_settings(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    modem.restore_defaults()
    return []


def _set_cmee(modem: SimulatedModem, args: list[str]) -> None:
    modem.cmee = int_arg(args, 0, default=0, allowed=range(0, 3))


def _set_cmgf(modem: SimulatedModem, args: list[str]) -> None:
    modem.cmgf = int_arg(args, 0, default=0, allowed=range(0, 2))


def _set_cscs(modem: SimulatedModem, args: list[str]) -> None:
    if args[0].upper() not in ("GSM", "IRA", "UCS2", "HEX", "8859-1"):
        raise ModemError("CME", 4)
    modem.cscs = args[0].upper()


def _set_csms(modem: SimulatedModem, args: list[str]) -> None:
    modem.csms = int_arg(args, 0, allowed=range(0, 2))


def _csms(modem: SimulatedModem, kind: str, args: list[str]) -> list[str]:
    if kind == "set":
        _set_csms(modem, args)
        return ["+CSMS: 1,1,1"]
    if kind == "read":
        return [f"+CSMS: {modem.csms},1,1,1"]
    return ["+CSMS: (0,1)"] if kind == "test" else []


HANDLERS: dict[str, Handler] = {
    "": _ok,
    "Z": _reset_settings,
    "&F": _reset_settings,
    "E": _echo(False),
    "E0": _echo(False),
    "E1": _echo(True),
    "V1": _ok,
    "Q0": _ok,
    "I": _ati,
    "I0": _ati,
    "+CGMI": _fixed(lambda m: m.profile.manufacturer),
    "+GMI": _fixed(lambda m: m.profile.manufacturer),
    "+CGMM": _fixed(lambda m: m.profile.model),
    "+GMM": _fixed(lambda m: m.profile.model),
    "+CGMR": _fixed(lambda m: m.profile.revision),
    "+GMR": _fixed(lambda m: m.profile.revision),
    "+CGSN": _fixed(lambda m: m.profile.imei),
    "+GSN": _fixed(lambda m: m.profile.imei),
    "+CIMI": _fixed(lambda m: m.profile.imsi, sim=True),
    "+CCID": _iccid("+CCID", "+CCID"),
    "+ICCID": _iccid("+ICCID", "+ICCID"),
    "^ICCID": _iccid("^ICCID", "^ICCID"),
    "+QCCID": _iccid("+QCCID", "+QCCID"),
    "+CICCID": _iccid("+CICCID", "+ICCID"),
    "+CNUM": _cnum,
    "+CPIN": _cpin,
    "+COPS": _cops,
    "+CREG": _creg,
    "+CSQ": _csq,
    "+CMEE": _setting(lambda m: f"+CMEE: {m.cmee}", "+CMEE: (0-2)", _set_cmee),
    "+CMGF": _setting(lambda m: f"+CMGF: {m.cmgf}", "+CMGF: (0,1)", _set_cmgf),
    "+CSCS": _setting(lambda m: f'+CSCS: "{m.cscs}"', '+CSCS: ("GSM","IRA","UCS2")', _set_cscs),
    "+CSMS": _csms,
    "+CNMI": _setting(lambda m: "+CNMI: " + ",".join(map(str, m.cnmi)),
                      "+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)", _cnmi_set),
    "+CNMA": _cnma,
    "+CRSM": _crsm,
    "+CPMS": _cpms,
    "+CMGR": _cmgr,
    "+CMGL": _cmgl,
    "+CMGD": _cmgd,
    "+CSCA": _csca,
}

