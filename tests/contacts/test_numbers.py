"""The stored form of a number: E.164 whatever way it was written, sender ids and short codes
as given, typos refused naming the input; and the [contacts] region setting."""

from __future__ import annotations

import pytest

from appliance.config import ConfigError, config_from_dict
from appliance.contacts.numbers import InvalidNumber, stored_number, stored_or_given


@pytest.mark.parametrize("raw, stored", [
    ("13800138000", "+8613800138000"),              # national, +86 by default
    ("+8613800138000", "+8613800138000"),
    ("+86 138 0013 8000", "+8613800138000"),        # spaces
    ("138-0013-8000", "+8613800138000"),            # dashes
    (" 0086 138 0013 8000 ", "+8613800138000"),     # international prefix, blanks around
    ("+1 650-253-0000", "+16502530000"),            # another country, written in full
    ("010 6552 9988", "+861065529988"),             # a Beijing landline
    ("BANK", "BANK"),                               # alphanumeric sender id, as given
    ("JD.com", "JD.com"),
    ("12306Rail", "12306Rail"),                     # digits first, but not like a mobile
    ("10086", "10086"),                             # short code
    ("1069012345678", "1069012345678"),             # SP service number
])
def test_numbers_are_stored_in_one_form(raw: str, stored: str):
    assert stored_number(raw) == stored


@pytest.mark.parametrize("raw", ["1380013800", "+86", "", "   ", "ABCDEFGHIJKLM", "<script>",
                                 "1380013", "13800138",  # a mobile with digits missing
                                 "1380013abc", "138001380OO"])  # a mobile typed wrong
def test_what_is_neither_a_number_nor_a_sender_id_is_refused_naming_it(raw: str):
    with pytest.raises(InvalidNumber) as err:
        stored_number(raw)
    assert repr(raw.strip() or raw) in str(err.value) or repr(raw) in str(err.value)


def test_the_default_region_reads_national_numbers():
    assert stored_number("91234567", "HK") == "+85291234567"
    assert stored_number("+8613800138000", "HK") == "+8613800138000"


def test_numbers_from_the_inbox_that_do_not_parse_are_kept():
    assert stored_or_given("  weird sender!! ") == "weird sender!!"


def test_contacts_region_is_configurable_and_checked():
    assert config_from_dict({}).contacts.default_region == "CN"
    assert config_from_dict({"contacts": {"default_region": "HK"}}).contacts.default_region \
        == "HK"
    with pytest.raises(ConfigError, match="contacts.default_region"):
        config_from_dict({"contacts": {"default_region": "XX"}})
    with pytest.raises(ConfigError, match="contacts.colour"):
        config_from_dict({"contacts": {"colour": "red"}})
