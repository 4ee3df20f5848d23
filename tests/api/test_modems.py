"""`GET /api/v1/modems`: every simulated modem as the appliance sees it, and unplugging."""

from __future__ import annotations

from appliance.modem.signal import csq_to_dbm, dbm_to_bars
from tests.api.conftest import Gateway, wait_for


async def test_each_modem_shows_the_simulators_identity_and_signal(gateway: Gateway) -> None:
    response = await gateway.get("/api/v1/modems", key="reader")
    assert response.status_code == 200
    modems = response.json()["modems"]
    assert len(modems) == 2
    by_port = {m["port"]: m for m in modems}
    for index, modem in enumerate(gateway.fleet.modems):
        profile = modem.profile
        view = by_port[str(gateway.fleet.symlink(index))]
        assert view["state"] == "ready"
        assert view["imei"] == profile.imei
        assert view["model"] == profile.model
        assert view["manufacturer"].lower() == profile.manufacturer.lower()
        assert view["sim"]["iccid"] == profile.iccid
        assert view["sim"]["imsi"] == profile.imsi
        assert view["sim"]["operator"] == profile.operator_name
        assert view["sim"]["operator_code"] == profile.mcc_mnc
        assert view["signal"]["rssi"] == profile.signal
        assert view["signal"]["dbm"] == csq_to_dbm(profile.signal) == -113 + 2 * profile.signal
        assert view["signal"]["bars"] == dbm_to_bars(view["signal"]["dbm"])
        assert 1 <= view["signal"]["bars"] <= 5
        assert view["registration"] == "home"
        counters = view["counters"]
        assert isinstance(counters, dict) and counters, "counters missing"


async def test_signal_change_is_shown_after_the_next_poll(gateway: Gateway) -> None:
    gateway.fleet.modems[0].set_signal(3)
    port = str(gateway.fleet.symlink(0))

    async def weak() -> dict | None:
        modems = (await gateway.get("/api/v1/modems")).json()["modems"]
        view = next(m for m in modems if m["port"] == port)
        return view if view["signal"]["rssi"] == 3 else None

    view = await wait_for(weak, "the new signal on /modems")
    assert view["signal"] == {"rssi": 3, "dbm": -107, "bars": 0}


async def test_an_unplugged_modem_shows_as_gone(gateway: Gateway) -> None:
    gone_port = str(gateway.fleet.symlink(1))
    imei = gateway.fleet.modems[1].profile.imei
    gateway.fleet.ports[1].unplug()

    async def shown_gone() -> list | None:
        response = await gateway.get("/api/v1/modems")
        assert response.status_code == 200
        modems = response.json()["modems"]
        gone = [m for m in modems if m["imei"] == imei and m["state"] == "gone"]
        return modems if gone else None

    await wait_for(shown_gone, "the unplugged modem shown as gone")
    # The pool drops the supervisor once the symlink is gone; the modem must still be listed.
    await wait_for(lambda: gone_port not in gateway.appliance.pool.supervisors,
                   "the pool to forget the vanished port")
    modems = await shown_gone()
    assert modems, "the unplugged modem vanished from /modems instead of showing as gone"
    by_imei = {m["imei"]: m for m in modems}
    assert by_imei[imei]["port"] == gone_port
    assert by_imei[imei]["sim"]["iccid"] == gateway.fleet.modems[1].profile.iccid
    assert by_imei[gateway.fleet.modems[0].profile.imei]["state"] == "ready"
    health = (await gateway.get("/api/v1/health", key=None)).json()
    assert health["modems"]["ready"] == 1


async def test_a_modem_replugged_on_another_path_keeps_its_history(gateway: Gateway) -> None:
    imei = gateway.fleet.modems[0].profile.imei
    first_port = str(gateway.fleet.symlink(0))
    gateway.fleet.ports[0].unplug()
    new_path = gateway.fleet.directory / "modem7"
    gateway.fleet.ports[0].replug(symlink=new_path)

    async def back() -> dict | None:
        modems = (await gateway.get("/api/v1/modems")).json()["modems"]
        view = next((m for m in modems if m["imei"] == imei and m["state"] == "ready"), None)
        return view if view and view["port"] == str(new_path) else None

    view = await wait_for(back, "the re-plugged modem ready on its new path")
    assert view["sim"]["iccid"] == gateway.fleet.modems[0].profile.iccid
    assert view["history"]["plugs"] == 2
    assert view["history"]["ports"] == [first_port, str(new_path)]
    assert view["history"]["iccids"] == [gateway.fleet.modems[0].profile.iccid]


async def test_sims_show_where_they_are_their_counters_and_caps(gateway: Gateway) -> None:
    response = await gateway.post("/api/v1/messages", json={"to": "+8613800138000",
                                                            "text": "hello"})
    mid = response.json()["messages"][0]["id"]
    message = await gateway.wait_message(mid, {"sent", "delivered"})
    response = await gateway.get("/api/v1/sims")
    assert response.status_code == 200
    sims = {s["iccid"]: s for s in response.json()["sims"]}
    in_modems = {m.profile.iccid: m for m in gateway.fleet.modems}
    assert set(sims) == set(in_modems)
    used = sims[message["sim"]]
    assert used["port"] and used["modem_state"] == "ready" and used["enabled"] is True
    assert used["counters"]["sent_total"] == 1
    limits = gateway.appliance.config.dispatch
    assert used["caps"]["minute"] == {"limit": limits.per_sim_per_minute, "used": 1}
    assert used["caps"]["month"]["limit"] == limits.per_sim_per_month
    other = next(s for iccid, s in sims.items() if iccid != message["sim"])
    assert other["caps"]["day"]["used"] == 0
    assert (await gateway.get("/api/v1/sims", key="sender")).status_code == 403
