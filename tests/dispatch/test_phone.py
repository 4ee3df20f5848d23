"""Recipient numbers to E.164 and networks; SIM operator codes to networks."""

import pytest

from appliance.dispatch.phone import InvalidNumber, network_of, network_of_sim, normalize_number

NORMALIZE = [
    ("13800138000", "+8613800138000"),
    ("+86 138-0013-8000", "+8613800138000"),
    ("008613800138000", "+8613800138000"),
    ("0086 138 0013 8000", "+8613800138000"),
    ("86 13800138000", "+8613800138000"),
    ("138 0013 8000", "+8613800138000"),
    ("+8613800138000", "+8613800138000"),
    ("010-12345678", "+861012345678"),  # Beijing landline
    ("+1 415 555 2671", "+14155552671"),
    # Segments phonenumbers 9.0 calls invalid but MIIT assigned (Telecom data cards, satellite):
    ("14912345678", "+8614912345678"),
    ("17400012345", "+8617400012345"),
]


@pytest.mark.parametrize(("raw", "e164"), NORMALIZE)
def test_normalize_number_gives_e164(raw: str, e164: str) -> None:
    assert normalize_number(raw) == e164


@pytest.mark.parametrize("raw", ["", "   ", "abc", "12345", "+86 999", "1380013800"])
def test_normalize_number_rejects_invalid_and_names_the_input(raw: str) -> None:
    with pytest.raises(InvalidNumber) as info:
        normalize_number(raw)
    assert repr(raw) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_default_region_applies_to_numbers_without_country_code() -> None:
    assert normalize_number("(415) 555-2671", default_region="US") == "+14155552671"


NETWORK = [
    # China Mobile segments
    *[(f"+86{p}12345678", "mobile") for p in (
        "134", "135", "136", "137", "138", "139", "147", "150", "151", "152", "157", "158",
        "159", "172", "178", "182", "183", "184", "187", "188", "195", "197", "198")],
    # China Unicom
    *[(f"+86{p}12345678", "unicom") for p in (
        "130", "131", "132", "145", "155", "156", "166", "167", "171", "175", "176", "185",
        "186", "196")],
    # China Telecom (149 and 174 through the fallback table: phonenumbers has no carrier there)
    *[(f"+86{p}12345678", "telecom") for p in (
        "133", "149", "153", "173", "177", "180", "181", "189", "190", "191", "193", "199")],
    ("+8617400012345", "telecom"),
    # 170 is split between the operators' MVNOs by its fourth digit
    ("+8617001234567", "telecom"),
    ("+8617051234567", "mobile"),
    ("+8617091234567", "unicom"),
    # Not one of ours
    ("+8619212345678", None),  # China Broadnet
    ("+861012345678", None),  # landline
    ("+14155552671", None),
    ("+85291234567", None),  # Hong Kong
    ("garbage", None),
]


@pytest.mark.parametrize(("e164", "network"), NETWORK)
def test_network_of(e164: str, network: str | None) -> None:
    assert network_of(e164) == network


SIM_NETWORK = [
    ("46000", "", "mobile"),
    ("46002", "", "mobile"),
    ("46004", "", "mobile"),
    ("46007", "", "mobile"),
    ("46008", "", "mobile"),
    ("46001", "", "unicom"),
    ("46006", "", "unicom"),
    ("46009", "", "unicom"),
    ("46003", "", "telecom"),
    ("46005", "", "telecom"),
    ("46011", "", "telecom"),
    ("460001234567890", "", "mobile"),  # a whole IMSI
    ("", "CHINA MOBILE", "mobile"),
    ("", "CMCC", "mobile"),
    ("", "中国移动", "mobile"),
    ("", "CHN-UNICOM", "unicom"),
    ("", "China Unicom", "unicom"),
    ("", "CHN-CT", "telecom"),
    ("", "中国电信", "telecom"),
    ("46011", "CHINA MOBILE", "telecom"),  # the code wins over a name
    ("310260", "T-Mobile", None),
    ("46020", "", None),  # China Mobile GSM-R: not a consumer SIM
    ("", "", None),
]


@pytest.mark.parametrize(("code", "name", "network"), SIM_NETWORK)
def test_network_of_sim(code: str, name: str, network: str | None) -> None:
    assert network_of_sim(code, name) == network
