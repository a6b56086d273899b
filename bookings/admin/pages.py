"""Custom admin pages for running a venue's day: the day page (queue), its print view, walk-ins and
staff bookings, CSV export and the month overview.

Each page asks `venues.scoping` which venues the user may see, and every change goes through
`bookings.services`; these views only read, choose what to show and report the result.
"""

from __future__ import annotations

import calendar
import csv
import io
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from scheduler import clock, parsing
from scheduler.errors import DomainError
from venues.admin import day_page_url, error_text
from venues.calendar import closures_between, day_status, venue_calendar
from venues.models import Venue
from venues.scoping import scope, venues_for

from .. import eligibility, queue, rules, seats, selectors, services
from ..contact import normalize_phone
from ..models import Booking, Slot
from ..references import REFERENCE_ALPHABET, REFERENCE_LENGTH
from . import call_pages

Status = Booking.Status
ACTION_LABELS = {
    "check_in": "受付",
    "start": "窓口へ",
    "done": "完了",
    "no_show": "来庁なし",
    "undo": "元に戻す",
    "cancel": "取消",
}
# Short labels for the yes/no answers (the full questions are in bookings/eligibility.py).
ANSWER_LABELS = {
    "card_valid": "カード期限内",
    "chip_ok": "IC正常",
    "chip_has_space": "IC空きあり",
    "licence_suspended": "免許停止中",
    "card_only": "カードのみ",
    "signature_cert_valid": "署名証明書有効",
    "knows_signature_pin": "暗証番号把握",
}
QUEUE_TARGETS = {target for _sources, target in queue.TRANSITIONS.values()}
NEXT_STEPS = ("check_in", "start", "done")
REFRESH_SECONDS = 30  # the day page reloads itself this often (when nobody is typing)
POLL_SECONDS = 7  # and looks this often whether another counter changed the day
MAX_EXPORT_DAYS = 366
_REFERENCE = rf"[{REFERENCE_ALPHABET}]{{{REFERENCE_LENGTH}}}"
_REFERENCE_IN_URL = re.compile(rf"/BOOKING/({_REFERENCE})(?:[/?#]|$)")


# --- Small helpers ------------------------------------------------------------------------------


def reference_in(text: str) -> str | None:
    """The booking reference in what was typed or scanned: the reference itself, or a URL with it."""
    cleaned = unicodedata.normalize("NFKC", text or "").strip().upper()
    if "/" in cleaned:
        match = _REFERENCE_IN_URL.search(cleaned)
        return match.group(1) if match else None
    compact = re.sub(r"[\s\-]", "", cleaned)
    return compact if re.fullmatch(_REFERENCE, compact) else None


def phone_in(text: str) -> str | None:
    """Digits when the text looks like (part of) a phone number."""
    normalised = unicodedata.normalize("NFKC", text or "").strip()
    if re.fullmatch(r"[\d\s\-()+]{3,}", normalised):
        digits = normalize_phone(normalised)
        return digits if len(digits) >= 3 else None
    return None


def parse_day(raw: str | None, default: date) -> date:
    return parsing.date_or_none((raw or "").strip()) or default


def user_venues(request: HttpRequest) -> list[Venue]:
    return list(venues_for(request.user).order_by("sort_order", "code"))


def pick_venue(venues: list[Venue], code: str | None) -> Venue:
    """The requested venue if the user may see it (else 404), or the first of theirs."""
    if code:
        for venue in venues:
            if venue.code == code:
                return venue
        raise Http404("No such venue.")
    return venues[0]


def safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


def answers_shown(answers: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(label, はい/いいえ, rules the procedure out) for each stored answer."""
    shown = []
    for key, value in (answers or {}).items():
        question = eligibility.QUESTIONS.get(key)
        warn = question is not None and value is question.rules_out_when
        shown.append((ANSWER_LABELS.get(key, key), "はい" if value else "いいえ", warn))
    return shown


def actions_for(booking: Booking) -> list[tuple[str, str]]:
    """The queue steps the services allow from the booking's status, plus undo after a step."""
    allowed = [
        (action, ACTION_LABELS[action])
        for action, (sources, _target) in queue.TRANSITIONS.items()
        if booking.status in sources
    ]
    if booking.status in QUEUE_TARGETS:
        allowed.append(("undo", ACTION_LABELS["undo"]))
    return allowed


def render(
    request: HttpRequest,
    model_admin: admin.ModelAdmin,
    template: str,
    context: dict[str, Any],
    status: int = 200,
) -> TemplateResponse:
    base = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "app_label": model_admin.model._meta.app_label,
    }
    return TemplateResponse(request, template, {**base, **context}, status=status)


