"""Tables and short fields for an 80-column terminal.

Knows: display width (wcwidth: a Chinese character takes two columns), fitting columns into
80 by shrinking the widest, cutting a field with '~', signal bars in ASCII (a VT100 has no
block characters), and making hostile text (an SMS) safe to print: control characters and
escape sequences spelled out, never sent to the terminal.
Must not know: what the rows mean.
"""

from __future__ import annotations

from collections.abc import Sequence

from wcwidth import wcwidth

WIDTH = 80
GAP = "  "


def safe(text: object) -> str:
    """`text` on one line, printable: an SMS carrying ESC [2J must not clear the screen."""
    out = []
    for char in str(text if text is not None else ""):
        code = ord(char)
        if char in "\r\n\t":
            out.append(" ")
        elif code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"<{code:02X}>")
        elif wcwidth(char) < 0:
            out.append("?")
        else:
            out.append(char)
    return "".join(out)


def width(text: str) -> int:
    return sum(max(wcwidth(c), 0) for c in text)


def cut(text: str, columns: int) -> str:
    """`text` fitted into `columns` display columns, a '~' marking a cut."""
    if width(text) <= columns:
        return text
    out, used = [], 0
    for char in text:
        w = max(wcwidth(char), 0)
        if used + w > columns - 1:
            break
        out.append(char)
        used += w
    return "".join(out) + "~"


def pad(text: str, columns: int) -> str:
    return text + " " * max(columns - width(text), 0)


def wrap(text: str, columns: int = WIDTH, indent: str = "") -> list[str]:
    """`text` in lines of at most `columns` display columns, broken at spaces (or anywhere in
    Chinese text, which has none), later lines indented by `indent`."""
    lines: list[str] = []
    line, used = "", 0
    room = columns
    for word in text.replace("\n", " ").split(" "):
        piece = (" " if line else "") + word
        if used + width(piece) <= room:
            line, used = line + piece, used + width(piece)
            continue
        if line:
            lines.append(line)
            room = columns - width(indent)
            line, used = "", 0
        for char in word:  # a word (or a Chinese sentence) longer than the line
            w = max(wcwidth(char), 0)
            if used + w > room:
                lines.append(line)
                room = columns - width(indent)
                line, used = "", 0
            line, used = line + char, used + w
    if line:
        lines.append(line)
    return [lines[0]] + [indent + rest for rest in lines[1:]] if lines else [""]


def bars(count: int | None, top: int = 5) -> str:
    """Signal bars as ASCII: 3 of 5 -> '###..'."""
    n = max(0, min(top, count or 0))
    return "#" * n + "." * (top - n)


def render(headers: Sequence[str], rows: Sequence[Sequence[object]],
           total: int = WIDTH) -> list[str]:
    """Lines of a table that fits `total` columns (the widest columns shrink first)."""
    cells = [[safe(c) for c in row] for row in rows]
    heads = [safe(h) for h in headers]
    widths = [max([width(h)] + [width(r[i]) for r in cells]) for i, h in enumerate(heads)]
    room = total - len(GAP) * (len(widths) - 1)
    while sum(widths) > room:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= 4:
            break
        widths[widest] -= 1
    lines = [GAP.join(pad(cut(h, w), w) for h, w in zip(heads, widths, strict=True)).rstrip(),
             GAP.join("-" * w for w in widths)]
    for row in cells:
        lines.append(GAP.join(pad(cut(c, w), w)
                              for c, w in zip(row, widths, strict=True)).rstrip())
    return lines


def duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"


__all__ = ["WIDTH", "bars", "cut", "duration", "pad", "render", "safe", "width", "wrap"]
