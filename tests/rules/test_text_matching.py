"""Normalisation and keyword matching, as tables: width, case, trim, the five match kinds."""

import pytest

from appliance.inbox.rules.matching import MAX_PATTERN, PatternError, compile_matcher
from appliance.inbox.rules.text import normalize_text, quotable

NORMALIZE = [
    ("full-width latin", "ＴＤ", "td"),
    ("case", "Td", "td"),
    ("trailing space", "退订 ", "退订"),
    ("ideographic space", "\u3000退订\u3000", "退订"),
    ("full-width digits", "１２３", "123"),
    ("zero-width space around", "\u200bSTOP\u200b", "stop"),
    ("newline around", "\nstop\r\n", "stop"),
    ("inner space kept", "un subscribe", "un subscribe"),
    ("full-width punctuation", "价格？", "价格?"),
    ("german sharp s folds", "STRASSE", "strasse"),
    ("empty", "   ", ""),
    ("halfwidth katakana", "ｶﾀｶﾅ", "カタカナ"),
]


@pytest.mark.parametrize("case,raw,expected", NORMALIZE, ids=[c[0] for c in NORMALIZE])
def test_normalize(case, raw, expected):
    assert normalize_text(raw) == expected


# (case, kind, pattern, text as received, matches)
MATCH = [
    ("exact same", "exact", "TD", "TD", True),
    ("exact full-width text", "exact", "TD", "ＴＤ", True),
    ("exact full-width pattern", "exact", "ＴＤ", "td", True),
    ("exact trimmed", "exact", "退订", "退订 ", True),
    ("exact is whole text", "exact", "TD", "TD please", False),
    ("exact case", "exact", "stop", "StOp", True),
    ("prefix", "prefix", "价格", "价格表发我", True),
    ("prefix not inside", "prefix", "价格", "要价格", False),
    ("prefix after leading space", "prefix", "info", "  INFO 2", True),
    ("contains", "contains", "地址", "请问你们的地址在哪", True),
    ("contains full-width", "contains", "VIP", "我要ｖｉｐ服务", True),
    ("contains absent", "contains", "地址", "电话多少", False),
    ("regex digits", "regex", r"^订单\s*\d{6}$", "订单 123456", True),
    ("regex full-width digits fold", "regex", r"^\d+$", "１２３", True),
    ("regex ignorecase", "regex", r"^yes|^y$", "YES!", True),
    ("regex no match", "regex", r"^\d{6}$", "12345", False),
    ("regex searches", "regex", r"refund", "I want a REFUND now", True),
    ("any", "any", "", "whatever", True),
    ("any empty text", "any", "", "", True),
]


@pytest.mark.parametrize("case,kind,pattern,text,expected", MATCH, ids=[c[0] for c in MATCH])
def test_match(case, kind, pattern, text, expected):
    matcher = compile_matcher(kind, pattern)
    why = matcher.match(normalize_text(text))
    assert (why is not None) == expected
    if expected:
        assert why  # a reason the dry run can show


# (case, kind, pattern, words the error must contain)
BAD_PATTERNS = [
    ("unknown kind", "fuzzy", "x", "must be one of"),
    ("bad regex", "regex", "(unclosed", "not a valid regular expression"),
    ("bad regex class", "regex", "[z-a]", "not a valid regular expression"),
    ("empty keyword", "exact", "  ", "must not be empty"),
    ("empty prefix", "prefix", "\u3000", "must not be empty"),
    ("match-all regex", "regex", ".*", "use the kind \"any\""),
    ("too long", "contains", "x" * (MAX_PATTERN + 1), "too long"),
    ("not a string", "exact", 5, "must be a string"),
]


@pytest.mark.parametrize("case,kind,pattern,words", BAD_PATTERNS,
                         ids=[c[0] for c in BAD_PATTERNS])
def test_bad_pattern_refused(case, kind, pattern, words):
    with pytest.raises(PatternError) as err:
        compile_matcher(kind, pattern)
    assert words in str(err.value)


QUOTABLE = [
    ("plain kept", "您好 <script>", "您好 <script>"),
    ("control becomes space", "a\x00b\x1bc", "a b c"),
    ("newline kept", "a\nb", "a\nb"),
    ("lone surrogate replaced", "a\ud800b", "a\ufffdb"),
    ("rtl override kept", "\u202eabc", "\u202eabc"),
]


@pytest.mark.parametrize("case,raw,expected", QUOTABLE, ids=[c[0] for c in QUOTABLE])
def test_quotable(case, raw, expected):
    assert quotable(raw) == expected
