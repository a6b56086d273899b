"""Admin for bookings and slots: the archive, the day's queue pages and the month overview.

Scoped by `venues.scoping` (through `VenueScopedAdmin`); status changes go through
`bookings.services` (transitions, undo, cancel), never through the form.
"""

from __future__ import annotations

import re
import unicodedata

from django.contrib import admin, messages
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from scheduler import clock, parsing
from scheduler.errors import DomainError
from scheduler.logs import redact_secrets
from venues.admin import VenueScopedAdmin, day_page_url, error_text

from .. import notifications, queue, seats, sms
from ..models import Booking, BookingEvent, Notification, Slot
from . import call_pages, pages, statistics_pages
from . import waitlist as _waitlist  # noqa: F401 - registers the waiting list's admin

# --- Bookings -----------------------------------------------------------------------------------


class BookingEventInline(admin.TabularInline):
    model = BookingEvent
    extra = 0
    can_delete = False
    fields = ["at_local", "from_label", "to_label", "actor", "actor_kind_label", "note_label"]
    readonly_fields = fields
    verbose_name = _("履歴")
    verbose_name_plural = _("状態の履歴（いつ・誰が・何から何へ）")

    @admin.display(description=_("日時"))
    def at_local(self, event: BookingEvent) -> str:
        return f"{clock.local(event.at):%Y-%m-%d %H:%M:%S}"

    @admin.display(description=_("変更前"))
    def from_label(self, event: BookingEvent) -> str:
        return str(Booking.Status(event.from_status).label) if event.from_status else str(_("（新規）"))

    @admin.display(description=_("変更後"))
    def to_label(self, event: BookingEvent) -> str:
        return str(Booking.Status(event.to_status).label)

    @admin.display(description=_("実施者の種別"))
    def actor_kind_label(self, event: BookingEvent) -> str:
        return str(ACTOR_KINDS.get(event.actor_kind, event.actor_kind))

    @admin.display(description=_("メモ"))
    def note_label(self, event: BookingEvent) -> str:
        return note_shown(event.note)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


ACTOR_KINDS = {"resident": _("ご本人"), "staff": _("職員"), "system": _("自動処理")}
LANGUAGES = {"ja": _("日本語"), "en": _("英語")}
EVENT_NOTES = {
    "check_in": _("受付"),
    "start": _("窓口へ"),
    "done": _("完了"),
    "no_show": _("来庁なし"),
    "undo": _("元に戻す"),
    "staff": _("職員が取消"),
    "system: no-show after the last window": _("自動: 受付時間の終了後も来庁なし"),
}
_RESCHEDULED = re.compile(r"^rescheduled from (\S+)$")


def note_shown(note: str) -> str:
    """An event's note for staff: the services' short codes in Japanese, other text as it is."""
    if note in EVENT_NOTES:
        return str(EVENT_NOTES[note])
    moved = _RESCHEDULED.match(note or "")
    if moved:
        when = parsing.moment_or_none(moved.group(1))
        shown = f"{clock.local(when):%Y-%m-%d %H:%M}" if when else moved.group(1)
        return str(_("日時を変更（変更前: %(when)s）")) % {"when": shown}
    return note or "—"


def _phone_or_reference(term: str) -> str:
    """A scanned URL becomes its reference; a typed phone number its digits (as stored)."""
    reference = pages.reference_in(term)
    if reference:
        return reference
    digits = pages.phone_in(term)
    return digits or unicodedata.normalize("NFKC", term)


