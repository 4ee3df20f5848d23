"""The unsubscribe hint from tables: recognised variants, appended when absent (and where),
only for marketing."""

from __future__ import annotations

import pytest

from appliance.config import PolicyConfig
from appliance.dispatch.intake import SendRequest
from appliance.policy.unsubscribe import UnsubscribeHintCheck, has_hint, with_hint


@pytest.mark.parametrize("text", [
    "双十一大促，回T退订", "双十一大促 回TD退订", "双十一大促 退订回T", "双十一大促,退订回TD",
    "双十一大促，拒收请回复R", "双十一大促，回复T退订", "双十一大促，回复 TD 退订",
    "双十一大促。回N退订", "双十一大促，回复0000即可退订", "双十一大促，退订请回复TD",
    "双十一大促，回ｔ退订", "双十一大促，回复STOP退订", "Big sale! Reply STOP to opt out",
    "双十一大促【某店】回T退订",
])
def test_hints_already_present_are_recognised(text: str) -> None:
    assert has_hint(text)
    assert with_hint(text) == text


@pytest.mark.parametrize("text", [
    "双十一大促", "欢迎订阅本店消息", "回复T查询余额", "退订的用户请忽略", "Big sale today",
])
def test_texts_without_a_hint(text: str) -> None:
    assert not has_hint(text)


@pytest.mark.parametrize(("text", "hint", "want"), [
    ("双十一大促", "回T退订", "双十一大促 回T退订"),
    ("双十一大促，", "回T退订", "双十一大促，回T退订"),  # after punctuation: no space
    ("双十一大促。", "回T退订", "双十一大促。回T退订"),
    ("Big sale", "回T退订", "Big sale 回T退订"),
    ("双十一大促【某店】", "回T退订", "双十一大促 回T退订【某店】"),  # before an end signature
    ("双十一大促", "拒收请回复R", "双十一大促 拒收请回复R"),  # the configured hint
    ("双十一大促，拒收请回复R", "回T退订", "双十一大促，拒收请回复R"),  # another known form
])
def test_the_hint_is_appended_when_missing(text: str, hint: str, want: str) -> None:
    assert with_hint(text, hint) == want


@pytest.mark.parametrize(("category", "want"), [
    ("marketing", "新品上市 回T退订"), ("notice", "新品上市"), ("alert", "新品上市"),
])
def test_only_marketing_gets_the_hint(category: str, want: str) -> None:
    check = UnsubscribeHintCheck(PolicyConfig())
    request = SendRequest(to=["+8613800138000"], text="新品上市", category=category)
    assert check.prepare(request).text == want
