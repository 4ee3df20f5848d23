"""Spreadsheets in and out: an uploaded CSV or XLSX file as a table of strings, and a table
as CSV or XLSX bytes for a download.

Knows: how office staff's files arrive — CSV in UTF-8, UTF-8 with a BOM, GBK/GB18030 (what
Chinese Excel saves as "CSV (逗号分隔)"), or UTF-16 (Excel's "Unicode text"), separated by
commas, semicolons (European Excel) or tabs; XLSX whose numbers Excel may have stored as
floats (13800138000.0, 1.3800138E10), which would lose a phone number if shown as a float.
Must not know: what the columns mean (contacts, recipients: the callers map them), tables,
HTTP.

Every cell comes out as a stripped string. The first non-empty row is the header unless it
looks like data (every cell a phone-number-like string): then the columns are named "#1",
"#2"... A blank header cell is named by its position the same way. Rows wholly empty are
skipped; every row is padded to the width of the table.

Errors are `TableError` (a ValueError) with a `code` a console can translate: empty,
too_big, too_many_rows, too_many_columns, unknown_type, old_xls, binary, unreadable.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

MAX_BYTES = 20 * 1024 * 1024  # an XLSX of 100,000 contacts is ~4 MB, its CSV ~6 MB
MAX_ROWS = 100_000
MAX_COLUMNS = 200

CSV_EXTENSIONS = frozenset({".csv", ".txt", ".tsv"})
XLSX_EXTENSIONS = frozenset({".xlsx", ".xlsm"})
DELIMITERS = (",", ";", "\t")

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls (Excel 97-2003) and other OLE files
# A header cell that is really data: a phone number as people type it.
_NUMBER_LIKE = re.compile(r"\+?[0-9][0-9 ()-]{4,}")


class TableError(ValueError):
    """An upload that cannot be read as a table; `code` says why (for a translated message),
    the text says it in English with the detail."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    # How the file was read ("xlsx", or "csv" with its encoding and delimiter), for a preview.
    kind: str = "csv"
    encoding: str = ""
    delimiter: str = ""
    # The spreadsheet row (1-based, as Excel numbers it) of each of `rows`: blank rows are
    # skipped, so a report can still say "row 57" of the user's own file.
    row_numbers: list[int] = field(default_factory=list)


# -- reading ---------------------------------------------------------------------------------


def read_table(data: bytes, filename: str, *, max_bytes: int = MAX_BYTES,
               max_rows: int = MAX_ROWS, max_columns: int = MAX_COLUMNS) -> Table:
    """The first sheet of an XLSX file or the whole of a CSV file as a Table (TableError when
    it cannot be). The content decides the kind when it is plain (a zip is an XLSX whatever
    its name); the file name decides only between "a table" and "not one we read"."""
    if not data or not data.strip():
        raise TableError("empty", "the file is empty")
    if len(data) > max_bytes:
        raise TableError("too_big", f"the file is {len(data):,} bytes; the limit is "
                                    f"{max_bytes:,}")
    ext = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if data.startswith(_OLE_MAGIC) or ext == ".xls":
        raise TableError("old_xls", "an Excel 97-2003 (.xls) file cannot be read: save it "
                                    "as .xlsx or CSV")
    if data.startswith(_ZIP_MAGIC):
        if ext and ext not in XLSX_EXTENSIONS and ext not in CSV_EXTENSIONS:
            raise TableError("unknown_type", f'"{filename}" is not a CSV or XLSX file')
        rows, kind, encoding, delimiter = _xlsx_rows(data, max_rows, max_columns), "xlsx", "", ""
    elif ext in XLSX_EXTENSIONS:
        raise TableError("unreadable", f'"{filename}" is not a valid XLSX file')
    elif ext and ext not in CSV_EXTENSIONS:
        raise TableError("unknown_type", f'"{filename}" is not a CSV or XLSX file (a {ext} '
                                         "file)")
    else:
        text, encoding = _decode(data)
        delimiter = _sniff_delimiter(text)
        rows, kind = _csv_rows(text, delimiter, max_rows, max_columns), "csv"
    table = _as_table(rows, max_columns)
    table.kind, table.encoding, table.delimiter = kind, encoding, delimiter
    return table


