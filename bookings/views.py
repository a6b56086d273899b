"""The resident pages: server-rendered, one form per step, the flow's state kept in the session.

The pages call the same services as the API (`bookings.services`, `bookings.holds`, the seat
module `bookings.seats`, `venues.calendar`, `bookings.eligibility`); they decide nothing on their
own. Choosing a time holds its seat until the resident confirms (or the hold expires). Nothing personal
travels in a URL: the only secret in a link is the manage token, and the page that receives it
moves the authorisation into the session and redirects to a clean address.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from scheduler import challenge, clock, parsing, sms, throttling
from scheduler.errors import (
    Busy,
    DomainError,
    DuplicateBooking,
    Ineligible,
    InvalidInput,
    NoSuchSlot,
    NotActive,
    NotFound,
    OutsideBookingWindow,
    SlotFull,
    TooManyBookings,
)
from venues import selectors as venue_selectors
from venues.calendar import CLOSURE, HOLIDAY, WEEKEND, YEAR_END, DayStatus, venue_calendar
from venues.models import Procedure, ReceptionWindow, Venue

from . import eligibility, holds, lookup_limits, rules, seats, selectors, services
from .forms import ContactForm, LookupForm, ProcedureForm, QuestionsForm, StartForm, VenueForm, contact_from
from .guidance import what_to_bring
from .ics import booking_ics
from .links import manage_path
from .models import Booking
from .qr import reference_qr_svg
from .seats import DayAvailability, SlotView
from .templatetags.resident import weekday_names

FLOW = "book"  # procedure, answers, venue, start, contact
BOOKED = "booked"  # the reference and token of the booking just made (for the done page)
MANAGE = "manage"  # references this browser has proved it may manage (token link or lookup)
MOVES = "moves"  # per reference: the hold of a reschedule waiting for its confirmation
MANAGE_KEEP = 20


CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=()"


def resident_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Security headers of every resident page (SecurityMiddleware adds the rest)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response

    return wrapper


def fair_share(scope: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A POST counts against the address's `scope` (THROTTLE_RATES); one too many gets a page that
    says when to come back (429 with Retry-After)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST" and (wait := throttling.refused(scope, request)) is not None:
                minutes = max(1, -(-wait // 60))
                response = render(request, "bookings/too_many.html", {"minutes": minutes}, status=429)
                response["Retry-After"] = str(wait)
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def private_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page that shows personal data: never cached, by the browser or a proxy."""
    return resident_page(never_cache(view))


# --- The flow's state ---------------------------------------------------------------------

STEPS = ["procedure", "answers", "venue", "start", "contact"]
STEP_URLS = {
    "procedure": "web:book",
    "answers": "web:book-questions",
    "venue": "web:book-venue",
    "start": "web:book-date",
    "contact": "web:book-contact",
}


def _flow(request: HttpRequest) -> dict[str, Any]:
    return dict(request.session.get(FLOW) or {})


def _save_flow(request: HttpRequest, flow: dict[str, Any]) -> None:
    request.session[FLOW] = flow


PAGES = ("procedure", "questions", "venue", "date", "contact", "confirm")


def _step(procedure_code: str | None, page: str) -> dict[str, int]:
    """Numbered as "step 3 of 5": a procedure that asks no questions skips that page, so it has
    one step fewer. Before a procedure is chosen the number of steps is not known (`steps_total` 0)."""
    pages = list(PAGES)
    if procedure_code and not eligibility.questions_for(procedure_code):
        pages.remove("questions")
    return {"step": pages.index(page) + 1, "steps_total": len(pages) if procedure_code else 0}


def _missing_step(flow: dict[str, Any], upto: str) -> str | None:
    """The first step before `upto` (included) that has no answer yet."""
    for step in STEPS[: STEPS.index(upto) + 1]:
        if step not in flow:
            return step
    return None


def _back_to(step: str) -> HttpResponse:
    return redirect(STEP_URLS[step])


@dataclass
class FlowObjects:
    procedure: Procedure
    venue: Venue | None = None


