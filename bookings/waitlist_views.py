"""The waiting list's resident pages: join from the date step of the booking flow when nothing is
free, see the entry (its place, the seat offered), confirm the offer with one tap, leave.

They call `bookings.waitlist` and decide nothing themselves. A GET never books or leaves: the
offer's confirmation and leaving are POST buttons. The entry's secret is in the page's address
(the link the resident keeps, and the offer's e-mail); the pages are never cached.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from scheduler import clock, parsing
from scheduler.errors import (
    AlreadyWaiting,
    Busy,
    DomainError,
    DuplicateBooking,
    InvalidInput,
    InvalidRange,
    NoOffer,
    NotFound,
    SeatsFree,
    TooManyBookings,
)

from . import views, waitlist
from .forms import ContactForm
from .links import waitlist_path

JOINED = "waitlist_joined"  # the secret of the entry just made, shown once on the done page
DAY_CHOICES = (7, 14, 30)


class JoinForm(ContactForm):
    """The contact step's fields, and which days: the day chosen, or any day within N days."""

    when = forms.ChoiceField(label=_("希望する日"), widget=forms.RadioSelect, initial="day")

    def __init__(self, *args: Any, day: date | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(f"days:{n}", _("明日から%(n)d日のうちのどの日でも") % {"n": n}) for n in DAY_CHOICES]
        if day is not None:
            label = _("%(month)d月%(day)d日だけ") % {"month": day.month, "day": day.day}
            choices.insert(0, ("day", label))
        self.fields["when"].choices = choices
        self.fields["when"].initial = choices[0][0]
        self.fields["email"].help_text = _("空きが出たときのご案内をこのアドレスへお送りします。")

    def clean(self) -> dict:
        data = super().clean()
        if not (data.get("email") or "").strip():
            self.add_error("email", _("空きのご案内をお送りするメールアドレスを入力してください。"))
        return data


def _join_problem(error: DomainError) -> str:
    for kind, name in (
        (SeatsFree, "seats_free"),
        (AlreadyWaiting, "already_waiting"),
        (DuplicateBooking, "duplicate"),
        (TooManyBookings, "too_many"),
        (InvalidRange, "range"),
        (Busy, "busy"),
    ):
        if isinstance(error, kind):
            return name
    return "other"


@views.private_page
@require_http_methods(["GET", "POST"])
@views.fair_share("booking")
def join(request: HttpRequest) -> HttpResponse:
    flow = views._flow(request)
    if (missing := views._missing_step(flow, "venue")) is not None:
        return views._back_to(missing)
    objects = views._objects(flow, with_venue=True)
    if objects is None:
        return views._back_to("procedure")
    day = parsing.date_or_none(request.POST.get("day") or request.GET.get("day"))
    form = JoinForm(views._posted(request), day=day, initial=flow.get("contact") or {})
    problem, status = "", 200
    if request.method == "POST" and form.is_valid():
        when = form.cleaned_data["when"]
        days = int(when.split(":")[1]) if when.startswith("days:") else None
        try:
            joined = waitlist.waitlist_join(
                venue=objects.venue,
                procedure=objects.procedure,
                first_day=None if days else day,
                days=days,
                contact=form.contact,
                answers=flow.get("answers") or {},
                now=clock.now(),
                language=views._language(),
            )
        except InvalidInput:
            problem, status = "other", 400
        except DomainError as error:
            problem = _join_problem(error)
            status = 503 if problem == "busy" else 409
        else:
            request.session[JOINED] = joined.secret
            return redirect("web:waitlist-joined")
    return render(
        request,
        "bookings/waitlist_join.html",
        {
            "form": form,
            "procedure": objects.procedure,
            "venue": objects.venue,
            "day": day,
            "problem": problem,
            "retention_days": settings.RETENTION_DAYS,
            "offer_minutes": settings.WAITLIST_OFFER_MINUTES,
        },
        status=status,
    )


@views.private_page
def joined(request: HttpRequest) -> HttpResponse:
    """The entry's private link, shown once (only its hash is kept)."""
    secret = request.session.pop(JOINED, None)
    entry = waitlist.entry_find(secret)
    if entry is None:
        return redirect("web:start")
    path = waitlist_path(secret)
    return render(
        request,
        "bookings/waitlist_joined.html",
        {
            "entry": entry,
            "position": waitlist.entry_position(entry),
            "page_path": path,
            "page_url": request.build_absolute_uri(path),
            "offer_minutes": settings.WAITLIST_OFFER_MINUTES,
        },
    )


@views.private_page
@require_http_methods(["GET", "POST"])
@views.fair_share("manage")
def entry_page(request: HttpRequest, secret: str) -> HttpResponse:
    entry = waitlist.entry_find(secret)
    if entry is None:
        return render(request, "bookings/not_found.html", status=404)
    now = clock.now()
    problem, status = "", 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "accept":
                created = waitlist.waitlist_accept(secret=secret, now=now)
                request.session.pop(views.FLOW, None)
                request.session[views.BOOKED] = {
                    "reference": created.booking.reference,
                    "token": created.token,
                }
                views._authorise(request, created.booking.reference)
                return redirect("web:book-done")
            if action == "leave":
                waitlist.waitlist_leave(secret=secret, now=now)
                return redirect(request.path)
            problem, status = "other", 400
        except NoOffer:
            problem, status = "no_offer", 409
        except NotFound:
            problem, status = "gone", 409
        except DomainError as error:
            problem = "busy" if isinstance(error, Busy) else "other"
            status = 503 if problem == "busy" else 409
        entry = waitlist.entry_find(secret) or entry
    offer = waitlist.entry_offer(entry, now=now)
    return render(
        request,
        "bookings/waitlist_entry.html",
        {
            "entry": entry,
            "offer": offer,
            "offer_end": offer.end if offer else None,
            "position": waitlist.entry_position(entry),
            "problem": problem,
            "can_leave": entry.state in ("waiting", "offered"),
            "ranged": entry.first_day != entry.last_day,
        },
        status=status,
    )
