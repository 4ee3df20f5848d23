"""Why a message did not go, in the reader's language.

Knows: the reasons the dispatcher and the store write into a message's `error` in English for
the API and the log ("campaign cancelled by zhang", "rejected by li: <reason>", "blacklisted",
"gave up after 3 attempts: <modem error>"), and the modem's own errors as the dispatcher words
them ("the network is congested (+CMS ERROR: 42)", dispatch.cms_errors); the console shows them
translated, with the names, the approver's own words and the raw error code kept as they are.
A reason it does not know is shown as written (never hidden).
Must not know: how or where the reasons are made.
"""

from __future__ import annotations

import re

from appliance.console_web.i18n import translate

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"campaign cancelled by (?P<who>.+)", re.S), "Campaign cancelled by {who}"),
    (re.compile(r"rejected by (?P<who>[^:]+): (?P<reason>.*)", re.S),
     "Rejected by {who}: {reason}"),
    (re.compile(r"blacklisted: (?P<reason>.*)", re.S), "Number blacklisted: {reason}"),
    (re.compile(r"gave up after (?P<n>\d+) attempts: (?P<reason>.*)", re.S),
     "Gave up after {n} attempts: {reason}"),
    (re.compile(r"cannot be encoded: (?P<reason>.*)", re.S), "Cannot be encoded: {reason}"),
    (re.compile(r"no answer to \+CMGS: (?P<reason>.*)", re.S), "No answer to +CMGS: {reason}"),
    (re.compile(r"no answer to \+CMGS within (?P<seconds>[\d.]+)s"),
     "No answer to +CMGS within {seconds} s"),
    (re.compile(r"unknown error (?P<n>\d+)"), "unknown error {n}"),
)
# A modem error as cms_errors.describe_error words it: the reason (translated through the
# catalog, web/i18n/modem_errors.json), then the code a technician looks up (kept as it is).
_CODED = re.compile(r"(?P<reason>.+) (?P<code>\(\+CM[SE] ERROR: \d+\))", re.S)
_WHOLE = {
    "cancelled": "Cancelled",
    "blacklisted": "Number blacklisted",
    "cancelled before sending": "Cancelled before sending",
    "expired before it could be sent": "Expired before it could be sent",
}


def message_error(lang: str, reason: str | None) -> str:
    if not reason:
        return ""
    whole = _WHOLE.get(reason)
    if whole is not None:
        return translate(lang, whole)
    for pattern, english in _PATTERNS:
        match = pattern.fullmatch(reason)
        if match:
            fields = match.groupdict()
            if "reason" in fields:  # the inner reason may be one we know too
                fields["reason"] = message_error(lang, fields["reason"])
            return translate(lang, english, **fields)
    coded = _CODED.fullmatch(reason)
    if coded:
        return f"{message_error(lang, coded['reason'])} {coded['code']}"
    return translate(lang, reason)


_TOO_LONG_CHARS = re.compile(r"too long: (?P<n>\d+) characters; at most (?P<max>\d+) parts.*", re.S)
_TOO_LONG_PARTS = re.compile(r"too long: (?P<n>\d+) parts \([^)]*\); at most (?P<max>\d+)")


def send_refusal(lang: str, exc: Exception) -> str:
    """Why intake refused a send (InvalidRequest, PolicyRefused), in `lang`: a rule's refusal
    by its code as the compose page words it; a text too long with its figures."""
    from appliance.console_web.compose import REFUSALS

    code = getattr(exc, "code", None)
    details = getattr(exc, "details", None) or {}
    message = getattr(exc, "message", str(exc))
    if code in REFUSALS:
        try:
            return translate(lang, REFUSALS[code], **details)
        except (KeyError, IndexError):  # a detail the wording needs is missing
            pass
    if code is not None:
        return translate(lang, "Refused by a rule: {reason}", reason=message)
    return intake_message(lang, message)


def intake_message(lang: str, message: str) -> str:
    """One of intake's English refusals (InvalidRequest.message) in `lang`: those with figures
    in them by their pattern, the others through the catalog (as `_()` would)."""
    match = _TOO_LONG_CHARS.fullmatch(message or "")
    if match:
        return translate(lang, "Too long: {n} characters; a message is at most {max} parts.",
                         **match.groupdict())
    match = _TOO_LONG_PARTS.fullmatch(message or "")
    if match:
        return translate(lang, "Too long: {n} parts; a message is at most {max} parts.",
                         **match.groupdict())
    return translate(lang, message or "")


_SCHEDULE_SENT = re.compile(r"sent: (?P<n>\d+) message\(s\)(?: campaign (?P<campaign>\d+))?; "
                            r"(?P<left>\d+) left out")


def schedule_result(lang: str, result: str | None) -> str:
    """What a recurring send's last run did (compose.runner words it in English for the log),
    in `lang`."""
    if not result:
        return ""
    match = _SCHEDULE_SENT.fullmatch(result)
    if match:
        return translate(lang, "Sent {n}; {left} left out", n=match["n"], left=match["left"])
    if result.startswith("refused: "):
        return translate(lang, "Refused: {reason}",
                         reason=intake_message(lang, result[len("refused: "):]))
    if result.startswith("error: "):
        return translate(lang, "Failed: {reason}", reason=result[len("error: "):])
    return result
