"""The dashboard and the modem page without a browser: how a modem and its SIM become a row,
the snapshot of a running appliance, the fragments, who may restart a modem and see its AT
traffic."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx

from appliance.console_web import dash_snapshot as snap
from appliance.dispatch.rates import RateLimits
from appliance.store.dashboard import DashboardFigures, LastFailure, TodayCounts
from tests.web.test_console_core import _csrf, client, log_in

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
LIMITS = RateLimits(per_minute=6, per_hour=200, per_day=1000)


def _modem(port: str, state: str = "ready", iccid: str = "8986A", **extra) -> dict:
    view = {"port": port, "state": state, "state_reason": extra.pop("reason", ""),
            "manufacturer": "Quectel", "model": "EC20", "imei": extra.pop("imei", "8600001"),
            "sim": {"iccid": iccid, "operator": "CHINA MOBILE", "own_number": ""},
            "signal": {"rssi": 20, "dbm": -73, "bars": 4}, "registration": "home",
            "counters": extra.pop("counters", {})}
    view.update(extra)
    return view


def _sim(iccid: str, state: str = "active", used: int = 0, port: str | None = "/dev/ttyUSB2",
         barred_reason: str = "") -> dict:
    return {"iccid": iccid, "operator": "CHINA UNICOM", "own_number": "", "state": state,
            "barred_reason": barred_reason, "port": port, "counters": {},
            "caps": {"minute": {"limit": 6, "used": 1}, "hour": {"limit": 200, "used": used},
                     "day": {"limit": 1000, "used": used}, "month": {"limit": 0, "used": used}}}


def test_a_row_per_modem_then_the_sims_no_modem_holds() -> None:
    failure = LastFailure(7, "failed", "+CMS ERROR: 38", NOW)
    rows = snap.build_rows(
        [_modem("/dev/ttyUSB2", iccid="8986A"),
         _modem("/dev/ttyUSB5", state="resting", iccid="8986B", imei="8600002",
                reason="not answering: resetting the modem"),
         _modem("/dev/ttyUSB7", state="gone", iccid="8986C", imei="8600003",
                reason="not connected")],
        [_sim("8986A", used=200), _sim("8986B"), _sim("8986C"),
         _sim("8986D", state="barred", port=None, barred_reason="3 barring refusals")],
        {"8986A": failure, "8986C": failure}, LIMITS)
    assert [(r.iccid, r.status) for r in rows] == [
        ("8986A", "ready"), ("8986B", "resting"), ("8986C", "gone"), ("8986D", "barred")]
    ready, resting, gone, barred = rows
    # Used against the cap (the month only when it has one: 0 is none).
    assert [(c.window, c.used, c.limit, c.percent) for c in ready.caps] == [
        ("minute", 1, 6, 17), ("hour", 200, 200, 100), ("day", 200, 1000, 20)]
    assert ready.last_error == "+CMS ERROR: 38" and ready.last_error_at == NOW
    assert ready.key == "8600001" and ready.bars == 4 and ready.operator == "CHINA MOBILE"
    # A modem in trouble: its own reason is its last error.
    assert resting.last_error == "not answering: resetting the modem"
    # Gone: the reason it left is under the state, the SIM's last failure is the error.
    assert gone.reason == "not connected" and gone.last_error == "+CMS ERROR: 38"
    assert barred.key is None and barred.reason == "3 barring refusals"


def test_a_sim_the_dispatcher_rests_or_bars_shows_so() -> None:
    resting = snap.build_rows([_modem("/dev/ttyUSB2", counters={
        "resting_until": "2026-12-02T02:05:00+00:00"})], [_sim("8986A")], {}, LIMITS)[0]
    assert resting.status == "resting"
    assert resting.resting_until == datetime(2026, 12, 2, 2, 5, tzinfo=UTC)
    barred = snap.build_rows([_modem("/dev/ttyUSB2", counters={
        "barred": True, "barred_reason": "registration denied"})], [_sim("8986A")], {}, LIMITS)[0]
    assert (barred.status, barred.reason) == ("barred", "registration denied")


def test_a_sim_not_stored_yet_shows_its_caps_from_its_modems_counters() -> None:
    row = snap.build_rows([_modem("/dev/ttyUSB2", counters={
        "sent_last_60s": 2, "sent_last_hour": 9, "sent_last_24h": 40})], [], {}, LIMITS)[0]
    assert [(c.window, c.used, c.limit) for c in row.caps] == [
        ("minute", 2, 6), ("hour", 9, 200), ("day", 40, 1000)]


def test_a_modem_without_an_imei_is_found_by_its_port() -> None:
    key = snap.modem_key("", "/dev/serial/by-id/usb-Quectel_EC25-if02")
    assert key.startswith("p-") and "/" not in key
    assert snap._port_of_key(key) == "/dev/serial/by-id/usb-Quectel_EC25-if02"
    assert snap._port_of_key("p-!!!") is None
    assert snap.modem_key("861234567890123", "/dev/ttyUSB2") == "861234567890123"


def test_the_queue_shows_every_category_highest_first() -> None:
    figures = DashboardFigures(today=TodayCounts(), queue_by_priority={30: 2, 5: 1, 0: 7})
    assert snap.queue_rows(figures) == [(30, "otp", 2), (20, "alert", 0), (10, "notice", 0),
                                        (5, "", 1), (0, "marketing", 7)]


def test_the_snapshot_of_a_running_appliance(console) -> None:
    shot = console.run(snap.dashboard_snapshot(console.appliance))
    ready = [r for r in shot.rows if r.status == "ready"]
    assert len(ready) == 2
    assert all(r.operator and r.bars > 0 and r.imei and r.key == r.imei for r in ready)
    # The test appliance has no caps: the use shows all the same.
    assert [(c.window, c.limit) for c in ready[0].caps] == [("minute", 0), ("hour", 0),
                                                             ("day", 0)]
    assert shot.figures.today.sent >= 0 and isinstance(shot.replies, list)


@contextlib.contextmanager
def _logged_in(console, role: str) -> Iterator[httpx.Client]:
    with client(console) as http:
        name, password = console.users[role]
        log_in(http, name, password)
        yield http


def test_the_fragments_and_the_modem_page(console) -> None:
    imei = console.appliance.pool.ready()[0].status.identity.imei
    with _logged_in(console, "viewer") as http:
        page = http.get("/console/dashboard")
        assert page.status_code == 200 and 'id="dash-modems"' in page.text
        assert "/static/dash.js" in page.text
        for part in ("modems", "figures", "replies"):
            piece = http.get(f"/console/dashboard/{part}", headers={"HX-Request": "true"})
            assert piece.status_code == 200 and "<html" not in piece.text, part
        assert imei in http.get("/console/dashboard/modems").text
        modem = http.get(f"/console/modems/{imei}")
        assert modem.status_code == 200 and imei in modem.text
        # A viewer reads, but the technician's tools are not offered...
        assert 'id="at-log"' not in modem.text and "restart-button" not in modem.text
        # ...nor served.
        assert http.get(f"/console/modems/{imei}/traffic").status_code == 403
        refused = http.post(f"/console/modems/{imei}/restart",
                            data={"csrf_token": _csrf(modem.text)})
        assert refused.status_code == 403
        assert http.get("/console/modems/000000000000000").status_code == 404
        assert http.get("/console/modems/p-bm9uZQ").status_code == 404


def test_a_restart_without_the_forms_token_is_refused(console) -> None:
    sup = console.appliance.pool.ready()[0]
    since = sup.status.since
    with _logged_in(console, "admin") as http:
        refused = http.post(f"/console/modems/{sup.status.identity.imei}/restart")
        assert refused.status_code == 403 and "CSRF" in refused.text
    assert sup.status.state.value == "ready" and sup.status.since == since


def test_the_dashboard_in_chinese(console) -> None:
    name, password = console.users["operator"]
    with client(console, "zh-CN") as http:
        log_in(http, name, password)
        body = http.get("/console/dashboard").text
        assert "今日已发送" in body and "模块与 SIM 卡" in body and "就绪" in body


def test_every_dash_string_has_its_fields_in_chinese() -> None:
    import json
    from pathlib import Path

    entries = json.loads((Path(__file__).resolve().parents[2] / "web" / "i18n" /
                          "dash.json").read_text(encoding="utf-8"))
    fields = re.compile(r"\{(\w+)\}")
    for english, chinese in entries.items():
        assert set(fields.findall(english)) == set(fields.findall(chinese)), english
        assert chinese and chinese != english, english
