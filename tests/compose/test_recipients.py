"""Recipients of a console send: pasted lists, consecutive ranges, imported tables, and the
report of the rows left out."""

import pytest

from appliance.compose.recipients import (
    BLACKLISTED,
    DUPLICATE,
    INVALID,
    MAX_RANGE,
    UNCONSENTED,
    Candidate,
    RangeError,
    candidates_from_table,
    check_candidates,
    guess_columns,
    number_range,
    split_typed,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("13800138000,13900139000", ["13800138000", "13900139000"]),
    ("13800138000，13900139000、13700137000", ["13800138000", "13900139000", "13700137000"]),
    ("13800138000；13900139000;13700137000", ["13800138000", "13900139000", "13700137000"]),
    ("13800138000\n13900139000\r\n\t13700137000  ", ["13800138000", "13900139000",
                                                      "13700137000"]),
    ("13800138000 13900139000", ["13800138000", "13900139000"]),
    # A number written in groups stays one number.
    ("138 0013 8000, 139 0013 9000", ["138 0013 8000", "139 0013 9000"]),
    ("+86 138 0013 8000\n+8613900139000", ["+86 138 0013 8000", "+8613900139000"]),
    ("138-0013-8000、(139)00139000", ["138-0013-8000", "(139)00139000"]),
    ("", []),
    (" ,，、;\n ", []),
    ("10086", ["10086"]),
    ("abc, 13800138000", ["abc", "13800138000"]),
    # A stray short entry never swallows the whole number after it (nor across a separator).
    ("abc 123; 13800138010", ["abc", "123", "13800138010"]),
    ("123 13800138010", ["123", "13800138010"]),
    ("0571 88888888", ["0571 88888888"]),
    ("138 0013\n8000", ["138 0013", "8000"]),
])
def test_split_typed(text, expected):
    assert split_typed(text) == expected


@pytest.mark.parametrize(("start", "count", "expected"), [
    ("13800138000", 3, ["13800138000", "13800138001", "13800138002"]),
    ("+8613800138098", 3, ["+8613800138098", "+8613800138099", "+8613800138100"]),
    ("138 0013 8000", 1, ["13800138000"]),
    ("01012345678", 2, ["01012345678", "01012345679"]),
])
def test_number_range(start, count, expected):
    assert number_range(start, count) == expected


@pytest.mark.parametrize(("start", "count", "field"), [
    ("abc", 3, "range_start"),
    ("", 3, "range_start"),
    ("13800138000", 0, "range_count"),
    ("13800138000", MAX_RANGE + 1, "range_count"),
    ("99999999998", 5, "range_count"),  # runs past the last 11-digit number
])
def test_number_range_refused(start, count, field):
    with pytest.raises(RangeError) as info:
        number_range(start, count)
    assert info.value.field == field


@pytest.mark.parametrize(("header", "number", "name"), [
    (["姓名", "手机号码", "部门"], 1, 0),
    (["Name", "Phone", "Company"], 1, 0),
    (["mobile phone", "full name"], 0, 1),
    (["a", "b"], None, None),
])
def test_guess_columns(header, number, name):
    assert guess_columns(header) == (number, name)


def test_table_rows_become_candidates_with_fields():
    cands = candidates_from_table(["姓名", "手机", "公司"], [["张三", "13800138000", "甲公司"],
                                                            ["李四", " 13900139000 "]], 1, 0)
    assert cands[0] == Candidate("13800138000", "import", "张三", {"公司": "甲公司"}, 1)
    assert cands[1].raw == "13900139000" and cands[1].row == 2 and cands[1].fields == {}
    # The file's own row numbers when the reader gives them (header = row 1, blanks skipped).
    numbered = candidates_from_table(["手机"], [["13800138000"], ["13900139000"]], 0,
                                     row_numbers=[2, 5])
    assert [c.row for c in numbered] == [2, 5]


def test_check_reports_invalid_duplicate_blacklisted_unconsented():
    rows = [["a", "13800138000"], ["b", "not a number"], ["c", "+86 138 0013 8000"],
            ["d", "13900139000"], ["e", "13700137000"], ["f", "01012345678"], ["g", ""],
            ["h", "13600136000"]]
    cands = candidates_from_table(["name", "number"], rows, 1, 0)
    blocked = {"+8613900139000": "replied TD"}
    consent = {"+8613700137000": {"state": "withdrawn"},
               "+8613800138000": {"state": "granted"}}
    checked = check_candidates(cands, blocked=blocked.get, consent=consent)
    assert [r.number for r in checked.recipients] == ["+8613800138000", "+8613600136000"]
    assert [(p.row, p.kind) for p in checked.problems] == [
        (2, INVALID), (3, DUPLICATE), (4, BLACKLISTED), (5, UNCONSENTED), (6, INVALID),
        (7, INVALID)]
    assert checked.problems[1].text == "the same number as row 1"
    assert checked.problems[2].text == "on the blacklist: replied TD"
    assert "fixed line" in checked.problems[4].text
    # Consent only matters when it is asked for (a marketing send); required: granted only.
    strict = check_candidates(cands, blocked=blocked.get, consent=consent,
                              consent_required=True)
    assert [r.number for r in strict.recipients] == ["+8613800138000"]
    assert strict.count(UNCONSENTED) == 2
    relaxed = check_candidates(cands)
    assert relaxed.count(BLACKLISTED) == 0 and relaxed.count(UNCONSENTED) == 0
