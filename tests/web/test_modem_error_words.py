"""The modem's own errors, as the dispatcher words them (dispatch.cms_errors.describe_error),
read in the user's language in the console: the history's error column, its export and the
dashboard's "last error" column all go through reasons.message_error."""

from __future__ import annotations

from appliance.console_web.i18n import catalog
from appliance.console_web.reasons import message_error
from appliance.dispatch.cms_errors import CME_ERRORS, CMS_ERRORS, describe_error


def test_every_modem_error_in_the_tables_has_a_chinese_reason():
    reasons = {row.reason for row in (*CMS_ERRORS.values(), *CME_ERRORS.values())}
    missing = sorted(r for r in reasons if r not in catalog())
    assert missing == []  # a code added to cms_errors needs its words in modem_errors.json
    for code in (42, 500):
        worded = message_error("zh-CN", describe_error(code, None))
        assert worded.endswith(f" (+CMS ERROR: {code})")
        assert not any(c.isascii() and c.isalpha() for c in worded.split(" (+CMS")[0])


def test_a_failed_message_reads_in_chinese_with_its_code_kept():
    reason = "gave up after 3 attempts: " + describe_error(42, None)
    assert message_error("zh-CN", reason) == "尝试 3 次后放弃：网络拥塞 (+CMS ERROR: 42)"
    assert message_error("en", reason) == "Gave up after 3 attempts: the network is congested " \
                                          "(+CMS ERROR: 42)"
    assert message_error("zh-CN", describe_error(None, 515)) == "模块忙 (+CME ERROR: 515)"
    assert message_error("zh-CN", describe_error(777, None)) == "未知错误 777 (+CMS ERROR: 777)"
    assert message_error("zh-CN", describe_error(None, None)) == "模块返回 ERROR，未给出错误码"


def test_an_unanswered_send_and_an_expiry_read_in_chinese():
    assert (message_error("zh-CN", "no answer to +CMGS: no answer to +CMGS within 4.5s")
            == "+CMGS 无应答：模块在 4.5 秒内未应答 +CMGS")
    assert message_error("zh-CN", "expired before it could be sent") == "发送前已过期"


def test_text_we_do_not_know_is_shown_as_written():
    # Reasons can carry text from outside (a modem's answer, an approver's words): shown as
    # they are, never formatted as a template and never hidden.
    for odd in ("port gone: {0} %s", "+CMS ERROR 500: unknown", "奇怪的错误 (+CMS ERROR: x)"):
        assert message_error("zh-CN", odd) == odd


def test_the_dashboards_last_error_column_reads_in_chinese():
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from appliance.console_web import dash_snapshot as snap
    from appliance.console_web.dash import HELPERS
    from appliance.console_web.render import context, environment
    from appliance.store.dashboard import LastFailure
    from tests.web.test_dash import LIMITS, _modem, _sim

    at = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    failure = LastFailure(7, "failed", "gave up after 3 attempts: " + describe_error(42, None), at)
    rows = snap.build_rows([_modem("/dev/ttyUSB2", iccid="8986A")], [_sim("8986A")],
                           {"8986A": failure}, LIMITS)
    config = SimpleNamespace(dispatch=SimpleNamespace(timezone="Asia/Shanghai"))
    request = SimpleNamespace(ctx=SimpleNamespace(lang="zh-CN", user=None, csrf=""),
                              path="/console/dashboard",
                              app=SimpleNamespace(ctx=SimpleNamespace(
                                  appliance=SimpleNamespace(config=config))))
    page = environment().get_template("dash/_modems.html").render(context(request, rows=rows,
                                                                           **HELPERS))
    assert "尝试 3 次后放弃：网络拥塞 (+CMS ERROR: 42)" in page
    assert "the network is congested" not in page