def require(request: HttpRequest, allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def no_venue_page(request: HttpRequest, model_admin: admin.ModelAdmin) -> TemplateResponse:
    return render(request, model_admin, "admin/bookings/no_venue.html", {"title": _("担当会場がありません")})


# --- The day page -------------------------------------------------------------------------------


@dataclass
class QueueRow:
    booking: Booking
    actions: list[tuple[str, str]]
    answers: list[tuple[str, str, bool]]
    call: Any = None  # the booking's last Call today (call_pages.day_context)
    call_actions: list[tuple[str, str]] = field(default_factory=list)  # 呼出 / 再呼出 / 不在

    @property
    def procedure_short(self) -> str:
        """The procedure's name without its explanation in brackets, to keep the row short."""
        return self.booking.procedure.name.split("（")[0]


@dataclass
class SlotRow:
    slot: Slot | None
    rows: list[QueueRow] = field(default_factory=list)
    held: int = 0  # seats kept by residents who are filling in the form

    @property
    def free(self) -> int:
        return seats.seats_left(self.slot, online=False) if self.slot and self.slot.active else 0

    @property
    def booked(self) -> int:
        return self.slot.taken - self.held if self.slot else 0


@dataclass
class DayQueue:
    venue: Venue
    day: date
    slot_rows: list[SlotRow]
    bookings: list[Booking]
    counts: list[tuple[str, str, int]]
    status: Any
    bookable: list[Any]  # seats.SlotView: times a clerk may still book
    version: str = ""  # selectors.day_version: the page reloads when it changes


def day_queue(*, venue: Venue, day: date, now: datetime, procedures: list | None = None) -> DayQueue:
    """Everything the day page shows, in a fixed number of queries (slots, bookings, holds, closures)."""
    procedures = procedures if procedures is not None else list(venue.procedures.all())
    data = selectors.day_data(venue=venue, day=day, now=now, procedures=procedures)
    by_slot: dict[int, list[Booking]] = defaultdict(list)
    for booking in data.bookings:
        by_slot[booking.slot_id].append(booking)
    slot_rows = []
    for slot in data.slots:
        rows = [QueueRow(b, actions_for(b), answers_shown(b.answers)) for b in by_slot.pop(slot.pk, [])]
        slot_rows.append(SlotRow(slot, rows, data.held.get(slot.pk, 0)))
    leftovers = [b for group in by_slot.values() for b in group]
    if leftovers:
        slot_rows.append(
            SlotRow(None, [QueueRow(b, actions_for(b), answers_shown(b.answers)) for b in leftovers])
        )
    tally = Counter(b.status for b in data.bookings)
    counts = [(value, str(label), tally.get(value, 0)) for value, label in Status.choices]
    status = day_status(day, closures_between(venue, day, day))
    return DayQueue(
        venue, day, slot_rows, data.bookings, counts, status, data.bookable, selectors.day_version_of(data)
    )


def lookup(*, request: HttpRequest, text: str) -> tuple[str | None, list[Booking]]:
    """Find bookings in the user's venues by reference (typed or scanned), phone or name."""
    reference = reference_in(text)
    found = selectors.bookings_find_for_staff(
        scope(Booking.objects.all(), request.user), reference=reference, digits=phone_in(text), text=text
    )
    return (reference if found and found[0].reference == reference else None), found


def day_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    require(request, model_admin.has_view_permission(request))
    venues = user_venues(request)
    if not venues:
        return no_venue_page(request, model_admin)
    now = clock.now()
    today = clock.today(now)
    venue = pick_venue(venues, request.GET.get("venue"))
    day = parse_day(request.GET.get("date"), today)

    query = parsing.text(request.GET.get("q"), max_length=200)
    results: list[Booking] | None = None
    if query:
        reference, results = lookup(request=request, text=query)
        if reference and len(results) == 1:
            hit = results[0]
            url = day_page_url(hit.venue, clock.local(hit.start).date())
            # go=1: the row opens with its next step's button focused (scan, Enter, Enter). No
            # #fragment: a browser skips `autofocus` on a page opened at one; the focus scrolls.
            query = urlencode({"hl": hit.reference, "go": 1})
            return HttpResponseRedirect(f"{url}&{query}")

    procedures = list(venue.procedures.all())
    queue = day_queue(venue=venue, day=day, now=now, procedures=procedures)
    highlight = reference_in(request.GET.get("hl", "")) or ""
    focus = next_step_of(queue, highlight) if request.GET.get("go") == "1" else None
    day_url = day_page_url(venue, day)
    context = {
        "title": _("%(venue)s の窓口 %(day)s") % {"venue": venue.name, "day": f"{day:%Y-%m-%d}"},
        "queue": queue,
        "venue": venue,
        "venues": venues,
        "day": day,
        "today": today,
        "now": now,
        "is_today": day == today,
        "is_past": day < today,
        "prev_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1),
        "weekday": "月火水木金土日"[day.weekday()],
        "procedures": procedures,
        "query": query,
        "results": results,
        "highlight": highlight,
        "focus": focus,  # (reference, action) of the button that gets the focus, else the look-up box
        "can_change": model_admin.has_change_permission(request),
        "can_add": request.user.has_perm("bookings.add_booking"),
        "can_close": request.user.has_perm("venues.add_closure"),
        "back": day_url,
        "day_url": day_url,
        "refresh_url": f"{day_url}&{urlencode({'hl': highlight})}" if highlight else day_url,
        "version": queue.version,
        "version_url": reverse("admin:bookings_booking_day_version")
        + "?"
        + urlencode({"venue": venue.code, "date": day.isoformat()}),
        "refresh_seconds": REFRESH_SECONDS,
        "poll_seconds": POLL_SECONDS,
        **call_pages.day_context(request=request, venue=venue, day=day, queue=queue, is_today=day == today),
    }
    return render(request, model_admin, "admin/bookings/day.html", context)


def next_step_of(queue: DayQueue, reference: str) -> tuple[str, str] | None:
    """(reference, action) of the row's next forward step (check in, start, done), never undo or
    no-show: pressing Enter on it after a scan moves the person on."""
    for group in queue.slot_rows:
        for row in group.rows:
            if row.booking.reference == reference:
                forward = [action for action, _label in row.actions if action in NEXT_STEPS]
                return (reference, forward[0]) if forward else None
    return None


def version_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    """The day's fingerprint as JSON, polled by the day page to reload when something changed."""
    require(request, model_admin.has_view_permission(request))
    venues = user_venues(request)
    if not venues:
        raise Http404("No venue.")
    venue = pick_venue(venues, request.GET.get("venue"))
    day = parse_day(request.GET.get("date"), clock.today())
    response = JsonResponse({"version": selectors.day_version(venue=venue, day=day)})
    response["Cache-Control"] = "no-store"
    return response


def print_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    require(request, model_admin.has_view_permission(request))
    venues = user_venues(request)
    if not venues:
        return no_venue_page(request, model_admin)
    now = clock.now()
    venue = pick_venue(venues, request.GET.get("venue"))
    day = parse_day(request.GET.get("date"), clock.today(now))
    queue = day_queue(venue=venue, day=day, now=now)
    context = {
        "queue": queue,
        "venue": venue,
        "day": day,
        "weekday": "月火水木金土日"[day.weekday()],
        "now": now,
    }
    return TemplateResponse(request, "admin/bookings/day_print.html", context)


@require_POST
def step_view(request: HttpRequest, model_admin: admin.ModelAdmin, pk: int) -> HttpResponse:
    """One queue step on one booking (check in, start, done, no-show, undo, cancel)."""
    require(request, model_admin.has_change_permission(request))
    booking = get_object_or_404(model_admin.get_queryset(request).select_related("venue"), pk=pk)
    action = request.POST.get("action", "")
    now = clock.now()
    fallback = day_page_url(booking.venue, clock.local(booking.start).date())
    try:
        if action == "undo":
            changed = queue.booking_undo(booking=booking, now=now, actor=request.user)
        elif action == "cancel":
            changed = services.booking_cancel(booking=booking, now=now, actor=request.user, note="staff")
        elif action in queue.TRANSITIONS:
            changed = queue.booking_transition(booking=booking, action=action, now=now, actor=request.user)
        else:
            raise Http404("Unknown action.")
        messages.success(
            request,
            _("%(ref)s %(name)s さん: %(status)s")
            % {
                "ref": changed.reference,
                "name": changed.name,
                "status": changed.get_status_display(),
            },
        )
    except DomainError as error:
        messages.error(
            request,
            _("%(ref)s（%(status)s）: %(error)s")
            % {"ref": booking.reference, "status": booking.get_status_display(), "error": error_text(error)},
        )
    return HttpResponseRedirect(acted_on_url(safe_next(request, fallback), booking.reference))


def acted_on_url(target: str, reference: str) -> str:
    """The page the step came from, with the row just acted on highlighted and scrolled to (and
    without a look-up or the scan's focus, so that the focus is back in the look-up box)."""
    base, _sep, query = target.split("#")[0].partition("?")
    params = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in ("hl", "go", "q")]
    if base.rstrip("/").endswith("/day"):
        params.append(("hl", reference))
    return f"{base}?{urlencode(params)}#b-{reference}" if params else f"{base}#b-{reference}"