def _objects(flow: dict[str, Any], *, with_venue: bool) -> FlowObjects | None:
    try:
        procedure = venue_selectors.procedure_get(flow.get("procedure"))
        venue = venue_selectors.venue_get(flow["venue"]) if with_venue else None
    except DomainError:
        return None
    return FlowObjects(procedure, venue)


def _start_of(flow: dict[str, Any]) -> datetime | None:
    return _parsed_time(flow.get("start"))


def _posted(request: HttpRequest) -> QueryDict | None:
    """The POST data of a POST (even an empty one, so that "required" is reported), else None."""
    return request.POST if request.method == "POST" else None


def _language() -> str:
    return "en" if (get_language() or "ja").startswith("en") else "ja"


# --- Calendar and times ---------------------------------------------------------------------


@dataclass
class CalendarCell:
    date: date
    in_month: bool
    state: str = "blank"  # blank | closed | free | full | none
    reason: str = ""
    mark: str = ""
    label: str = ""
    selected: bool = False
    today: bool = False
    mine: bool = False  # the day of the booking being moved


@dataclass
class MonthCalendar:
    month: date
    months: list[date]
    weekdays: list[str]
    weeks: list[list[CalendarCell]]
    notices: list[tuple[date, str]]
    day: date | None = None
    day_slots: list[SlotView] = field(default_factory=list)
    day_unavailable: bool = False
    has_free: bool = False
    show_remaining: bool = False  # more than one counter that day: "残り2" on each time

    @property
    def day_parts(self) -> list[tuple[str, list[SlotView]]]:
        """The day's times under 午前 / 午後 (a part without times is left out)."""
        morning = [s for s in self.day_slots if clock.local(s.start).hour < 12]
        afternoon = [s for s in self.day_slots if clock.local(s.start).hour >= 12]
        return [(label, part) for label, part in ((_("午前"), morning), (_("午後"), afternoon)) if part]

    @property
    def waitlist_offered(self) -> bool:
        """Nothing free on the chosen day, or on any day: the date page offers the waiting list."""
        if not self.has_free:
            return True
        chosen = self.day is not None and not self.day_unavailable
        return chosen and bool(self.day_slots) and not any(s.remaining for s in self.day_slots)

    @property
    def previous_month(self) -> date | None:
        index = self.months.index(self.month)
        return self.months[index - 1] if index > 0 else None

    @property
    def next_month(self) -> date | None:
        index = self.months.index(self.month)
        return self.months[index + 1] if index + 1 < len(self.months) else None


def _reason_text(status: DayStatus) -> str:
    if status.reason == WEEKEND:
        return status.note
    if status.reason == HOLIDAY:
        return _("祝日（%(name)s）") % {"name": status.note}
    if status.reason == YEAR_END:
        return _("年末年始のお休み")
    if status.reason == CLOSURE:
        separator = ": " if _language() == "en" else "："
        return _("臨時休業") + (f"{separator}{status.note}" if status.note else "")
    return ""


def _reason_mark(status: DayStatus) -> str:
    return {HOLIDAY: _("祝"), YEAR_END: _("休"), CLOSURE: _("休")}.get(status.reason or "", "")


def _month_of(value: str | None) -> date | None:
    return parsing.month_or_none(value)


def _day_of(value: str | None) -> date | None:
    return parsing.date_or_none(value)


