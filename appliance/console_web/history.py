"""History (issue 11, item 6): every message sent and received, filtered, paged, exported.

`GET /console/history?tab=out|in` with the filters `since`, `until` (local dates, both
included), `number`, `contact` (a part of a contact's name), and on the outbound tab `state`,
`sim`, `user`, `campaign`; `before=<id>` / `after=<id>` page older / newer (keyset: no page
count, no total, so a million rows cost what a hundred do). `GET /console/history/export.csv`
and `/export.xlsx` with the same filters export the whole filtered view, streamed
(history_export).

Knows: the query string and what a bad value says (next to its field, the page answering 400,
never a 500), the local time zone of dates (dispatch.timezone).
Must not know: SQL (store.history).

`bp` is this lane's one entry in LANE_BLUEPRINTS: the history pages, the export and the
replies (history_replies) together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.console_web import history_export as export
from appliance.console_web import history_replies
from appliance.console_web.guard import page
from appliance.console_web.render import render, text
from appliance.console_web.render import zone as appliance_zone
from appliance.contacts.numbers import stored_number
from appliance.dispatch.phone import InvalidNumber
from appliance.store import history as store_history
from appliance.store.states import MessageState

pages = Blueprint("console_history", url_prefix="/console")
bp = Blueprint.group(pages, history_replies.bp)

PAGE = 50
STATES = [s.value for s in MessageState]
FIELDS = ("tab", "since", "until", "number", "contact", "state", "sim", "user", "campaign")


@dataclass
class View:
    """A history view as asked: the form's values as typed, what is wrong with them, and the
    filter the store gets (contact names are resolved in the store read)."""

    tab: str = "out"
    form: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None
    number: str | None = None
    state: str | None = None
    sim: str | None = None
    user_id: int | None = None
    campaign_id: int | None = None
    before: int | None = None
    after: int | None = None

    def store_filter(self, contact_numbers: frozenset[str] | None) -> Any:
        numbers = None if self.number is None else frozenset({self.number})
        if contact_numbers is not None:
            numbers = contact_numbers if numbers is None else numbers & contact_numbers
        if self.tab == "in":
            return store_history.InboundFilter(since=self.since, until=self.until,
                                               numbers=numbers, sim=self.sim)
        return store_history.OutboundFilter(since=self.since, until=self.until,
                                            numbers=numbers, state=self.state, sim=self.sim,
                                            user_id=self.user_id,
                                            campaign_id=self.campaign_id)

    def query(self, **change: Any) -> str:
        """The query string of this view (the filters as typed), with `change` applied."""
        values = {k: v for k, v in self.form.items() if v}
        values.update({k: v for k, v in change.items() if v is not None})
        return urlencode({k: v for k, v in values.items() if v != ""})


def _id(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ValueError(raw)
    return int(raw)


def parse_view(request: Request) -> View:
    """The view the query string asks for; bad values are named in `errors`."""
    args = request.args
    form = {name: (args.get(name) or "").strip()[:100] for name in FIELDS}
    view = View(tab="in" if form["tab"] == "in" else "out", form=form)
    form["tab"] = view.tab
    zone = appliance_zone(request)
    days: dict[str, date] = {}
    for name in ("since", "until"):
        if form[name]:
            try:
                days[name] = date.fromisoformat(form[name])
            except ValueError:
                view.errors[name] = text(request, "Not a date (YYYY-MM-DD).")
    if "since" in days:
        view.since = datetime.combine(days["since"], time(), zone)
    if "until" in days:  # the whole last day
        view.until = datetime.combine(days["until"] + timedelta(days=1), time(), zone)
    if view.since and view.until and view.since >= view.until:
        view.errors["until"] = text(request, "The end date is before the start date.")
    if form["number"]:
        try:
            view.number = stored_number(form["number"],
                                        request.app.ctx.appliance.config.contacts.default_region)
        except InvalidNumber:
            view.errors["number"] = text(request, "Not a phone number.")
    if view.tab == "out":
        if form["state"]:
            if form["state"] in STATES:
                view.state = form["state"]
            else:
                view.errors["state"] = text(request, "Choose a state from the list.")
        for name, attr in (("user", "user_id"), ("campaign", "campaign_id")):
            try:
                setattr(view, attr, _id(form[name]))
            except ValueError:
                view.errors[name] = text(request, "Choose from the list.")
    if form["sim"]:
        if len(form["sim"]) <= 22 and form["sim"].isalnum():
            view.sim = form["sim"]
        else:
            view.errors["sim"] = text(request, "Choose a SIM from the list.")
    try:
        view.before = _id(args.get("before"))
        view.after = _id(args.get("after"))
    except ValueError:
        view.errors["page"] = text(request, "That page does not exist; start again from the "
                                            "first page.")
    return view


def _contact_numbers(request: Request, view: View) -> frozenset[str] | None:
    """Runs in the store read: the numbers the contact filter stands for, or None."""
    if not view.form["contact"]:
        return None
    try:
        numbers = store_history.numbers_of_contacts_named(view.form["contact"])
    except store_history.TooManyNumbers:
        view.errors["contact"] = text(request, "Too many contacts match: type more of the name.")
        return frozenset()
    if not numbers:
        view.errors["contact"] = text(request, "No contact has that name.")
    return numbers


@pages.get("/history")
@page("read")
async def history(request: Request) -> HTTPResponse:
    view = parse_view(request)

    def read() -> tuple[store_history.Page, dict]:
        choices = store_history.filter_choices()
        if view.errors:
            return store_history.Page(), choices
        numbers = _contact_numbers(request, view)
        f = view.store_filter(numbers)
        if view.tab == "in":
            found = store_history.inbound_page(f, before=view.before, after=view.after,
                                               limit=PAGE)
        else:
            found = store_history.outbound_page(f, before=view.before, after=view.after,
                                                limit=PAGE)
        return found, choices

    found, choices = await request.app.ctx.appliance.store.read(read)
    return render(request, "history/history.html", status=400 if view.errors else 200,
                  view=view, found=found, choices=choices, states=STATES)


def _export_header(request: Request, tab: str) -> list[str]:
    return [text(request, name) for name, _ in export.columns_of(tab)]


async def _export(request: Request, kind: str) -> HTTPResponse | None:
    view = parse_view(request)
    numbers = None
    if not view.errors and view.form["contact"]:
        numbers = await request.app.ctx.appliance.store.read(
            lambda: _contact_numbers(request, view))
    if view.errors:
        found = store_history.Page()
        choices = await request.app.ctx.appliance.store.read(store_history.filter_choices)
        return render(request, "history/history.html", status=400, view=view, found=found,
                      choices=choices, states=STATES)
    f = view.store_filter(numbers)
    header = _export_header(request, view.tab)
    zone = appliance_zone(request)
    if kind == "csv":
        await export.stream_csv(request, view.tab, f, header, zone)
    else:
        title = text(request, "Inbound") if view.tab == "in" else text(request, "Outbound")
        await export.stream_xlsx(request, view.tab, f, header, title, zone)
    return None


@pages.get("/history/export.csv")
@page("read")
async def export_csv(request: Request) -> HTTPResponse | None:
    return await _export(request, "csv")


@pages.get("/history/export.xlsx")
@page("read")
async def export_xlsx(request: Request) -> HTTPResponse | None:
    return await _export(request, "xlsx")