def _decode(data: bytes) -> tuple[str, str]:
    """The text and its encoding. UTF-8 first (strict: GBK bytes are almost never valid UTF-8),
    then GB18030, the superset of GBK that Chinese Windows writes."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text, encoding = data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise TableError("unreadable", "the file starts as UTF-16 but is not") from None
    else:
        try:
            text = data.decode("utf-8-sig")
            encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
        except UnicodeDecodeError:
            try:
                text, encoding = data.decode("gb18030"), "gb18030"
            except UnicodeDecodeError:
                raise TableError("binary", "the file is not text in UTF-8 or GBK, nor an "
                                           "XLSX file") from None
    # A NUL or a run of control characters: a binary file given a .csv name.
    controls = sum(1 for ch in text[:4096] if ch < " " and ch not in "\t\r\n")
    if "\x00" in text or controls > 8:
        raise TableError("binary", "the file is not a text table (it holds binary data)")
    return text, encoding


def _sniff_delimiter(text: str) -> str:
    """Of comma, semicolon and tab, the one that splits the first lines into the same number
    (more than one) of fields most often; a comma when none does (a one-column file).
    csv.Sniffer guesses from character frequencies and picks letters or digits on short
    files; parsing with each candidate respects quotes."""
    sample = "\n".join(text.splitlines()[:30])
    best, best_score = ",", (0, 0)
    for delim in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO(sample), delimiter=delim) if r]
        except csv.Error:
            continue
        if not counts:
            continue
        common = max(set(counts), key=counts.count)
        if common < 2:
            continue
        score = (counts.count(common), common)
        if score > best_score:
            best, best_score = delim, score
    return best


def _csv_rows(text: str, delimiter: str, max_rows: int,
              max_columns: int) -> list[tuple[int, list[str]]]:
    rows: list[tuple[int, list[str]]] = []
    try:
        for n, row in enumerate(csv.reader(io.StringIO(text, newline=""),
                                           delimiter=delimiter), 1):
            cells = [c.strip() for c in row]
            if not any(cells):
                continue
            _check_row(rows, cells, max_rows, max_columns)
            rows.append((n, cells))
    except csv.Error as exc:
        raise TableError("unreadable", f"the CSV file cannot be read: {exc}") from None
    return rows


def _check_row(rows: list[Any], cells: list[str], max_rows: int,
               max_columns: int) -> None:
    if len(rows) > max_rows:  # the header plus max_rows data rows
        raise TableError("too_many_rows", f"the file has more than {max_rows:,} rows")
    while cells and not cells[-1]:
        cells.pop()
    if len(cells) > max_columns:
        raise TableError("too_many_columns", f"the file has more than {max_columns} columns")


def _xlsx_rows(data: bytes, max_rows: int, max_columns: int) -> list[tuple[int, list[str]]]:
    import openpyxl  # only an XLSX upload pays for the import

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zip, XML and openpyxl's own errors alike
        raise TableError("unreadable", f"the XLSX file cannot be read: {exc}") from None
    try:
        if not book.worksheets:
            raise TableError("unreadable", "the XLSX file has no sheet")
        sheet = book.worksheets[0]
        rows: list[tuple[int, list[str]]] = []
        try:
            for n, values in enumerate(sheet.iter_rows(values_only=True), 1):
                cells = [cell_text(v) for v in values[:max_columns + 1]]
                if not any(cells):
                    continue
                _check_row(rows, cells, max_rows, max_columns)
                rows.append((n, cells))
        except TableError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged sheet part
            raise TableError("unreadable", f"the first sheet cannot be read: {exc}") from None
        return rows
    finally:
        book.close()


def cell_text(value: Any) -> str:
    """A spreadsheet value as text: a whole float as its digits (13800138000.0 and 1.38E10
    are phone numbers, not measurements), dates in ISO form, booleans as Excel shows them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e17:
            return str(int(value))
        return repr(value)
    if isinstance(value, _dt.datetime):
        if value.time() == _dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    return str(value).strip()


