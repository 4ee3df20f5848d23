"""Signatures from tables: present, missing, forged, look-alike brackets, end placement, the
length bounds; whose signature a request carries (department, box, none)."""

from __future__ import annotations

import pytest

from appliance.config import ConfigError, PolicyConfig, config_from_dict
from appliance.dispatch.intake import PolicyRefused, SendRequest
from appliance.policy.origin import Origin
from appliance.policy.signature import SignatureCheck, SignatureRule, sign, split_tail_mark

OURS = SignatureRule("市政务中心")
END = SignatureRule("市政务中心", "end")


@pytest.mark.parametrize(("rule", "text", "want", "what"), [
    # present in its place: left alone
    (OURS, "【市政务中心】明天停水", "【市政务中心】明天停水", "present"),
    (END, "明天停水【市政务中心】", "明天停水【市政务中心】", "present"),
    (OURS, "【市政务中心】明天停水【市政务中心】", "【市政务中心】明天停水【市政务中心】",
     "present"),
    # missing: added in its place
    (OURS, "明天停水", "【市政务中心】明天停水", "added"),
    (END, "明天停水", "明天停水【市政务中心】", "added"),
    (OURS, "[ALERT] disk full", "【市政务中心】[ALERT] disk full", "added"),  # not a signature
    (OURS, "see [1] above", "【市政务中心】see [1] above", "added"),
    (OURS, "明天【停水】通知", "【市政务中心】明天【停水】通知", "added"),  # in the middle: content
    # ours, but misplaced or badly written: corrected
    (OURS, "明天停水【市政务中心】", "【市政务中心】明天停水", "corrected"),
    (END, "【市政务中心】明天停水", "明天停水【市政务中心】", "corrected"),
    (OURS, "  【市政务中心】明天停水", "【市政务中心】明天停水", "corrected"),
    (OURS, "[市政务中心]明天停水", "【市政务中心】明天停水", "corrected"),
    (OURS, "【 市政务中心 】明天停水", "【市政务中心】明天停水", "corrected"),
    (OURS, "［市政务中心］明天停水", "【市政务中心】明天停水", "corrected"),
    # forged: another signature, or look-alike brackets around another name
    (OURS, "【某某银行】您的验证码", "【市政务中心】您的验证码", "replaced"),
    (OURS, "〖某某银行〗您的验证码", "【市政务中心】您的验证码", "replaced"),
    (OURS, "[某某银行] 您的验证码", "【市政务中心】您的验证码", "replaced"),
    (OURS, "〔某某银行〕您的验证码", "【市政务中心】您的验证码", "replaced"),
    (OURS, "您的验证码【某某银行】", "【市政务中心】您的验证码", "replaced"),
    (OURS, "【市政务中心】您的验证码【某某银行】", "【市政务中心】您的验证码", "replaced"),
    (END, "【某某银行】您的验证码", "您的验证码【市政务中心】", "replaced"),
    # stacked behind ours, or behind an invisible character: forged all the same
    (OURS, "【市政务中心】【某某银行】您的验证码", "【市政务中心】您的验证码", "replaced"),
    (END, "您的验证码【某某银行】【市政务中心】", "您的验证码【市政务中心】", "replaced"),
    (OURS, "\u200b【某某银行】您的验证码", "【市政务中心】\u200b您的验证码", "replaced"),
])
def test_sign(rule: SignatureRule, text: str, want: str, what: str) -> None:
    assert sign(text, rule) == (want, what)


@pytest.mark.parametrize(("rule", "text", "code"), [
    (SignatureRule("市政务中心", on_missing="refuse"), "明天停水", "signature_missing"),
    (SignatureRule("市政务中心", "end", on_missing="refuse"), "明天停水", "signature_missing"),
    (SignatureRule("市政务中心", on_forged="refuse"), "【某某银行】验证码", "signature_forged"),
    (SignatureRule("市政务中心", on_forged="refuse"), "〖某某银行〗验证码", "signature_forged"),
    (SignatureRule("市政务中心", on_forged="refuse"), "验证码[某某银行]", "signature_forged"),
])
def test_refusals_name_the_rule_and_the_signatures(rule: SignatureRule, text: str,
                                                   code: str) -> None:
    with pytest.raises(PolicyRefused) as caught:
        sign(text, rule)
    assert (caught.value.code, caught.value.field) == (code, "text")
    assert caught.value.details["expected"] == "【市政务中心】"
    assert "【市政务中心】" in caught.value.message
    if code == "signature_forged":
        assert caught.value.details["found"] in text


@pytest.mark.parametrize(("rule", "text", "what"), [
    # refuse-on-missing still lets a present or correctable one through
    (SignatureRule("市政务中心", on_missing="refuse"), "【市政务中心】停水", "present"),
    (SignatureRule("市政务中心", on_missing="refuse"), "停水【市政务中心】", "corrected"),
    (SignatureRule("市政务中心", on_forged="refuse"), "停水", "added"),
])
def test_refusing_one_case_does_not_refuse_the_others(rule: SignatureRule, text: str,
                                                      what: str) -> None:
    assert sign(text, rule)[1] == what


@pytest.mark.parametrize(("signature", "ok"), [
    ("", True), ("政务", True), ("市政务服务中心", True), ("一二三四五六七八", True),
    ("【市政务中心】", True), ("政", False), ("一二三四五六七八九", False),
    ("市 政务", False), ("[政务]x", False),
])
def test_signature_length_bounds_in_the_config(signature: str, ok: bool) -> None:
    data = {"policy": {"signature": signature}}
    if ok:
        assert config_from_dict(data).policy.signature == signature.strip("【】")
    else:
        with pytest.raises(ConfigError, match="policy.signature"):
            config_from_dict(data)


