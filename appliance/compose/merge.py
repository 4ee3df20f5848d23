"""Mail merge: a text with placeholders ({name}, {number}, a contact's custom field such as
{company}) made into one text per recipient.

Knows: the placeholder syntax and where a value comes from: {name} the recipient's name (the
imported row's, else its contact's), {number} the number as sent (E.164), any other the
recipient's field of that name (an imported column, a contact's custom field). `{{` and `}}`
are literal braces.
Must not know: HTTP, storage, the policy (each merged text goes through intake like any other).

A recipient with no value (or an empty one) for a placeholder is reported, never sent a text
with a hole in it or a literal "{name}".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from appliance.compose.recipients import Recipient

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}\s]{1,40})\}")
BUILTIN = ("name", "number")


def placeholders(text: str) -> list[str]:
    """The placeholder names in `text`, in order of first use."""
    seen: dict[str, None] = {}
    for m in _PLACEHOLDER.finditer(text or ""):
        if m.group(1):
            seen.setdefault(m.group(1).strip(), None)
    return list(seen)


def values_of(recipient: Recipient) -> dict[str, str]:
    values = {k.strip(): str(v) for k, v in recipient.fields.items() if v is not None}
    values["name"] = recipient.name or values.get("name", "")
    values["number"] = recipient.number
    return {k: v.strip() for k, v in values.items()}


def render(text: str, values: Mapping[str, str]) -> tuple[str, list[str]]:
    """`text` with its placeholders filled from `values`, and the names that had no value."""
    missing: list[str] = []

    def fill(m: re.Match) -> str:
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        key = m.group(1).strip()
        value = values.get(key, "")
        if not value:
            if key not in missing:
                missing.append(key)
            return m.group(0)
        return value

    return _PLACEHOLDER.sub(fill, text), missing


@dataclass(frozen=True)
class Missing:
    number: str
    name: str
    keys: tuple[str, ...]


@dataclass
class Merged:
    """The recipients grouped by the text each gets (one intake request per distinct text)."""

    texts: dict[str, list[Recipient]] = field(default_factory=dict)
    missing: list[Missing] = field(default_factory=list)

    @property
    def merged(self) -> bool:
        return len(self.texts) > 1


def merge(text: str, recipients: Iterable[Recipient]) -> Merged:
    """Each recipient's text; a recipient lacking a value is in `missing` and in no text."""
    out = Merged()
    if not placeholders(text) and "{{" not in text and "}}" not in text:
        out.texts[text] = list(recipients)
        return out
    for r in recipients:
        body, missing = render(text, values_of(r))
        if missing:
            out.missing.append(Missing(r.number, r.name, tuple(missing)))
        else:
            out.texts.setdefault(body, []).append(r)
    return out


__all__ = ["BUILTIN", "Merged", "Missing", "merge", "placeholders", "render", "values_of"]