# --- Walk-ins and staff bookings ----------------------------------------------------------------


def book_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    """GET: choose a seat of a day; POST: book it as a walk-in (today) or a staff booking."""
    require(request, request.user.has_perm("bookings.add_booking"))
    venues = user_venues(request)
    if not venues:
        return no_venue_page(request, model_admin)
    now = clock.now()
    today = clock.today(now)
    data = request.POST if request.method == "POST" else request.GET
    venue = pick_venue(venues, data.get("venue"))
    day = parse_day(data.get("date"), today)
    procedures = list(venue.procedures.all())
    error = None
    status = 200
    if request.method == "POST":
        procedure = next((p for p in procedures if p.code == data.get("procedure")), None)
        start = parsing.moment_or_none(data.get("start"))
        channel = data.get("channel") or rules.staff_channel_for(day, today)
        if procedure is None or start is None:
            error, status = _("手続と時刻を選んでください。"), 400
        else:
            try:
                created = services.booking_create_by_staff(
                    venue=venue,
                    procedure=procedure,
                    start=start,
                    name=data.get("name", ""),
                    phone=data.get("phone", ""),
                    email=data.get("email", ""),
                    channel=channel,
                    now=now,
                    actor=request.user,
                )
            except DomainError as problem:
                error, status = error_text(problem), problem.status
            else:
                booking = created.booking
                messages.success(
                    request,
                    _("%(channel)sを登録しました: %(ref)s %(name)s さん %(time)s（%(procedure)s）")
                    % {
                        "channel": booking.get_channel_display(),
                        "ref": booking.reference,
                        "name": booking.name,
                        "time": f"{clock.local(booking.start):%m/%d %H:%M}",
                        "procedure": procedure.name,
                    },
                )
                url = day_page_url(venue, clock.local(booking.start).date())
                return HttpResponseRedirect(
                    f"{url}&{urlencode({'hl': booking.reference})}#b-{booking.reference}"
                )
    chosen = next((p for p in procedures if p.code == data.get("procedure")), None)
    slots = selectors.staff_starts(
        venue=venue, procedures=[chosen] if chosen else procedures, day=day, now=now
    )
    channel = data.get("channel") or rules.staff_channel_for(day, today)
    context = {
        "title": _("当日受付・職員予約"),
        "venue": venue,
        "venues": venues,
        "day": day,
        "today": today,
        "procedures": procedures,
        "slots": slots,
        "channel": channel,
        "channels": [
            (Booking.Channel.WALK_IN, Booking.Channel.WALK_IN.label),
            (Booking.Channel.STAFF, Booking.Channel.STAFF.label),
        ],
        "form": data,
        "error": error,
        "day_url": day_page_url(venue, day),
    }
    return render(request, model_admin, "admin/bookings/book.html", context, status=status)


