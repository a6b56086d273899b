"""Staff: the waiting list of their venues, per venue and day (read-only; no secrets shown)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from scheduler import clock, parsing
from venues.admin import VenueScopedAdmin

from ..models import WaitlistEntry


class DayFilter(admin.SimpleListFilter):
    """Entries waiting for a given day (its range covers it): `?day=2026-12-14`."""

    title = _("希望日")
    parameter_name = "day"

    def lookups(self, request, model_admin):
        today = clock.today(clock.now())
        tomorrow = today.fromordinal(today.toordinal() + 1)
        return [(today.isoformat(), _("今日")), (tomorrow.isoformat(), _("明日"))]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        day = parsing.date_or_none(self.value())
        if day is None:
            return queryset
        return queryset.filter(first_day__lte=day, last_day__gte=day)


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(VenueScopedAdmin):
    list_display = ["created_local", "venue", "procedure", "days", "name", "reach", "state"]
    list_filter = ["state", ("venue", admin.RelatedOnlyFieldListFilter), DayFilter, "procedure"]
    search_fields = ["name", "phone", "email"]
    list_select_related = ["venue", "procedure"]
    ordering = ["venue__sort_order", "created_at", "id"]
    list_per_page = 100
    fields = [
        "venue",
        "procedure",
        "days",
        "state",
        "name",
        "phone",
        "email",
        "sms_opt_in",
        "language",
        "booking",
        "created_local",
        "erased_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("登録日時（並び順）"), ordering="created_at")
    def created_local(self, entry: WaitlistEntry) -> str:
        return f"{clock.local(entry.created_at):%Y-%m-%d %H:%M:%S}"

    @admin.display(description=_("希望期間"), ordering="first_day")
    def days(self, entry: WaitlistEntry) -> str:
        if entry.first_day == entry.last_day:
            return f"{entry.first_day:%Y-%m-%d}"
        return f"{entry.first_day:%Y-%m-%d}〜{entry.last_day:%Y-%m-%d}"

    @admin.display(description=_("連絡先"))
    def reach(self, entry: WaitlistEntry) -> str:
        return entry.email or entry.phone or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
