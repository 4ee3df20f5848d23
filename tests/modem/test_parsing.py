"""Response parsers and the state table, as tables of raw lines."""

import pytest

from appliance.modem import identity as parse
from appliance.modem.inbound import parse_indication
from appliance.modem.state import (
    TRANSITIONS,
    InvalidTransition,
    ModemState,
    Registration,
    check_transition,
)


@pytest.mark.parametrize(
    ("lines", "value"),
    [(["huawei"], "huawei"), (["+CGMI: Quectel"], "Quectel"),
     (["Manufacturer: QUALCOMM INCORPORATED"], "QUALCOMM INCORPORATED"),
     (['+CGMM: "SIMCOM_SIM7600G-H"'], "SIMCOM_SIM7600G-H"),
     (["Revision: EC25EFAR06A06M4G"], "EC25EFAR06A06M4G"), ([], "")],
)
def test_info_value_strips_vendor_labels(lines: list[str], value: str) -> None:
    assert parse.info_value(lines) == value


@pytest.mark.parametrize(
    ("lines", "iccid"),
    [(["+CCID: 89860012345678901234"], "89860012345678901234"),
     (["^ICCID: 8986001234567890123F"], "8986001234567890123"),
     (["+QCCID: 89860312345678901237"], "89860312345678901237"),
     (["89860012345678901234"], "89860012345678901234"),
     # EF_ICCID read raw through +CRSM: nibble-swapped (TS 51.011 §10.1.1)
     (['+CRSM: 144,0,"98680021436587092143"'], "89860012345678901234"),
     (['+CRSM: 106,130,""'], ""), (["ERROR"], "")],
)
def test_parse_iccid_in_every_vendor_form(lines: list[str], iccid: str) -> None:
    assert parse.parse_iccid(lines) == iccid


def test_parse_cops_cnum_cpin_creg_csq() -> None:
    assert parse.parse_cops(['+COPS: 0,2,"46000",7']) == "46000"
    assert parse.parse_cops(['+COPS: 0,0,"CHINA MOBILE",7']) == "CHINA MOBILE"
    assert parse.parse_cops(["+COPS: 0"]) == ""
    assert parse.parse_cnum(['+CNUM: "","+8613912345678",145']) == "+8613912345678"
    assert parse.parse_cnum(['+CNUM: "Line 1","8613912345678",145']) == "+8613912345678"
    assert parse.parse_cnum(['+CNUM: "","13912345678",129']) == "13912345678"
    assert parse.parse_cpin(["+CPIN: SIM PIN"]) == "SIM PIN"
    assert parse.parse_creg("0,5", solicited=True) == 5
    assert parse.parse_creg('1,"2A3B","0C1F2E"', solicited=False) == 1
    assert parse.parse_csq("17,99") == (17, 99)
    assert parse.parse_csq("23") == (23, 99)


def test_parse_listing_pairs_headers_with_pdus() -> None:
    lines = ["+CMGL: 3,1,,24", "0791AA", "+CMGL: 1,0,,30", "0791BB"]
    assert parse.parse_listing(lines, "+CMGL") == [
        (["3", "1", "", "24"], "0791AA"), (["1", "0", "", "30"], "0791BB")]


def test_parse_indication() -> None:
    assert parse_indication('+CMTI: "SM",5', "+CMTI") == ("SM", 5)
    assert parse_indication('+CDSI: "SR",12', "+CDSI") == ("SR", 12)
    assert parse_indication("+CMTI: garbage", "+CMTI") is None


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [(ModemState.PROBING, ModemState.READY, True),
     (ModemState.READY, ModemState.GONE, True),
     (ModemState.READY, ModemState.NO_SIM, True),
     (ModemState.READY, ModemState.PROBING, True),
     (ModemState.GONE, ModemState.PROBING, True),
     (ModemState.GONE, ModemState.READY, False),
     (ModemState.NO_SIM, ModemState.READY, False),
     (ModemState.SIM_BLOCKED, ModemState.READY, False),
     (ModemState.PIN_NEEDED, ModemState.READY, False)],
)
def test_transition_table(old: ModemState, new: ModemState, allowed: bool) -> None:
    if allowed:
        check_transition(old, new)
    else:
        with pytest.raises(InvalidTransition):
            check_transition(old, new)


def test_every_state_can_reach_gone_or_is_gone() -> None:
    for state, targets in TRANSITIONS.items():
        assert state == ModemState.GONE or ModemState.GONE in targets


def test_registration_values() -> None:
    assert Registration.parse(1).registered and Registration.parse(5).registered
    assert not Registration.parse(2).registered and not Registration.parse(3).registered
    assert Registration.parse(42) is Registration.UNKNOWN
