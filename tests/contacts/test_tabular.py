"""read_table and the CSV/XLSX writers, as tables of uploads a user really sends."""

from __future__ import annotations

import io

import openpyxl
import pytest

from appliance.contacts.tabular import (
    TableError,
    cell_text,
    read_table,
    safe_cell,
    write_csv,
    write_xlsx,
    xlsx_text,
)

CSV_ZH = "姓名,手机号,分组\r\n张三,13800138000,销售部\r\n李四, 13900139000 ,\r\n"


@pytest.mark.parametrize("data, encoding", [
    (CSV_ZH.encode("utf-8"), "utf-8"),
    (b"\xef\xbb\xbf" + CSV_ZH.encode("utf-8"), "utf-8-sig"),
    (CSV_ZH.encode("gbk"), "gb18030"),
    (CSV_ZH.encode("gb18030"), "gb18030"),
    (CSV_ZH.encode("utf-16"), "utf-16"),
])
def test_csv_encodings_read_alike(data, encoding):
    table = read_table(data, "contacts.csv")
    assert table.columns == ["姓名", "手机号", "分组"]
    assert table.rows == [["张三", "13800138000", "销售部"], ["李四", "13900139000", ""]]
    assert table.encoding == encoding
    assert table.kind == "csv"


@pytest.mark.parametrize("text, delimiter", [
    ("name;phone;note\nAnna;+4915112345678;a, b\nBo;+4915112345679;\n", ";"),
    ("name\tphone\tnote\nAnna\t+4915112345678\ta; b\nBo\t+4915112345679\t\n", "\t"),
    ('name,phone,note\nAnna,+4915112345678,"a; b"\nBo,+4915112345679,\n', ","),
])
def test_delimiter_is_sniffed(text, delimiter):
    table = read_table(text.encode(), "x.csv")
    assert table.delimiter == delimiter
    assert table.columns == ["name", "phone", "note"]
    assert table.rows[0][1] == "+4915112345678"
    assert table.rows[0][2] in ("a, b", "a; b")


def test_one_column_of_numbers_has_no_header():
    table = read_table(b"13800138000\n13900139000\n\n", "numbers.txt")
    assert table.columns == ["#1"]
    assert table.rows == [["13800138000"], ["13900139000"]]


def test_blank_header_cells_and_ragged_rows():
    table = read_table(b"name,,\nA,1,x,extra\nB\n", "r.csv")
    assert table.columns == ["name", "#2", "#3", "#4"]
    assert table.rows == [["A", "1", "x", "extra"], ["B", "", "", ""]]


def test_row_numbers_are_the_files_own():
    table = read_table(b"name,phone\n\nA,1\n,\nB,2\n", "r.csv")
    assert table.row_numbers == [3, 5]
    assert read_table(b"13800138000\n\n13900139000\n", "n.csv").row_numbers == [1, 3]


def _xlsx(rows) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.create_sheet("second").append(["ignored"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_floats_become_digits():
    data = _xlsx([["姓名", "手机", "金额", "生日"],
                  ["张三", 13800138000.0, 12.5, None],
                  ["李四", 13900139000, 3.0, None],
                  [None, None, None, None],
                  ["王五", "+8613700137000", None, None]])
    table = read_table(data, "book.xlsx")
    assert table.kind == "xlsx"
    assert table.row_numbers == [2, 3, 5]
    assert table.columns == ["姓名", "手机", "金额", "生日"]
    assert table.rows == [["张三", "13800138000", "12.5", ""],
                          ["李四", "13900139000", "3", ""],
                          ["王五", "+8613700137000", "", ""]]


def test_xlsx_is_known_by_content_not_name():
    assert read_table(_xlsx([["name"], ["x"]]), "upload.csv").kind == "xlsx"


@pytest.mark.parametrize("value, text", [
    (13800138000.0, "13800138000"), (1.3800138e10, "13800138000"), (8613800138000, "8613800138000"),
    (0.5, "0.5"), (True, "TRUE"), (None, ""), ("  x ", "x"),
])
def test_cell_text(value, text):
    assert cell_text(value) == text


@pytest.mark.parametrize("data, name, code", [
    (b"", "a.csv", "empty"),
    (b"  \r\n\r\n", "a.csv", "empty"),
    (b",,,\n,,\n", "a.csv", "empty"),
    (b"name,phone\n", "a.pdf", "unknown_type"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.xls", "old_xls"),
    (b"PK\x03\x04 this is no zip at all", "broken.xlsx", "unreadable"),
    (b"not a zip", "broken.xlsx", "unreadable"),
    (bytes(range(256)) * 4, "garbage.csv", "binary"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image.csv", "binary"),
])
def test_unreadable_uploads_say_why(data, name, code):
    with pytest.raises(TableError) as err:
        read_table(data, name)
    assert err.value.code == code
    assert isinstance(err.value, ValueError)
    assert str(err.value)


def test_limits():
    with pytest.raises(TableError) as err:
        read_table(b"a,b\n" * 50, "a.csv", max_bytes=100)
    assert err.value.code == "too_big"
    with pytest.raises(TableError) as err:
        read_table(b"n\n" + b"1\n" * 11, "a.csv", max_rows=10)
    assert err.value.code == "too_many_rows"
    assert len(read_table(b"n\n" + b"1\n" * 10, "a.csv", max_rows=10).rows) == 10
    with pytest.raises(TableError) as err:
        read_table(b",".join([b"c"] * 6) + b"\n", "a.csv", max_columns=5)
    assert err.value.code == "too_many_columns"


@pytest.mark.parametrize("value, safe", [
    ("=1+2", "'=1+2"), ("@SUM(A1)", "'@SUM(A1)"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("+8613800138000", "+8613800138000"), ("-12", "-12"), ("张三", "张三"), (None, ""),
])
def test_safe_cell(value, safe):
    assert safe_cell(value) == safe


def test_csv_written_reads_back():
    rows = [["张三", "+8613800138000", "=danger"]] + [[f"n{i}", str(i), ""] for i in range(1200)]
    data = write_csv(["姓名", "手机", "备注"], rows)
    assert data.startswith(b"\xef\xbb\xbf")
    table = read_table(data, "export.csv")
    assert table.columns == ["姓名", "手机", "备注"]
    assert table.rows[0] == ["张三", "+8613800138000", "'=danger"]
    assert len(table.rows) == 1201


def test_xlsx_written_reads_back_as_text():
    data = write_xlsx(["name", "number"], [["=HYPERLINK(\"x\")", "+8613800138000"],
                                           ["b", "0755123"]])
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.active["A2"].data_type == "s"
    table = read_table(data, "export.xlsx")
    assert table.rows == [['=HYPERLINK("x")', "+8613800138000"], ["b", "0755123"]]


def test_xlsx_takes_control_characters_an_import_or_an_sms_can_carry():
    # XML 1.0 cannot carry most C0 controls; openpyxl refuses them (IllegalCharacterError).
    # A name imported from a CSV or a text received by SMS may hold one: it is replaced.
    data = write_xlsx(["姓名", "备注"], [["张\x07三", "ok\x1b[0m"]])
    table = read_table(data, "out.xlsx")
    assert table.rows == [["张\ufffd三", "ok\ufffd[0m"]]
    assert xlsx_text("a\tb\nc") == "a\tb\nc"  # tab and newline are allowed
