"""Reply templates: text with placeholders, checked when saved, filled per message.

Knows: the placeholders and what each stands for. Must not know: rules, storage, sending.

Placeholders: {name} (the contact's name, empty when the number has none), {text} (the text
received, at most QUOTE_MAX characters of it, control characters made spaces), {number} (the
sender's number, E.164 when it is one), {sender} (the sender as received), {date} and {time}
(when the message arrived, in dispatch.timezone: 2026-12-01, 09:30). `{{` and `}}` are literal
braces. Nothing else is a placeholder: an unknown name, a format spec (`{text:>9}`), a
conversion (`{text!r}`), an attribute or an index (`{name.upper}`, `{text[0]}`) or an
unbalanced brace is refused when the rule is saved, naming it, so a template never fails (or
reaches into an object) when a message comes in.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from appliance.inbox.rules.text import quotable

PLACEHOLDERS = ("name", "text", "number", "sender", "date", "time")
QUOTE_MAX = 300
"""Characters of the received text a template or a forward carries: an SMS may arrive
reassembled from many parts, and the message we send must fit intake's limit."""
MAX_TEMPLATE = 1000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class TemplateError(ValueError):
    """A template that cannot be used; the message says why."""


@dataclass(frozen=True)
class Template:
    source: str
    pieces: tuple[tuple[str, str | None], ...]  # (literal, placeholder or None)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for _, name in self.pieces if name is not None)

    def render(self, values: dict[str, str]) -> str:
        """The text to send; `values` has every placeholder (see `placeholder_values`)."""
        out = []
        for literal, name in self.pieces:
            out.append(literal)
            if name is not None:
                out.append(values.get(name, ""))
        return "".join(out)


def compile_template(source: object) -> Template:
    """A Template, or TemplateError naming what is wrong with `source`."""
    if not isinstance(source, str) or not source.strip():
        raise TemplateError("must be a non-empty string")
    if len(source) > MAX_TEMPLATE:
        raise TemplateError(f"too long: {len(source)} characters, at most {MAX_TEMPLATE}")
    bad = _CONTROL.search(source)
    if bad is not None:
        raise TemplateError(f"must not contain control characters: U+{ord(bad.group()):04X} "
                            f"at position {bad.start()}")
    try:
        source.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TemplateError(f"is not valid Unicode at position {exc.start}") from None
    try:
        parsed = list(string.Formatter().parse(source))
    except ValueError as exc:  # "Single '}' encountered", "unmatched '{'"...
        raise TemplateError(f"{exc} (write {{{{ and }}}} for literal braces)") from None
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            pieces.append((literal, None))
            continue
        shown = "{" + name + (f"!{conversion}" if conversion else "") + \
            (f":{spec}" if spec else "") + "}"
        if conversion or spec:
            raise TemplateError(f"{shown}: only plain placeholders, no formats or conversions")
        if name not in PLACEHOLDERS:
            raise TemplateError(f"unknown placeholder {shown} (known: "
                                f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)})")
        pieces.append((literal, name))
    return Template(source, tuple(pieces))


def placeholder_values(*, name: str, text: str, number: str, sender: str, date: str,
                       time: str) -> dict[str, str]:
    """The values of the placeholders for one message (received text made quotable)."""
    return {"name": quotable(name), "text": quotable(text[:QUOTE_MAX]),
            "number": quotable(number), "sender": quotable(sender), "date": date, "time": time}


__all__ = ["MAX_TEMPLATE", "PLACEHOLDERS", "QUOTE_MAX", "Template", "TemplateError",
           "compile_template", "placeholder_values"]