# --- CSV export ---------------------------------------------------------------------------------

CSV_HEADER = [
    "日付",
    "開始",
    "終了",
    "会場",
    "予約番号",
    "氏名",
    "電話番号",
    "メール",
    "手続",
    "状態",
    "受付方法",
    "確認事項への回答",
    "登録日時",
]


def _cell(value: Any) -> str:
    """Text as Excel should show it: a leading = + - @ would start a formula, so it is quoted."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _as_text(digits: str) -> str:
    """A phone number as Excel keeps it: `="0265220001"` is text, so the leading zero stays (a
    bare 0265220001 becomes the number 265220001). The phone is digits only, never a formula."""
    return f'="{digits}"' if digits and digits.isdigit() else _cell(digits)


def bookings_csv(bookings: Iterable[Booking], filename: str) -> HttpResponse:
    """UTF-8 with a BOM, so that Excel opens the Japanese text correctly; phones as text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for booking in bookings:
        start, end = clock.local(booking.start), clock.local(booking.end)
        answers = "; ".join(f"{label}: {value}" for label, value, _warn in answers_shown(booking.answers))
        cells = [
            _cell(value)
            for value in (
                f"{start:%Y-%m-%d}",
                f"{start:%H:%M}",
                f"{end:%H:%M}",
                booking.venue.name,
                booking.reference,
                booking.name,
                booking.phone,
                booking.email,
                booking.procedure.name,
                booking.get_status_display(),
                booking.get_channel_display(),
                answers,
                f"{clock.local(booking.created_at):%Y-%m-%d %H:%M}",
            )
        ]
        cells[CSV_HEADER.index("電話番号")] = _as_text(booking.phone)
        writer.writerow(cells)
    response = HttpResponse(
        ("\ufeff" + buffer.getvalue()).encode("utf-8"), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def export_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    """?venue=<code>&from=YYYY-MM-DD&to=YYYY-MM-DD (a day or a range; all of one's venues without venue)."""
    require(request, model_admin.has_view_permission(request))
    venues = user_venues(request)
    if not venues:
        return no_venue_page(request, model_admin)
    today = clock.today()
    first = parse_day(request.GET.get("from") or request.GET.get("date"), today)
    last = parse_day(request.GET.get("to"), first)
    if last < first or (last - first).days + 1 > MAX_EXPORT_DAYS:
        return HttpResponse(_("期間が正しくありません（最大366日）。"), status=400, content_type="text/plain")
    bookings = scope(Booking.objects.all(), request.user)
    code = request.GET.get("venue")
    label = "all"
    if code:
        venue = pick_venue(venues, code)
        bookings, label = bookings.filter(venue=venue), venue.code
    bookings = (
        bookings.filter(start__gte=clock.at_jst(first), start__lt=clock.at_jst(last + timedelta(days=1)))
        .select_related("venue", "procedure")
        .order_by("start", "venue__sort_order", "id")
    )
    span = first.isoformat() if first == last else f"{first.isoformat()}_{last.isoformat()}"
    return bookings_csv(bookings, f"bookings-{label}-{span}.csv")


# --- Month overview -----------------------------------------------------------------------------


@dataclass
class MonthCell:
    day: date
    in_month: bool
    open: bool = False
    reason: str = ""
    taken: int = 0  # seats of bookings
    held: int = 0  # seats kept for residents filling in the form
    capacity: int = 0
    url: str = ""

    @property
    def percent(self) -> int:
        return round(100 * (self.taken + self.held) / self.capacity) if self.capacity else 0


def month_days(venue: Venue, year: int, month: int, now: datetime) -> list[list[MonthCell]]:
    """Weeks (Monday first) with seats taken / capacity per day (held seats apart), in three queries."""
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
    first, last = weeks[0][0], weeks[-1][-1]
    totals = selectors.seat_totals_by_day(venue=venue, first=first, last=last, now=now)
    statuses = {status.date: status for status in venue_calendar(venue, first, last)}
    out = []
    for week in weeks:
        row = []
        for day in week:
            status = statuses[day]
            total = totals.get(day, {})
            held = total.get("held") or 0
            row.append(
                MonthCell(
                    day=day,
                    in_month=day.month == month,
                    open=status.open,
                    reason=status.note if not status.open or status.note else "",
                    taken=(total.get("taken") or 0) - held,
                    held=held,
                    capacity=total.get("capacity") or 0,
                    url=day_page_url(venue, day),
                )
            )
        out.append(row)
    return out


def month_view(request: HttpRequest, model_admin: admin.ModelAdmin) -> HttpResponse:
    require(request, model_admin.has_view_permission(request))
    venues = user_venues(request)
    if not venues:
        return no_venue_page(request, model_admin)
    venue = pick_venue(venues, request.GET.get("venue"))
    today = clock.today()
    chosen = parsing.month_or_none(request.GET.get("month")) or today.replace(day=1)
    year, month = chosen.year, chosen.month
    start = date(year, month, 1)
    prev_month = (start - timedelta(days=1)).replace(day=1)
    next_month = (start + timedelta(days=32)).replace(day=1)
    weeks = month_days(venue, year, month, clock.now())
    in_month = [cell for week in weeks for cell in week if cell.in_month]
    context = {
        "title": _("%(venue)s の月の予定 %(year)d年%(month)d月")
        % {"venue": venue.name, "year": year, "month": month},
        "venue": venue,
        "venues": venues,
        "weeks": weeks,
        "month": start,
        "prev_month": f"{prev_month:%Y-%m}",
        "next_month": f"{next_month:%Y-%m}",
        "this_month": f"{today:%Y-%m}",
        "today": today,
        "weekdays": list("月火水木金土日"),
        "total_taken": sum(cell.taken for cell in in_month),
        "total_held": sum(cell.held for cell in in_month),
        "total_capacity": sum(cell.capacity for cell in in_month),
        "slots_url": reverse("admin:bookings_slot_changelist"),
    }
    return render(request, model_admin, "admin/bookings/month.html", context)


def bookings_for_export(queryset: QuerySet[Booking]) -> QuerySet[Booking]:
    return queryset.select_related("venue", "procedure").order_by("start", "id")