def _looks_like_data(row: list[str]) -> bool:
    cells = [c for c in row if c]
    return bool(cells) and all(_NUMBER_LIKE.fullmatch(c) for c in cells)


def _as_table(numbered: list[tuple[int, list[str]]], max_columns: int) -> Table:
    if not numbered:
        raise TableError("empty", "the file has no rows")
    rows = [cells for _, cells in numbered]
    width = max(len(r) for r in rows)
    if _looks_like_data(rows[0]):
        columns = [f"#{i + 1}" for i in range(width)]
        body, first = rows, 0
    else:
        header, body, first = rows[0], rows[1:], 1
        header[0] = header[0].lstrip("\ufeff")  # a BOM inside a re-saved file
        columns = [header[i] if i < len(header) and header[i] else f"#{i + 1}"
                   for i in range(width)]
    for row in body:
        row.extend([""] * (width - len(row)))
    return Table(columns=columns, rows=body, row_numbers=[n for n, _ in numbered[first:]])


# -- writing ---------------------------------------------------------------------------------


def safe_cell(value: Any) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP, CSV injection): text starting
    with = @ tab or CR, or with + or - when it is not a plain number, gets a leading "'".
    "+8613800138000" stays as it is: a phone number is the point of the file."""
    text = "" if value is None else str(value)
    first = text[:1]
    if first in ("=", "@", "\t", "\r"):
        return "'" + text
    if first in ("+", "-") and not re.fullmatch(r"[+-][0-9 ().-]*", text):
        return "'" + text
    return text


def iter_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
             bom: bool = True) -> Iterator[bytes]:
    """A CSV download a chunk at a time: UTF-8 with a BOM (so Excel in China shows the
    Chinese right instead of guessing GBK), CRLF lines, every cell made safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(c) for c in columns])
    yield (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")
    out.seek(0)
    out.truncate()
    for n, row in enumerate(rows, 1):
        writer.writerow([safe_cell(c) for c in row])
        if n % 500 == 0:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    if out.getvalue():
        yield out.getvalue().encode("utf-8")


def write_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
              bom: bool = True) -> bytes:
    return b"".join(iter_csv(columns, rows, bom=bom))


# openpyxl's own ILLEGAL_CHARACTERS_RE (openpyxl.cell.cell), without importing openpyxl (5 MB
# of the appliance's memory) until somebody exports: the C0 controls XML 1.0 cannot carry.
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


def xlsx_text(value: Any) -> Any:
    """A cell value openpyxl will write: a text's controls that XML cannot carry (an imported
    name or an SMS may hold one) become U+FFFD; other values pass."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value) if isinstance(value, str) else value


def write_xlsx(columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
               sheet_title: str = "Sheet1") -> bytes:
    """An XLSX file with one sheet: the header in bold, every cell as text (so a number keeps
    its "+" and leading zeros and is never run as a formula)."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title=sheet_title[:31] or "Sheet1")
    bold = Font(bold=True)

    def text_cell(value: Any, font: Font | None = None) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=xlsx_text("" if value is None else str(value)))
        cell.data_type = "s"  # openpyxl would make a text starting with "=" a formula
        if font is not None:
            cell.font = font
        return cell

    sheet.append([text_cell(c, bold) for c in columns])
    for row in rows:
        sheet.append([text_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


__all__ = [
    "MAX_BYTES", "MAX_COLUMNS", "MAX_ROWS", "Table", "TableError", "cell_text", "iter_csv",
    "read_table", "safe_cell", "write_csv", "write_xlsx", "xlsx_text",
]
