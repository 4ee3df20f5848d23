"""Mail merge: one text per recipient, and the recipients lacking a value reported."""

import pytest

from appliance.compose.merge import merge, placeholders, render
from appliance.compose.recipients import Recipient


@pytest.mark.parametrize(("text", "values", "out", "missing"), [
    ("{name}您好，会议改到{day}。", {"name": "张三", "day": "周五"},
     "张三您好，会议改到周五。", []),
    ("Hi {name}", {"name": ""}, "Hi {name}", ["name"]),
    ("{company} {name} {company}", {"name": "A"}, "{company} A {company}", ["company"]),
    ("{{name}} is literal", {"name": "x"}, "{name} is literal", []),
    ("no placeholders", {}, "no placeholders", []),
    ("{ spaced }", {"spaced": "v"}, "{ spaced }", []),  # not a placeholder (space inside)
])
def test_render(text, values, out, missing):
    assert render(text, values) == (out, missing)


def test_placeholders_in_order():
    assert placeholders("{b}{a}{b} {{c}}") == ["b", "a"]


def test_merge_groups_by_text_and_reports_missing():
    people = [Recipient("+8613800138000", "张三", {"dept": "财务"}),
              Recipient("+8613900139000", "李四", {"dept": "财务"}),
              Recipient("+8613700137000", "", {"dept": "人事"}),
              Recipient("+8613600136000", "王五", {})]
    merged = merge("{name}：请到{dept}领表", people)
    assert set(merged.texts) == {"张三：请到财务领表", "李四：请到财务领表"}
    assert [(m.number, m.keys) for m in merged.missing] == [
        ("+8613700137000", ("name",)), ("+8613600136000", ("dept",))]
    plain = merge("通知：明天停电", people)
    assert list(plain.texts) == ["通知：明天停电"] and len(plain.texts["通知：明天停电"]) == 4
    same = merge("{dept}通知", people[:2])
    assert list(same.texts) == ["财务通知"] and not same.merged


def test_number_placeholder():
    merged = merge("your number {number}", [Recipient("+8613800138000")])
    assert list(merged.texts) == ["your number +8613800138000"]