@pytest.mark.parametrize("key", ["signature_placement", "on_missing", "on_forged"])
def test_a_setting_out_of_its_choices_is_named(key: str) -> None:
    with pytest.raises(ConfigError, match=f"policy.{key}"):
        config_from_dict({"policy": {key: "sometimes"}})


def request(text: str, department: int | None = None, door: str = "api") -> SendRequest:
    return SendRequest(to=["+8613800138000"], text=text,
                       origin=Origin(door=door, department_id=department))


@pytest.mark.parametrize(("box", "origin_department", "text", "want"), [
    ("", None, "停水", "停水"),  # nothing configured: nothing added (existing callers)
    ("", 7, "停水", "【七部门】停水"),  # a department's own, with no box signature
    ("市政务中心", None, "停水", "【市政务中心】停水"),
    ("市政务中心", 7, "停水", "【七部门】停水"),
    ("市政务中心", 8, "停水", "停水【八部门】"),  # its own placement
    ("市政务中心", 9, "停水", "【市政务中心】停水"),  # no signature of its own
    ("市政务中心", 7, "【市政务中心】停水", "【七部门】停水"),  # the box's is not this sender's
])
def test_whose_signature(box: str, origin_department: int | None, text: str,
                         want: str) -> None:
    check = SignatureCheck(PolicyConfig(signature=box),
                           [(7, "七部门", None), (8, "八部门", "end")])
    assert check.prepare(request(text, origin_department)).text == want


@pytest.mark.parametrize("door", ["rules", "system"])
def test_auto_answers_and_the_boxs_own_messages_carry_the_box_signature(door: str) -> None:
    check = SignatureCheck(PolicyConfig(signature="市政务中心"))
    assert check.prepare(request("您已成功退订", door=door)).text == "【市政务中心】您已成功退订"


@pytest.mark.parametrize("door", ["rules", "system"])
def test_the_boxs_own_messages_are_corrected_never_refused(door: str) -> None:
    config = PolicyConfig(signature="市政务中心", on_missing="refuse", on_forged="refuse")
    check = SignatureCheck(config)
    assert check.prepare(request("您已成功退订", door=door)).text == "【市政务中心】您已成功退订"
    assert check.prepare(request("【某店】收到", door=door)).text == "【市政务中心】收到"
    with pytest.raises(PolicyRefused, match="signature"):
        check.prepare(request("您已成功退订", door="api"))


def test_a_department_signature_can_be_changed_and_removed() -> None:
    check = SignatureCheck(PolicyConfig(signature="市政务中心"))
    check.set_department(3, "税务局", "end")
    assert check.prepare(request("缴税", 3)).text == "缴税【税务局】"
    check.set_department(3, None)
    assert check.prepare(request("缴税", 3)).text == "【市政务中心】缴税"
    with pytest.raises(ValueError, match="2 to 8"):
        check.set_department(3, "税")


def test_an_empty_or_missing_text_is_left_for_intake_to_refuse() -> None:
    check = SignatureCheck(PolicyConfig(signature="市政务中心"))
    assert check.prepare(request("   ")).text == "   "


@pytest.mark.parametrize(("text", "want"), [
    ("优惠【某店】", ("优惠", "【某店】")),
    ("优惠 [某店] ", ("优惠", "[某店]")),
    ("优惠 [ALERT]", ("优惠 [ALERT]", "")),
    ("优惠", ("优惠", "")),
])
def test_split_tail_mark(text: str, want: tuple[str, str]) -> None:
    assert split_tail_mark(text) == want


@pytest.mark.parametrize(("department", "want"), [
    (1, "【七部门】停水"),  # its own signature wins over its short name
    (2, "【市税务局】停水"),  # no signature of its own: 【short name】
    (3, "【税务】停水"),  # 2 characters: the shortest allowed
    (4, "【城市管理综合执法】停水"),  # 8 characters: the longest allowed
    (5, "【市政务中心】停水"),  # 1 character: not a signature, the box's
    (6, "【市政务中心】停水"),  # 9 characters: ditto
    (7, "【市政务中心】停水"),  # brackets inside: ditto
    (8, "【市政务中心】停水"),  # a space inside: ditto
    (9, "【市政务中心】停水"),  # no short name
])
def test_a_short_name_is_the_signature_of_a_department_without_one(department: int,
                                                                     want: str) -> None:
    check = SignatureCheck(PolicyConfig(signature="市政务中心"), [(1, "七部门", None)],
                           [(1, "七部"), (2, "市税务局"), (3, "税务"), (4, "城市管理综合执法"),
                            (5, "税"), (6, "市城市管理综合执法"), (7, "【税务】"),
                            (8, "市 税务")])
    assert check.prepare(request("停水", department)).text == want


def test_a_short_name_changed_or_gone_is_followed() -> None:
    check = SignatureCheck(PolicyConfig(signature=""), short_names=[(2, "市税务局")])
    assert check.prepare(request("缴税", 2)).text == "【市税务局】缴税"
    check.set_short_name(2, "税务局")
    assert check.prepare(request("缴税", 2)).text == "【税务局】缴税"
    check.set_short_name(2, "税")  # too short to be one: no signature (the box has none)
    assert check.prepare(request("缴税", 2)).text == "缴税"
    check.set_short_name(2, "税务局")
    check.set_short_name(2, None)  # the department was deleted
    assert check.prepare(request("缴税", 2)).text == "缴税"
