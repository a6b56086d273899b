"""The day page's calls (issue 14, part 2): the clerk's counter number, 呼出 (the next one), and
呼出 / 再呼出 / 不在 on a row. Every change goes through `bookings.calls`; these views read the
form, report the result and go back to the day page with the row highlighted."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from scheduler import clock
from scheduler.errors import DomainError
from venues.admin import day_page_url, error_text
from venues.models import Venue

from .. import calls
from ..models import Booking, Call
from . import pages  # a module import: pages imports this module too (day_context)

SESSION_KEY = "call_counters"  # {venue code: counter number}: chosen once per venue and session
CALL_LABELS = {"call": "呼出", "recall": "再呼出", "not_here": "不在"}


def counter_of(request: HttpRequest, venue: Venue) -> int | None:
    """The clerk's counter at `venue` (from the session), or None before one is chosen."""
    value = (request.session.get(SESSION_KEY) or {}).get(venue.code)
    return value if isinstance(value, int) else None


def call_actions(booking: Booking, last: Call | None) -> list[tuple[str, str]]:
    """The one-click buttons of a checked-in row: 呼出 before a call (or after 不在), else 再呼出 and 不在."""
    if booking.status != Booking.Status.CHECKED_IN:
        return []
    if last is None or last.kind == Call.Kind.NOT_HERE:
        return [("call", CALL_LABELS["call"])]
    return [("recall", CALL_LABELS["recall"]), ("not_here", CALL_LABELS["not_here"])]


def counters_shown(queue: Any) -> int:
    """calls.counters_of from the slots the day page has read already (no query)."""
    largest = max((group.slot.capacity for group in queue.slot_rows if group.slot), default=0)
    return min(largest, calls.MAX_COUNTERS) if largest else calls.MAX_COUNTERS


def day_context(
    *, request: HttpRequest, venue: Venue, day: date, queue: Any, is_today: bool
) -> dict[str, Any]:
    """What the day page adds for calls: the counter, its choices, and each row's last call and
    buttons (today only; one query, for the calls)."""
    if not is_today:
        return {"calls_on": False}
    latest = calls.last_calls(venue=venue, day=day)
    for group in queue.slot_rows:
        for row in group.rows:
            row.call = latest.get(row.booking.pk)
            row.call_actions = call_actions(row.booking, row.call)
    waiting = sum(
        1
        for group in queue.slot_rows
        for row in group.rows
        if row.booking.status == Booking.Status.CHECKED_IN and row.call is None
    )
    return {
        "calls_on": True,
        "counter": counter_of(request, venue),
        "counter_choices": range(1, counters_shown(queue) + 1),
        "waiting_count": waiting,
    }


def _back(request: HttpRequest, venue: Venue) -> str:
    return pages.safe_next(request, day_page_url(venue, clock.today()))


@require_POST
def counter_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    """Keep the clerk's counter number for a venue in the session (chosen once)."""
    pages.require(request, model_admin.has_change_permission(request))
    venue = pages.pick_venue(pages.user_venues(request), request.POST.get("venue"))
    try:
        number = calls.counter_checked(venue=venue, day=clock.today(), counter=request.POST.get("counter"))
    except DomainError as error:
        messages.error(request, error_text(error))
    else:
        request.session[SESSION_KEY] = {**(request.session.get(SESSION_KEY) or {}), venue.code: number}
        messages.success(request, _("窓口番号を %(n)d番 にしました。") % {"n": number})
    return HttpResponseRedirect(_back(request, venue))


def _no_counter(request: HttpRequest) -> None:
    messages.error(request, _("先に窓口番号を選んでください。"))


def _called(request: HttpRequest, call: Call) -> None:
    booking = call.booking
    messages.success(
        request,
        _("%(ref)s %(name)s さんを %(n)d番窓口へ%(kind)sしました。")
        % {"ref": booking.reference, "name": booking.name, "n": call.counter, "kind": CALL_LABELS[call.kind]}
        if call.kind != Call.Kind.NOT_HERE
        else _("%(ref)s %(name)s さん: 不在にしました。") % {"ref": booking.reference, "name": booking.name},
    )


@require_POST
def call_next_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    """呼出: the next checked-in resident to the clerk's counter."""
    pages.require(request, model_admin.has_change_permission(request))
    venue = pages.pick_venue(pages.user_venues(request), request.POST.get("venue"))
    back = _back(request, venue)
    counter = counter_of(request, venue)
    if counter is None:
        _no_counter(request)
        return HttpResponseRedirect(back)
    try:
        call = calls.call_next(venue=venue, counter=counter, now=clock.now(), actor=request.user)
    except DomainError as error:
        messages.error(request, error_text(error))
        return HttpResponseRedirect(back)
    _called(request, call)
    return HttpResponseRedirect(pages.acted_on_url(back, call.booking.reference))


@require_POST
def call_view(request: HttpRequest, model_admin: admin.ModelAdmin, pk: int) -> HttpResponse:
    """呼出 / 再呼出 / 不在 on one row."""
    pages.require(request, model_admin.has_change_permission(request))
    booking = get_object_or_404(model_admin.get_queryset(request).select_related("venue"), pk=pk)
    back = _back(request, booking.venue)
    action = request.POST.get("action", "")
    now = clock.now()
    try:
        if action == "call":
            counter = counter_of(request, booking.venue)
            if counter is None:
                _no_counter(request)
                return HttpResponseRedirect(back)
            call = calls.call_booking(booking=booking, counter=counter, now=now, actor=request.user)
        elif action == "recall":
            call = calls.recall(booking=booking, now=now, actor=request.user)
        elif action == "not_here":
            call = calls.not_here(booking=booking, now=now, actor=request.user)
        else:
            messages.error(request, _("その操作はできません。"))
            return HttpResponseRedirect(back)
    except DomainError as error:
        messages.error(
            request, _("%(ref)s: %(error)s") % {"ref": booking.reference, "error": error_text(error)}
        )
        return HttpResponseRedirect(pages.acted_on_url(back, booking.reference))
    _called(request, call)
    return HttpResponseRedirect(pages.acted_on_url(back, booking.reference))
