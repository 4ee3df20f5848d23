"""The number-quality report: which contacts' numbers cannot get an SMS and why, which number
several contacts share (one handset registered under many names is a known abuse: a
campaign's consent or a quota counted per contact is then counted many times), and per group
the share of contacts with a valid Chinese mobile number.

Knows: what phonenumbers says of a number (valid, its type, its region), the MIIT segments
(`dispatch.phone.network_of`: a number there is a mobile whatever phonenumbers' metadata says,
as intake accepts it), and how the report is shaped. Numbers are compared by their E.164 form
when they parse, else case-folded, so "BANK" and "bank" (sender ids, kept as given) are one.
Must not know: SQL (`store.number_quality` gives the rows), HTTP.

Why shared numbers can still appear though `contact_number.number` is unique: the stored form
of a sender id or a short code is as given ("BANK", "bank"), and rows written before
normalisation or under another `[contacts] default_region` keep their old form.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from appliance.dispatch.phone import network_of

_MOBILE = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
_TYPES = {
    PhoneNumberType.FIXED_LINE: "a fixed line",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.VOIP: "a VoIP number",
    PhoneNumberType.PAGER: "a pager",
    PhoneNumberType.UAN: "a company's universal access number",
    PhoneNumberType.VOICEMAIL: "a voicemail number",
}


def _parse(number: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(number, None if number.startswith("+") else region)
    except NumberParseException:
        return None


def number_problem(number: str, region: str = "CN") -> str | None:
    """Why `number` (as stored) cannot get an SMS from a SIM, or None when it can."""
    if network_of(number) is not None:  # a mainland mobile segment, known or not to phonenumbers
        return None
    parsed = _parse(number, region) if number.startswith("+") else None
    if parsed is None:  # the book keeps what is not E.164 as given: sender ids, short codes
        return "not a phone number (a sender id, short code or service number)"
    if not phonenumbers.is_valid_number(parsed):
        return "not a valid number (no such number range)"
    kind = phonenumbers.number_type(parsed)
    if kind in _MOBILE:
        return None
    return f"not a mobile number ({_TYPES.get(kind, 'of unknown type')}): it cannot get an SMS"


def is_cn_mobile(number: str, region: str = "CN") -> bool:
    """A mainland mobile number: on a MIIT segment (`dispatch.phone`: phonenumbers' metadata
    lags new segments), or one phonenumbers calls a valid Chinese mobile."""
    if network_of(number) is not None:
        return True
    parsed = _parse(number, region)
    return (parsed is not None and phonenumbers.is_valid_number(parsed)
            and phonenumbers.region_code_for_number(parsed) == "CN"
            and phonenumbers.number_type(parsed) in _MOBILE)


def _same_number_key(number: str, region: str) -> str:
    parsed = _parse(number, region)
    if parsed is not None and phonenumbers.is_possible_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return number.strip().casefold()


def quality_report(numbers: Iterable[tuple[int, str, str | None]],
                   memberships: Iterable[tuple[int, str, int | None]],
                   region: str = "CN") -> dict[str, Any]:
    """The report from (contact id, name, number or None) and (group id, name, contact id or
    None) rows (`store.number_quality`)."""
    invalid: list[dict[str, Any]] = []
    names: dict[int, str] = {}
    has_mobile: set[int] = set()
    by_key: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for contact_id, name, number in numbers:
        names[contact_id] = name
        if number is None:
            invalid.append({"contact_id": contact_id, "name": name, "number": None,
                            "why": "no number"})
            continue
        why = number_problem(number, region)
        if why:
            invalid.append({"contact_id": contact_id, "name": name, "number": number,
                            "why": why})
        if is_cn_mobile(number, region):
            has_mobile.add(contact_id)
        by_key[_same_number_key(number, region)].append((contact_id, number))
    shared = []
    for key, holders in sorted(by_key.items()):
        contact_ids = sorted({cid for cid, _ in holders})
        if len(contact_ids) > 1:
            shared.append({"number": key, "as_stored": sorted({n for _, n in holders}),
                           "contacts": [{"id": cid, "name": names[cid]} for cid in contact_ids]})
    groups: dict[int, dict[str, Any]] = {}
    for group_id, group_name, contact_id in memberships:
        group = groups.setdefault(group_id, {"id": group_id, "name": group_name, "members": 0,
                                             "valid_mobile": 0})
        if contact_id is not None:
            group["members"] += 1
            group["valid_mobile"] += contact_id in has_mobile
    for group in groups.values():
        group["share"] = round(group["valid_mobile"] / group["members"], 4) \
            if group["members"] else None
    return {"contacts": len(names), "invalid": invalid, "shared": shared,
            "groups": list(groups.values())}


__all__ = ["is_cn_mobile", "number_problem", "quality_report"]