@admin.register(Booking)
class BookingAdmin(VenueScopedAdmin):
    list_display = ["reference", "when", "venue", "procedure", "name", "status", "channel"]
    list_filter = [
        "status",
        "channel",
        ("venue", admin.RelatedOnlyFieldListFilter),
        ("start", admin.DateFieldListFilter),
        "procedure",
    ]
    search_fields = ["=reference", "name", "phone", "email"]
    search_help_text = _("予約番号（QRコードの読み取りも可）、氏名、電話番号、メールで検索")
    list_select_related = ["venue", "procedure"]
    ordering = ["-start", "-id"]
    list_per_page = 50
    fieldsets = [
        (None, {"fields": ["reference", "status", "channel", "venue", "procedure", "when", "slot_count"]}),
        (_("ご本人"), {"fields": ["name", "phone", "email", "language_label"]}),
        (_("確認事項への回答"), {"fields": ["answers_shown"]}),
        (_("記録"), {"fields": ["created_at", "updated_at", "erased_at"]}),
    ]
    readonly_fields = [
        "reference",
        "status",
        "channel",
        "venue",
        "procedure",
        "when",
        "slot_count",
        "name",
        "phone",
        "email",
        "language_label",
        "answers_shown",
        "created_at",
        "updated_at",
        "erased_at",
    ]
    inlines = [BookingEventInline]
    actions = ["check_in", "start_service", "mark_done", "mark_no_show", "undo_step", "export_csv"]

    @admin.display(description=_("日時"), ordering="start")
    def when(self, booking: Booking) -> str:
        start, end = clock.local(booking.start), clock.local(booking.end)
        return f"{start:%Y-%m-%d}（{'月火水木金土日'[start.weekday()]}） {start:%H:%M}–{end:%H:%M}"

    @admin.display(description=_("言語"))
    def language_label(self, booking: Booking) -> str:
        return str(LANGUAGES.get(booking.language, booking.language))

    @admin.display(description=_("確認事項への回答"))
    def answers_shown(self, booking: Booking) -> str:
        rows = pages.answers_shown(booking.answers)
        if not rows:
            return "—"
        return format_html_join(mark_safe("<br>"), "{}: {}", ((label, value) for label, value, _w in rows))

    # Search: a scanned QR (the reference) or a phone number typed with hyphens finds the booking.
    def get_search_results(self, request, queryset, search_term):
        return super().get_search_results(request, queryset, _phone_or_reference(search_term))

    # Pages: no free-form editing; the day page, the buttons and the services do the changes.
    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def add_view(self, request, form_url="", extra_context=None) -> HttpResponse:
        query = {k: v for k, v in request.GET.items() if k in ("venue", "date")}
        return HttpResponseRedirect(f"{reverse('admin:bookings_booking_book')}?{urlencode(query)}")

    def save_model(self, request, obj, form, change) -> None:
        """Nothing to save: every field is read-only (status changes are buttons)."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        booking = self.get_object(request, object_id)
        if booking is not None:
            extra_context["queue_actions"] = pages.actions_for(booking)
            extra_context["can_cancel"] = booking.status == Booking.Status.CONFIRMED
            extra_context["day_url"] = day_page_url(booking.venue, clock.local(booking.start).date())
        extra_context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("day/", wrap(self._day), name="bookings_booking_day"),
            path("day/print/", wrap(self._print), name="bookings_booking_day_print"),
            path("day/version/", wrap(self._version), name="bookings_booking_day_version"),
            path("book/", wrap(self._book), name="bookings_booking_book"),
            path("export/", wrap(self._export), name="bookings_booking_export"),
            path("<int:pk>/step/", wrap(self._step), name="bookings_booking_step"),
            path("day/counter/", wrap(self._counter), name="bookings_booking_counter"),
            path("day/call/", wrap(self._call_next), name="bookings_booking_call_next"),
            path("<int:pk>/call/", wrap(self._call), name="bookings_booking_call"),
            path("statistics/", wrap(self._statistics), name="bookings_booking_statistics"),
            *super().get_urls(),
        ]

    def _day(self, request):
        return pages.day_view(request, self)

    def _print(self, request):
        return pages.print_view(request, self)

    def _version(self, request):
        return pages.version_view(request, self)

    def _book(self, request):
        return pages.book_view(request, self)

    def _export(self, request):
        return pages.export_view(request, self)

    def _step(self, request, pk):
        return pages.step_view(request, self, pk)

    def _counter(self, request):
        return call_pages.counter_view(request, self)

    def _call_next(self, request):
        return call_pages.call_next_view(request, self)

    def _call(self, request, pk):
        return call_pages.call_view(request, self, pk)

    def _statistics(self, request):
        return statistics_pages.statistics_view(request, self)

    # Actions: the same services as the buttons, on the selected (and visible) bookings.
    def _bulk(self, request: HttpRequest, queryset: QuerySet[Booking], action: str) -> None:
        done, refused = 0, []
        now = clock.now()
        for booking in queryset.order_by("start", "id"):
            try:
                if action == "undo":
                    queue.booking_undo(booking=booking, now=now, actor=request.user)
                else:
                    queue.booking_transition(booking=booking, action=action, now=now, actor=request.user)
                done += 1
            except DomainError as error:
                refused.append(f"{booking.reference}（{booking.get_status_display()}）: {error_text(error)}")
        if done:
            self.message_user(request, _("%(n)d件を変更しました。") % {"n": done}, messages.SUCCESS)
        for line in refused[:20]:
            self.message_user(request, line, messages.ERROR)

    @admin.action(description=_("受付済みにする"), permissions=["change"])
    def check_in(self, request, queryset):
        self._bulk(request, queryset, "check_in")

    @admin.action(description=_("手続中にする（窓口へ）"), permissions=["change"])
    def start_service(self, request, queryset):
        self._bulk(request, queryset, "start")

    @admin.action(description=_("完了にする"), permissions=["change"])
    def mark_done(self, request, queryset):
        self._bulk(request, queryset, "done")

    @admin.action(description=_("来庁なしにする"), permissions=["change"])
    def mark_no_show(self, request, queryset):
        self._bulk(request, queryset, "no_show")

    @admin.action(description=_("直前の操作を元に戻す"), permissions=["change"])
    def undo_step(self, request, queryset):
        self._bulk(request, queryset, "undo")

    @admin.action(description=_("選択した予約をCSVで出力"), permissions=["view"])
    def export_csv(self, request, queryset):
        stamp = f"{clock.local(clock.now()):%Y%m%d-%H%M}"
        return pages.bookings_csv(pages.bookings_for_export(queryset), f"bookings-selected-{stamp}.csv")


# --- Slots --------------------------------------------------------------------------------------


class SeatsFilter(admin.SimpleListFilter):
    title = _("空き状況")
    parameter_name = "seats"

    def lookups(self, request, model_admin):
        return [("free", _("空きあり")), ("full", _("満席")), ("withdrawn", _("休止中"))]

    def queryset(self, request, queryset):
        if self.value() == "free":
            return queryset.filter(active=True, taken__lt=F("capacity"))
        if self.value() == "full":
            return queryset.filter(active=True, taken__gte=F("capacity"))
        if self.value() == "withdrawn":
            return queryset.filter(active=False)
        return queryset


@admin.register(Slot)
class SlotAdmin(VenueScopedAdmin):
    list_display = [
        "venue",
        "date",
        "hours",
        "window_label",
        "capacity",
        "reserved",
        "taken",
        "free",
        "active",
    ]
    list_display_links = None
    list_filter = [
        ("venue", admin.RelatedOnlyFieldListFilter),
        ("date", admin.DateFieldListFilter),
        SeatsFilter,
    ]
    list_select_related = ["venue", "window"]
    date_hierarchy = "date"
    ordering = ["date", "start", "venue__sort_order"]
    list_per_page = 100

    @admin.display(description=_("時間"), ordering="start")
    def hours(self, slot: Slot) -> str:
        url = f"{day_page_url(slot.venue, slot.date)}#s-{slot.pk}"
        return format_html(
            '<a href="{}">{}–{}</a>',
            url,
            f"{clock.local(slot.start):%H:%M}",
            f"{clock.local(slot.end):%H:%M}",
        )

    @admin.display(description=_("受付時間帯"))
    def window_label(self, slot: Slot) -> str:
        return slot.window.label

    @admin.display(description=_("空き"))
    def free(self, slot: Slot) -> int:
        return seats.seats_left(slot, online=False) if slot.active else 0

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # seats follow the windows (受付時間帯) and closures (休業)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("month/", wrap(self._month), name="bookings_slot_month"), *super().get_urls()]

    def _month(self, request):
        return pages.month_view(request, self)


# --- The outbox (read-only, for administrators) -------------------------------------------------


@admin.register(Notification)
class NotificationAdmin(VenueScopedAdmin):
    venue_path = "booking__venue"
    list_display = [
        "created_at",
        "booking",
        "kind",
        "channel",
        "state",
        "to_address_masked",
        "attempts",
        "sent_at",
    ]
    list_filter = ["kind", "channel", "state"]
    search_fields = ["=booking__reference"]
    list_select_related = ["booking"]
    fields = [
        "booking",
        "kind",
        "channel",
        "state",
        "language_label",
        "subject",
        "attempts",
        "note",
        "last_error",
        "sent_at",
        "message_text",
    ]
    readonly_fields = fields

    @admin.display(description=_("本文"))
    def message_text(self, notification: Notification) -> str:
        """The message as it goes (went) out, the manage link's token left out: the full text of the
        one line the console backend prints (scheduler/mail.py)."""
        person = notification.booking or notification.waitlist_entry
        if person is None or person.erased_at or not notification.to_address:
            return "—"
        if notification.channel == Notification.Channel.SMS:
            body = redact_secrets(sms.text_for(notification))
        else:
            body = redact_secrets(str(notifications.build_message(notification).body))
        return format_html('<pre class="message-text" style="white-space:pre-wrap">{}</pre>', body)

    @admin.display(description=_("言語"))
    def language_label(self, notification: Notification) -> str:
        return str(LANGUAGES.get(notification.language, notification.language))

    @admin.display(description=_("宛先"))
    def to_address_masked(self, notification: Notification) -> str:
        address = notification.to_address
        if address and notification.channel == Notification.Channel.SMS:
            return f"…{address[-4:]}"  # a phone number: its last four digits
        return re.sub(r"^(.).*(@.*)$", r"\1…\2", address) if address else "—"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