def month_calendar(
    *,
    venue: Venue,
    procedure: Procedure,
    now: datetime,
    month: str | None,
    day: str | None,
    days: list[DayAvailability] | None = None,
    current: datetime | None = None,
) -> MonthCalendar:
    """The venue's month (closed days with their reason) and the times of the chosen day."""
    today = clock.today(now)
    last = seats.last_bookable_day(venue, now)
    days = days if days is not None else seats.bookable_days(venue=venue, procedure=procedure, now=now)
    by_date = {d.date: d for d in days}
    months: list[date] = []
    cursor = today.replace(day=1)
    while cursor <= last:
        months.append(cursor)
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    chosen_day = _day_of(day)
    wanted = _month_of(month) or (chosen_day.replace(day=1) if chosen_day else None)
    if wanted not in months:
        first_free = next((d.date for d in days if any(s.remaining for s in d.slots)), today)
        wanted = first_free.replace(day=1)
    month_start = wanted
    month_end = (month_start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    # Weeks run Sunday to Saturday, as on a Japanese wall calendar.
    grid_start = month_start - timedelta(days=(month_start.weekday() + 1) % 7)
    grid_end = month_end + timedelta(days=(5 - month_end.weekday()) % 7)
    statuses = venue_calendar(venue, month_start, month_end)

    cells: list[CalendarCell] = []
    notices: list[tuple[date, str]] = []
    status_by_date = {s.date: s for s in statuses}
    cursor = grid_start
    while cursor <= grid_end:
        cell = CalendarCell(cursor, month_start <= cursor <= month_end)
        status = status_by_date.get(cursor)
        if cell.in_month and status is not None:
            if not status.open:
                cell.state, cell.reason, cell.mark = "closed", _reason_text(status), _reason_mark(status)
                if status.reason != WEEKEND:
                    notices.append((cursor, cell.reason))
            elif by_date.get(cursor) and by_date[cursor].slots:
                free = any(s.remaining for s in by_date[cursor].slots)
                cell.state = "free" if free else "full"
                cell.label = _("空きあり") if free else _("満席")
            else:
                cell.state = "none"
                cell.label = _("受付期間外")
            if status.open and status.note:
                notices.append((cursor, status.note))
            cell.selected = cursor == chosen_day
            cell.today = cursor == today
            cell.mine = current is not None and cursor == clock.local(current).date()
        cells.append(cell)
        cursor += timedelta(days=1)
    weeks = [cells[i : i + 7] for i in range(0, len(cells), 7)]
    names = weekday_names()
    calendar = MonthCalendar(
        month=month_start,
        months=months,
        weekdays=[names[6], *names[:6]],
        weeks=weeks,
        notices=notices,
        has_free=any(any(s.remaining for s in d.slots) for d in days),
    )
    if chosen_day is not None:
        calendar.day = chosen_day
        if chosen_day in by_date:
            calendar.day_slots = by_date[chosen_day].slots
            calendar.show_remaining = seats.several_counters(venue=venue, day=chosen_day)
        else:
            calendar.day_unavailable = True
    return calendar


def _parsed_time(value: str | None) -> datetime | None:
    return parsing.moment_or_none(value)


def _hold_context(until: str | None, now: datetime) -> dict[str, Any]:
    """ "HH:MM まで確保しています" on the contact and confirm pages, or that the time ran out."""
    moment = _parsed_time(until)
    return {"hold_until": moment, "hold_expired": moment is not None and moment <= now}


def _release_quietly(secret: str | None, now: datetime) -> None:
    """Give a held seat back at once; one already used, expired or released, or a busy database
    (it then expires by itself), is no reason to stop the resident."""
    if secret:
        try:
            holds.hold_release(secret=secret, now=now)
        except (NotFound, Busy):
            pass


def _drop_hold(flow: dict[str, Any], now: datetime) -> None:
    """The resident went back to another procedure or venue: the held seat goes back at once."""
    flow.pop("hold_until", None)
    _release_quietly(flow.pop("hold", None), now)


def _seat_problem(error: DomainError) -> str:
    if isinstance(error, Busy):
        return "busy"
    return "slot_full" if isinstance(error, SlotFull) else "slot_gone"


# --- Start and help --------------------------------------------------------------------------


@resident_page
def start(request: HttpRequest) -> HttpResponse:
    procedures = list(Procedure.objects.order_by("sort_order", "code"))
    for procedure in procedures:
        procedure.at_stations = rules.taken_at_stations(procedure.code)
    return render(
        request,
        "bookings/start.html",
        {"procedures": procedures, "bring": what_to_bring("")},
    )


@resident_page
def help_page(request: HttpRequest) -> HttpResponse:
    return render(request, "bookings/help.html", {"retention_days": settings.RETENTION_DAYS})


# --- The booking flow ------------------------------------------------------------------------


@private_page
@require_http_methods(["GET", "POST"])
def book_procedure(request: HttpRequest) -> HttpResponse:
    procedures = list(Procedure.objects.order_by("sort_order", "code"))
    flow = _flow(request)
    form = ProcedureForm(
        _posted(request), procedures=procedures, initial={"procedure": flow.get("procedure")}
    )
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["procedure"]
        if code != flow.get("procedure"):
            # Another procedure: its own questions, venues and times; what was typed stays.
            _drop_hold(flow, clock.now())
            flow = {"procedure": code, **({"contact": flow["contact"]} if "contact" in flow else {})}
        _save_flow(request, flow)
        return redirect("web:book-questions")
    return render(
        request,
        "bookings/book_procedure.html",
        {"form": form, "procedures": procedures, **_step(flow.get("procedure"), "procedure")},
    )


@private_page
@require_http_methods(["GET", "POST"])
def book_questions(request: HttpRequest) -> HttpResponse:
    flow = _flow(request)
    if (missing := _missing_step(flow, "procedure")) is not None:
        return _back_to(missing)
    objects = _objects(flow, with_venue=False)
    if objects is None:
        return _back_to("procedure")
    procedure = objects.procedure
    questions = eligibility.questions_for(procedure.code)
    if not questions:
        flow["answers"] = {}
        _save_flow(request, flow)
        return redirect("web:book-venue")
    form = QuestionsForm(
        _posted(request),
        questions=questions,
        initial=QuestionsForm.initial_from(questions, flow.get("answers")),
    )
    if request.method == "POST" and form.is_valid():
        answers = form.answers()
        try:
            flow["answers"] = services.eligibility_check(procedure=procedure, answers=answers)
        except Ineligible as error:
            flow.pop("answers", None)
            _save_flow(request, flow)
            by_reason = {q.reason: q for q in questions}
            stops = [by_reason[reason] for reason in error.reasons if reason in by_reason]
            return render(
                request,
                "bookings/book_stop.html",
                {"procedure": procedure, "stops": stops, **_step(procedure.code, "questions")},
            )
        _save_flow(request, flow)
        return redirect("web:book-venue")
    return render(
        request,
        "bookings/book_questions.html",
        {"form": form, "procedure": procedure, **_step(procedure.code, "questions")},
    )


@dataclass
class VenueGroup:
    area: str
    label: str
    venues: list[Venue]


def venues_for(procedure: Procedure) -> list[VenueGroup]:
    """Venues that take the procedure, by area (in the order of `Venue.Area`), with their windows."""
    venues = venue_selectors.venue_list(procedure=procedure).prefetch_related(
        Prefetch(
            "windows",
            queryset=ReceptionWindow.objects.filter(procedures=procedure).order_by("start"),
            to_attr="procedure_windows",
        )
    )
    groups = {value: VenueGroup(value, str(label), []) for value, label in Venue.Area.choices}
    for venue in venues:
        venue.erase_only = rules.erase_only(p.code for p in venue.procedures.all())
        groups[venue.area].venues.append(venue)
    return [group for group in groups.values() if group.venues]


@private_page
@require_http_methods(["GET", "POST"])
def book_venue(request: HttpRequest) -> HttpResponse:
    flow = _flow(request)
    if (missing := _missing_step(flow, "answers")) is not None:
        return _back_to(missing)
    objects = _objects(flow, with_venue=False)
    if objects is None:
        return _back_to("procedure")
    groups = venues_for(objects.procedure)
    form = VenueForm(_posted(request), venues=[v for g in groups for v in g.venues])
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["venue"]
        if code != flow.get("venue"):
            flow.pop("start", None)
            _drop_hold(flow, clock.now())
        flow["venue"] = code
        _save_flow(request, flow)
        return redirect("web:book-date")
    return render(
        request,
        "bookings/book_venue.html",
        {
            "form": form,
            "procedure": objects.procedure,
            "groups": groups,
            "any_erase_only": any(v.erase_only for g in groups for v in g.venues),
            "chosen": flow.get("venue"),
            **_step(objects.procedure.code, "venue"),
        },
    )


def _challenge_gate(request: HttpRequest, *, back: str) -> HttpResponse | None:
    """Past the soft limit of holds, this address proves some work before the seat is held (the
    chosen time is carried through the check page); below it, nothing is asked. Every hold asked
    for counts."""
    if challenge.needed(request):
        problem = challenge.check(request.POST.get(challenge.FIELD))
        if problem is not None:
            context = {
                "action": request.path,
                "start": request.POST.get("start", ""),
                "failed": problem == challenge.FAILED,
                "back": back,
            }
            return render(request, "bookings/challenge.html", context, status=403)
    challenge.count(request)
    return None


@private_page
@require_http_methods(["GET", "POST"])
@fair_share("hold")
def book_date(request: HttpRequest) -> HttpResponse:
    flow = _flow(request)
    if not flow and request.session.get(BOOKED):
        return redirect("web:book-done")  # the back button after confirming
    if (missing := _missing_step(flow, "venue")) is not None:
        return _back_to(missing)
    objects = _objects(flow, with_venue=True)
    if objects is None:
        return _back_to("procedure")
    now = clock.now()
    problem, alternatives, status = "", [], 200
    if request.method == "POST":
        form = StartForm(request.POST)
        if not form.is_valid():
            problem, status = "invalid", 400
        elif (asked := _challenge_gate(request, back=reverse("web:book-date"))) is not None:
            return asked
        else:
            wanted = form.cleaned_data["start"]
            try:
                held = holds.hold_create(
                    venue=objects.venue,
                    procedure=objects.procedure,
                    start=wanted,
                    now=now,
                    replaces=flow.get("hold"),
                )
            except (SlotFull, NoSuchSlot, OutsideBookingWindow, Busy) as error:
                problem = _seat_problem(error)
                status = 503 if problem == "busy" else 409
                if problem != "busy":
                    alternatives = seats.nearest_free(
                        venue=objects.venue, procedure=objects.procedure, wanted=wanted, now=now
                    )
            else:
                flow["start"] = clock.local(held.hold.start).isoformat()
                flow["hold"] = held.secret
                flow["hold_until"] = clock.local(held.hold.expires_at).isoformat()
                _save_flow(request, flow)
                return redirect("web:book-confirm" if "contact" in flow else "web:book-contact")
    chosen = _start_of(flow) if flow.get("hold") else None
    calendar = month_calendar(
        venue=objects.venue,
        procedure=objects.procedure,
        now=now,
        month=request.GET.get("month"),
        day=request.GET.get("day") or (clock.local(chosen).date().isoformat() if chosen else None),
    )
    return render(
        request,
        "bookings/book_date.html",
        {
            "procedure": objects.procedure,
            "venue": objects.venue,
            "calendar": calendar,
            "chosen": chosen,
            "held": chosen if not _hold_context(flow.get("hold_until"), now)["hold_expired"] else None,
            "action": reverse("web:book-date"),
            "problem": problem,
            "alternatives": alternatives,
            **_step(objects.procedure.code, "date"),
        },
        status=status,
    )


@private_page
@require_http_methods(["GET", "POST"])
def book_contact(request: HttpRequest) -> HttpResponse:
    flow = _flow(request)
    if not flow and request.session.get(BOOKED):
        return redirect("web:book-done")
    if (missing := _missing_step(flow, "start")) is not None:
        return _back_to(missing)
    form = ContactForm(_posted(request), initial=flow.get("contact") or {})
    if request.method == "POST" and form.is_valid():
        flow["contact"] = form.contact_data()
        _save_flow(request, flow)
        return redirect("web:book-confirm")
    return render(
        request,
        "bookings/book_contact.html",
        {
            "form": form,
            "retention_days": settings.RETENTION_DAYS,
            "sms_available": sms.is_enabled(),
            **_step(flow.get("procedure"), "contact"),
            **_hold_context(flow.get("hold_until"), clock.now()),
        },
    )


@private_page
@require_http_methods(["GET", "POST"])
@fair_share("booking")
def book_confirm(request: HttpRequest) -> HttpResponse:
    flow = _flow(request)
    if not flow and request.session.get(BOOKED):
        return redirect("web:book-done")  # a second tap, a retried POST or the back button
    if (missing := _missing_step(flow, "contact")) is not None:
        return _back_to(missing)
    objects = _objects(flow, with_venue=True)
    start_at = _start_of(flow)
    if objects is None or start_at is None:
        return _back_to("procedure")
    procedure, venue = objects.procedure, objects.venue
    now = clock.now()
    context: dict[str, Any] = {
        "procedure": procedure,
        "venue": venue,
        "start": start_at,
        "end": start_at + timedelta(minutes=procedure.duration_minutes),
        "contact": flow["contact"],
        "bring": what_to_bring(procedure.code),
        **_step(procedure.code, "confirm"),
        **_hold_context(flow.get("hold_until"), now),
    }
    if request.method == "GET":
        return render(request, "bookings/book_confirm.html", context)

    try:
        created = services.booking_create(
            venue=venue,
            procedure=procedure,
            start=start_at,
            hold=flow.get("hold"),
            contact=contact_from(flow["contact"]),
            answers=flow.get("answers") or {},
            now=now,
            language=_language(),
            sms_opt_in=flow["contact"].get("sms_opt_in") is True,
        )
    except (SlotFull, NoSuchSlot, OutsideBookingWindow, NotFound) as error:
        context["problem"] = _seat_problem(error)
        context["alternatives"] = seats.nearest_free(
            venue=venue, procedure=procedure, wanted=start_at, now=now
        )
        context["action"] = reverse("web:book-date")
        return render(request, "bookings/book_confirm.html", context, status=409)
    except DuplicateBooking:
        context["problem"] = "duplicate"
        return render(request, "bookings/book_confirm.html", context, status=409)
    except TooManyBookings:
        context["problem"] = "too_many"
        return render(request, "bookings/book_confirm.html", context, status=409)
    except Ineligible:
        flow.pop("answers", None)
        _save_flow(request, flow)
        return _back_to("answers")
    except InvalidInput as error:
        return _back_to("start" if "hold" in error.fields else "contact")
    except Busy:
        context["problem"] = "busy"
        return render(request, "bookings/book_confirm.html", context, status=503)

    request.session.pop(FLOW, None)
    request.session[BOOKED] = {"reference": created.booking.reference, "token": created.token}
    _authorise(request, created.booking.reference)
    return redirect("web:book-done")


@private_page
def book_done(request: HttpRequest) -> HttpResponse:
    """The private manage link is shown once: the token then leaves the session (only its hash
    is kept anywhere); later visits of this page show the booking and its lookup instead."""
    booked = dict(request.session.get(BOOKED) or {})
    booking = selectors.booking_by_reference(booked.get("reference"))
    if booking is None:
        return redirect("web:start")
    token = booked.pop("token", None)
    if token:
        request.session[BOOKED] = booked
    path = manage_path(booking.reference, token) if token else ""
    return render(
        request,
        "bookings/book_done.html",
        {
            "booking": booking,
            "bring": what_to_bring(booking.procedure.code, with_qr=True),
            "manage_path": path,
            "manage_url": request.build_absolute_uri(path) if path else "",
            "qr": reference_qr_svg(
                booking.reference, title=_("予約番号 %(ref)s") % {"ref": booking.reference}
            ),
        },
    )


# --- Managing a booking ------------------------------------------------------------------------


def _authorise(request: HttpRequest, reference: str) -> None:
    refs = [ref for ref in request.session.get(MANAGE, []) if ref != reference]
    request.session[MANAGE] = [*refs, reference][-MANAGE_KEEP:]


def _authorised_booking(request: HttpRequest, reference: str) -> Booking | None:
    if reference not in request.session.get(MANAGE, []):
        return None
    return selectors.booking_by_reference(reference)


def _manage_context(booking: Booking, now: datetime) -> dict[str, Any]:
    return {
        "booking": booking,
        "manageable": rules.may_change_online(booking, now),
        "bring": what_to_bring(booking.procedure.code, with_qr=booking.is_active),
    }


@private_page
@require_http_methods(["GET"])
def manage(request: HttpRequest, reference: str) -> HttpResponse:
    token = request.GET.get("token")
    if token is not None:
        try:
            booking = services.booking_get_for_token(reference=reference, token=token)
        except NotFound:
            return render(request, "bookings/not_found.html", status=404)
        _authorise(request, booking.reference)
        # The token leaves the address bar (and the history) at once.
        return redirect("web:manage", reference=booking.reference)
    booking = _authorised_booking(request, reference)
    if booking is None:
        return redirect("web:lookup")
    context = _manage_context(booking, clock.now())
    if booking.is_active:
        context["qr"] = reference_qr_svg(
            booking.reference, title=_("予約番号 %(ref)s") % {"ref": booking.reference}
        )
    return render(request, "bookings/manage.html", context)


@private_page
@require_http_methods(["GET"])
def manage_short(request: HttpRequest, reference: str, token: str) -> HttpResponse:
    """The SMS's manage link (`links.sms_manage_path`): as `manage` with its token, shorter."""
    try:
        booking = services.booking_get_for_token(reference=reference, token=token)
    except NotFound:
        return render(request, "bookings/not_found.html", status=404)
    _authorise(request, booking.reference)
    return redirect("web:manage", reference=booking.reference)


def _pending_move(request: HttpRequest, reference: str) -> dict[str, str] | None:
    return (request.session.get(MOVES) or {}).get(reference)


def _set_pending_move(request: HttpRequest, reference: str, move: dict[str, str] | None) -> None:
    moves = dict(request.session.get(MOVES) or {})
    if move is None:
        moves.pop(reference, None)
    else:
        moves[reference] = move
    request.session[MOVES] = moves


@private_page
@require_http_methods(["GET", "POST"])
@fair_share("manage")
def manage_reschedule(request: HttpRequest, reference: str) -> HttpResponse:
    """Choose the new time: it is held, and nothing moves until the confirm page says so."""
    booking = _authorised_booking(request, reference)
    if booking is None:
        return redirect("web:lookup")
    now = clock.now()
    if not rules.may_change_online(booking, now):
        return redirect("web:manage", reference=booking.reference)
    pending = _pending_move(request, booking.reference)
    problem = ""
    alternatives: list[SlotView] = []
    if request.method == "POST":
        form = StartForm(request.POST)
        if not form.is_valid():
            problem = "invalid"
        else:
            wanted = form.cleaned_data["start"]
            if wanted == booking.start:
                return redirect("web:manage", reference=booking.reference)
            try:
                held = holds.hold_create(
                    venue=booking.venue,
                    procedure=booking.procedure,
                    start=wanted,
                    now=now,
                    replaces=pending["hold"] if pending else None,
                )
            except (SlotFull, NoSuchSlot, OutsideBookingWindow, Busy) as error:
                problem = _seat_problem(error)
                if problem != "busy":
                    alternatives = seats.nearest_free(
                        venue=booking.venue,
                        procedure=booking.procedure,
                        wanted=wanted,
                        now=now,
                        exclude=[booking.start],
                    )
            else:
                move = {
                    "hold": held.secret,
                    "start": clock.local(held.hold.start).isoformat(),
                    "end": clock.local(held.hold.end).isoformat(),
                    "until": clock.local(held.hold.expires_at).isoformat(),
                }
                _set_pending_move(request, booking.reference, move)
                return redirect("web:manage-reschedule-confirm", reference=booking.reference)
    calendar = month_calendar(
        venue=booking.venue,
        procedure=booking.procedure,
        now=now,
        month=request.GET.get("month"),
        day=request.GET.get("day"),
        current=booking.start,
    )
    held_start = _parsed_time(pending["start"]) if pending else None
    if pending and _hold_context(pending.get("until"), now)["hold_expired"]:
        held_start = None
    return render(
        request,
        "bookings/manage_reschedule.html",
        {
            "booking": booking,
            "procedure": booking.procedure,
            "venue": booking.venue,
            "calendar": calendar,
            "chosen": booking.start,
            "current": booking.start,
            "held": held_start,
            "action": reverse("web:manage-reschedule", args=[booking.reference]),
            "problem": problem,
            "alternatives": alternatives,
        },
        status={"": 200, "busy": 503, "invalid": 400}.get(problem, 409),
    )


@private_page
@require_http_methods(["GET", "POST"])
@fair_share("manage")
def manage_reschedule_confirm(request: HttpRequest, reference: str) -> HttpResponse:
    """Old → new, and one button that moves the booking; leaving gives the held seat back."""
    booking = _authorised_booking(request, reference)
    if booking is None:
        return redirect("web:lookup")
    now = clock.now()
    pending = _pending_move(request, booking.reference)
    if pending is None or not rules.may_change_online(booking, now):
        return redirect("web:manage", reference=booking.reference)
    new_start, new_end = _parsed_time(pending["start"]), _parsed_time(pending["end"])
    context = {
        "booking": booking,
        "venue": booking.venue,
        "procedure": booking.procedure,
        "new_start": new_start,
        "new_end": new_end,
        **_hold_context(pending.get("until"), now),
    }
    if request.method == "GET":
        return render(request, "bookings/manage_reschedule_confirm.html", context)
    if request.POST.get("action") == "keep":
        _set_pending_move(request, booking.reference, None)
        _release_quietly(pending["hold"], now)
        messages.info(request, _("日時は変更していません。"))
        return redirect("web:manage", reference=booking.reference)
    try:
        services.booking_reschedule(booking=booking, hold=pending["hold"], now=now)
    except (SlotFull, NoSuchSlot, OutsideBookingWindow, NotFound, Busy) as error:
        context["problem"] = _seat_problem(error)
        if context["problem"] != "busy":
            context["alternatives"] = seats.nearest_free(
                venue=booking.venue,
                procedure=booking.procedure,
                wanted=new_start,
                now=now,
                exclude=[booking.start],
            )
        context["action"] = reverse("web:manage-reschedule", args=[booking.reference])
        status = 503 if context["problem"] == "busy" else 409
        return render(request, "bookings/manage_reschedule_confirm.html", context, status=status)
    except NotActive:
        return redirect("web:manage", reference=booking.reference)
    _set_pending_move(request, booking.reference, None)
    messages.success(request, _("予約の日時を変更しました。"))
    return redirect("web:manage", reference=booking.reference)


@private_page
@require_http_methods(["GET", "POST"])
@fair_share("manage")
def manage_cancel(request: HttpRequest, reference: str) -> HttpResponse:
    booking = _authorised_booking(request, reference)
    if booking is None:
        return redirect("web:lookup")
    now = clock.now()
    if request.method == "POST":
        try:
            services.booking_cancel(booking=booking, now=now)
        except (NotActive, OutsideBookingWindow):
            messages.error(
                request, _("この予約は取り消せません（すでに取り消し済みか、開始時刻を過ぎています）。")
            )
        except Busy:
            messages.error(request, _("混み合っています。少し待ってから、もう一度お試しください。"))
        else:
            messages.success(request, _("予約を取り消しました。"))
        return redirect("web:manage", reference=booking.reference)
    if not rules.may_change_online(booking, now):
        return redirect("web:manage", reference=booking.reference)
    return render(request, "bookings/manage_cancel.html", _manage_context(booking, now))


@private_page
@require_http_methods(["GET"])
def manage_ics(request: HttpRequest, reference: str) -> HttpResponse:
    booking = _authorised_booking(request, reference)
    if booking is None:
        return redirect("web:lookup")
    response = HttpResponse(booking_ics(booking), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{booking.reference}.ics"'
    return response


def client_address(request: HttpRequest) -> str:
    """The client's address as the fair-share limits see it (behind TRUSTED_PROXIES)."""
    return str(throttling.ScopeThrottle().get_ident(request) or "unknown")


@private_page
@require_http_methods(["GET", "POST"])
@fair_share("lookup")
def lookup(request: HttpRequest) -> HttpResponse:
    form = LookupForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        reference = form.cleaned_data["reference"].strip().upper()
        address = client_address(request)
        if lookup_limits.lookup_blocked(address=address, reference=reference):
            return render(request, "bookings/lookup.html", {"form": form, "limited": True}, status=429)
        try:
            booking = services.booking_get_for_contact(
                reference=reference, phone_or_email=form.cleaned_data["phone_or_email"]
            )
        except NotFound:
            lookup_limits.lookup_failed(address=address, reference=reference)
            form.add_error(
                None,
                _(
                    "予約が見つかりませんでした。予約番号と、予約したときの電話番号またはメールアドレスを確かめてください。"
                ),
            )
        else:
            _authorise(request, booking.reference)
            return redirect("web:manage", reference=booking.reference)
    return render(request, "bookings/lookup.html", {"form": form})
