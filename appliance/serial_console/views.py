"""The console's views: answers of the admin socket (or the offline snapshot) as lines.

Knows: which fields each listing shows in 80 columns, in the console's language. Must not
know: where the data came from, or the terminal.
"""

from __future__ import annotations

from typing import Any

from appliance.serial_console.messages import Messages
from appliance.serial_console.tables import bars, cut, duration, render, safe


def _used(caps: dict[str, Any] | None, window: str) -> str:
    cap = (caps or {}).get(window) or {}
    used = cap.get("used")
    limit = cap.get("limit")
    used_text = "-" if used is None else str(used)
    return f"{used_text}/{limit}" if limit else used_text


def modems_table(t: Messages, modems: list[dict[str, Any]],
                 sims: list[dict[str, Any]]) -> list[str]:
    if not modems:
        return [t("no_modems")]
    caps = {s["iccid"]: s.get("caps") for s in sims}
    rows = []
    for n, m in enumerate(modems, start=1):
        sim = m.get("sim") or {}
        signal = m.get("signal") or {}
        dbm = signal.get("dbm")
        rows.append([n, m["port"].rsplit("/", 1)[-1], m["state"],
                     f"{bars(signal.get('bars'))} {dbm if dbm is not None else ''}".rstrip(),
                     sim.get("operator") or "-", m.get("registration") or "-",
                     _used(caps.get(sim.get("iccid")), "hour"),
                     _used(caps.get(sim.get("iccid")), "day")])
    return render(["#", t("col_port"), t("col_state"), t("col_signal"), t("col_operator"),
                   t("col_reg"), t("col_hour"), t("col_day")], rows)


def offline_modems_table(t: Messages, modems: list[dict[str, Any]]) -> list[str]:
    if not modems:
        return [t("no_modems")]
    rows = [[n, (m["port"] or "-").rsplit("/", 1)[-1], m.get("model") or "-", m["imei"],
             (m.get("sim") or {}).get("iccid") or "-", m.get("last_seen") or "-"]
            for n, m in enumerate(modems, start=1)]
    return render(["#", t("col_port"), t("col_modem"), "IMEI", t("col_iccid"), t("col_time")],
                  rows)


def sims_table(t: Messages, sims: list[dict[str, Any]]) -> list[str]:
    if not sims:
        return [t("no_sims")]
    rows = [[s["iccid"], s.get("operator") or "-", s["state"] if s.get("enabled", True)
             else "disabled", (s.get("port") or "-").rsplit("/", 1)[-1],
             _used(s.get("caps"), "hour"), _used(s.get("caps"), "day"),
             _used(s.get("caps"), "month")] for s in sims]
    return render([t("col_iccid"), t("col_operator"), t("col_state"), t("col_port"),
                   t("col_hour"), t("col_day"), t("col_month")], rows)


def modem_details(t: Messages, n: int, m: dict[str, Any]) -> list[str]:
    sim = m.get("sim") or {}
    signal = m.get("signal") or {}
    fields = [
        ("state", f"{m['state']} ({m.get('state_reason') or ''})"),
        ("model", f"{m.get('manufacturer') or ''} {m.get('model') or ''} "
                  f"{m.get('revision') or ''}".strip() or "-"),
        ("IMEI", m.get("imei") or "-"),
        ("profile", m.get("profile") or "-"),
        ("signal", f"{bars(signal.get('bars'))} {signal.get('dbm')} dBm"),
        ("network", m.get("registration") or "-"),
        ("SIM", f"{sim.get('iccid') or '-'} {sim.get('operator') or ''}".strip()),
        ("IMSI", sim.get("imsi") or "-"),
        ("number", sim.get("own_number") or "-"),
        ("recoveries", str(m.get("recoveries", 0))),
    ]
    return [t("modem_details", n=n, port=m["port"])] + [f"  {k:<11}{cut(safe(v), 67)}"
                                                        for k, v in fields]


def inbox_table(t: Messages, messages: list[dict[str, Any]]) -> list[str]:
    if not messages:
        return [t("no_inbox")]
    rows = [[str(m.get("received_at") or "")[5:16].replace("T", " "),
             m.get("sender") or "", m.get("text") or ""] for m in messages]
    return render([t("col_time"), t("col_from"), t("col_text")], rows)


def queue_text(t: Messages, by_state: dict[str, int]) -> str:
    shown = [f"{state} {count}" for state, count in by_state.items() if count]
    return ", ".join(shown) if shown else t("status_none")


def status_lines(t: Messages, status: dict[str, Any]) -> list[str]:
    lines = [t("status_version", version=status["version"]),
             t("status_uptime", uptime=duration(status["uptime_seconds"])),
             t("status_modems", ready=status["modems"]["ready"], total=status["modems"]["total"]),
             t("status_queue", queue=queue_text(t, status["messages"])),
             t("status_inbox", count=status["inbox"]),
             t("status_problems", problems=", ".join(status["problems"]) or t("status_none"))]
    errors = status.get("last_errors") or []
    if errors:
        lines.append(t("status_errors"))
        lines += [f"  {e['level']:<8}{cut(safe(e['text']), 70)}" for e in errors]
    return lines


__all__ = ["inbox_table", "modem_details", "modems_table", "offline_modems_table",
           "queue_text", "sims_table", "status_lines"]
