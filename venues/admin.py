"""Admin for venues, windows (counters, seats kept for staff), closures, staff venues and the audit.

Every list, page, search, autocomplete and action is scoped by `venues.scoping.venues_for`;
every write goes through a service (venues/services.py, venues/planning.py).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.apps import apps as django_apps
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from scheduler import clock
from scheduler.errors import CapacityBelowTaken, DomainError, InvalidInput

from . import display, planning, staff
from . import services as venue_services
from .models import AuditEntry, Closure, Procedure, ReceptionWindow, StaffMembership, Venue
from .scoping import has_any_venue, is_prefecture_admin, scope, venues_for

admin.site.site_header = _("マイナ免許証 窓口予約 管理")
admin.site.site_title = _("窓口予約 管理")
admin.site.index_title = _("窓口の管理")
# django-axes names its app "Axes" (its model and field names: locale/ja/LC_MESSAGES/django.po).
django_apps.get_app_config("axes").verbose_name = _("ログインの記録（不正ログイン対策）")

NO_VENUE_MESSAGE = _(
    "担当会場が設定されていないため、表示できるものはありません。県管理者に担当会場の登録を依頼してください。"
)

# Japanese wording for the domain errors the admin can meet (the API keeps its English details).
ERROR_TEXT = {
    "slot_full": _("この枠は満席です。"),
    "invalid_transition": _("今の状態からはその操作はできません。"),
    "not_the_visit_day": _("受付は来庁日（%(visit_day)s）の当日だけできます。"),
    "no_show_too_early": _("「来庁なし」にできるのは予約の時間が終わってからです（%(allowed_from)s以降）。"),
    "not_active": _("この予約はすでに有効ではありません。"),
    "outside_booking_window": _("その時刻はすでに終わっています。"),
    "no_such_slot": _("その時刻に始まる受付枠がありません（休止中か、その手続を受け付けていない枠です）。"),
    "procedure_not_offered": _("この会場ではその手続を取り扱っていません。"),
    "duplicate_booking": _("この方は同じ手続の有効な予約をすでに持っています。"),
    "busy": _("混み合っています。もう一度お試しください。"),
    "not_found": _("予約が見つかりません。"),
    "nothing_waiting": _("呼び出せる方（受付済みで、まだ呼び出していない方）がいません。"),
    "not_checked_in": _("呼び出せるのは受付済みの方だけです。"),
    "not_called": _("まだ呼び出していません。"),
    "call_not_today": _("呼び出せるのは今日の予約だけです。"),
    "invalid_counter": _("窓口番号が正しくありません（%(low)s〜%(high)s）。"),
}

FIELD_LABELS = {"name": _("氏名"), "phone": _("電話番号"), "email": _("メール"), "start": _("時刻")}


def error_text(error: DomainError) -> str:
    """A message for staff: the service's own Japanese detail, or the code's Japanese wording."""
    if isinstance(error, InvalidInput):
        parts = []
        for field, problems in error.fields.items():
            label = FIELD_LABELS.get(field.split(".")[-1], field)
            parts.append(f"{label}: {' '.join(problems)}")
        return " / ".join(parts) or str(error.detail)
    if isinstance(error, CapacityBelowTaken):
        return str(error.detail)
    if error.code in ERROR_TEXT:
        return str(ERROR_TEXT[error.code]) % error.extra  # the error's details fill the wording
    return str(error.detail)


def day_page_url(venue: Venue, day: Any = None) -> str:
    query = {"venue": venue.code}
    if day is not None:
        query["date"] = day.isoformat()
    return f"{reverse('admin:bookings_booking_day')}?{urlencode(query)}"


class VenueScopedAdmin(admin.ModelAdmin):
    """Lists, pages, searches, autocomplete and actions see only the user's venues."""

    venue_path = "venue"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope(super().get_queryset(request), request.user, self.venue_path)

    def response_action(self, request: HttpRequest, queryset: QuerySet):
        """A selection that is not a list of row ids (a forged or garbled form) is refused."""
        selected = request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
        if any(not value.isdigit() or len(value) > 18 for value in selected):
            self.message_user(request, _("選択された行が正しくありません。"), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.related_model is Venue:
            kwargs["queryset"] = venues_for(request.user).order_by("sort_order", "code")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if request.method == "GET" and not has_any_venue(request.user):
            self.message_user(request, NO_VENUE_MESSAGE, messages.WARNING)
        return super().changelist_view(request, extra_context)


class ServiceErrorsAdmin(admin.ModelAdmin):
    """A domain error raised by a service while saving becomes a message, never a 500."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            self.message_user(request, error_text(error), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as error:
            self.message_user(request, error_text(error), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


AUDIT_MODELS = {"window": ReceptionWindow, "closure": Closure, "venue": Venue}
AUDIT_ACTIONS = {"add": _("追加"), "change": _("変更"), "remove": _("削除")}


def audit_changes_shown(entry: AuditEntry) -> list[tuple[str, Any, Any]]:
    """(field label, before, after) with the model's Japanese field names."""
    model = AUDIT_MODELS.get(entry.object_type)
    shown = []
    for key, before, after in venue_services.audit_changes(entry):
        try:
            label = str(model._meta.get_field(key).verbose_name) if model else key
        except FieldDoesNotExist:
            label = key
        shown.append((label, before, after))
    return shown


class AuditOnPageAdmin(admin.ModelAdmin):
    """Shows the object's audit rows (who, when, before → after) under its form."""

    audit_object_type = ""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        entries = (
            AuditEntry.objects.filter(object_type=self.audit_object_type, object_id=str(object_id))
            .select_related("actor")
            .order_by("-at", "-id")[:100]
        )
        extra_context["audit_rows"] = [
            (entry, AUDIT_ACTIONS.get(entry.action, entry.action), audit_changes_shown(entry))
            for entry in entries
        ]
        return super().change_view(request, object_id, form_url, extra_context)


# --- Procedures and venues -------------------------------------------------------------------


@admin.register(Procedure)
class ProcedureAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "duration_minutes", "sort_order"]
    search_fields = ["name", "name_en", "code"]
    ordering = ["sort_order", "code"]


@admin.register(Venue)
class VenueAdmin(VenueScopedAdmin):
    venue_path = "pk"
    list_display = ["name", "kind", "area", "city", "phone", "phone_verified", "is_active", "queue_links"]
    list_filter = ["kind", "area", "is_active"]
    search_fields = ["name", "name_en", "code", "city"]
    filter_horizontal = ["procedures"]
    fieldsets = [
        (None, {"fields": ["name", "name_en", "code", "kind", "area", "parent", "is_active", "sort_order"]}),
        (_("連絡先"), {"fields": ["city", "address", "phone", "phone_verified"]}),
        (_("手続"), {"fields": ["procedures"]}),
        (
            _("オンライン予約の受付期間"),
            {"fields": ["horizon_days", "cutoff_days_before", "cutoff_time", "hold_minutes"]},
        ),
        (_("待合室の呼出表示"), {"fields": ["display_link_state"]}),
    ]
    readonly_fields = ["display_link_state"]
    actions = ["display_link_renew"]

    @admin.display(description=_("表示用リンク"))
    def display_link_state(self, venue: Venue) -> str:
        if not venue.display_secret_hash or venue.display_secret_renewed_at is None:
            return str(_("未発行（一覧の操作「呼出表示のリンクを発行・更新」で発行します）"))
        issued = clock.local(venue.display_secret_renewed_at)
        return str(_("発行済み（%(at)s）。リンクは発行したときに一度だけ表示されます。")) % {
            "at": f"{issued:%Y-%m-%d %H:%M}"
        }

    def has_display_permission(self, request: HttpRequest) -> bool:
        """Only prefecture administrators issue or renew a display link."""
        return is_prefecture_admin(request.user)

    @admin.action(description=_("呼出表示のリンクを発行・更新"), permissions=["display"])
    def display_link_renew(self, request: HttpRequest, queryset: QuerySet[Venue]) -> HttpResponse:
        """A new secret link per selected venue (the old one stops working), shown this once."""
        now = clock.now()
        links = []
        for venue in queryset.order_by("sort_order", "code"):
            key = display.display_secret_renew(venue=venue, now=now, actor=request.user)
            path = reverse("web:display", args=[venue.code])
            links.append((venue, request.build_absolute_uri(f"{path}?{urlencode({'k': key})}")))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("呼出表示のリンク"),
            "links": links,
        }
        return TemplateResponse(request, "admin/venues/venue/display_links.html", context)  # never cached

    @admin.display(description=_("窓口"))
    def queue_links(self, venue: Venue) -> str:
        month = f"{reverse('admin:bookings_slot_month')}?{urlencode({'venue': venue.code})}"
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            day_page_url(venue),
            _("今日の窓口"),
            month,
            _("月の予定"),
        )

    def save_model(self, request, obj, form, change) -> None:
        venue_services.venue_save(venue=obj, actor=request.user)


# --- Reception windows: counters, seats kept for staff, add or end from a date ------------------


class WindowForm(forms.ModelForm):
    class Meta:
        model = ReceptionWindow
        fields = [
            "venue",
            "label",
            "weekdays",
            "start",
            "end",
            "slot_minutes",
            "counters",
            "reserved",
            "procedures",
            "valid_from",
            "valid_until",
        ]
        widgets = {"procedures": forms.CheckboxSelectMultiple}

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors or self.instance.pk is None:
            return
        conflicts = planning.window_conflicts(window=self.instance, now=clock.now())
        if conflicts:
            self.add_error(
                None,
                _("次の枠はすでに予約があり、この変更では席が足りません: %(slots)s")
                % {"slots": planning.slots_described(conflicts)},
            )


@admin.register(ReceptionWindow)
class ReceptionWindowAdmin(ServiceErrorsAdmin, AuditOnPageAdmin, VenueScopedAdmin):
    form = WindowForm
    audit_object_type = "window"
    list_display = [
        "venue",
        "label",
        "hours",
        "weekdays",
        "counters",
        "reserved",
        "valid_from",
        "valid_until",
    ]
    list_display_links = ["venue", "label"]
    list_filter = [("venue", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["venue__name", "label"]
    ordering = ["venue__sort_order", "start"]
    fieldsets = [
        (None, {"fields": ["venue", "label", "weekdays", "start", "end", "slot_minutes"]}),
        (
            _("窓口数と職員用の席"),
            {
                "fields": ["counters", "reserved"],
                "description": _(
                    "窓口数が各枠の席数になります。変更は今後の枠にすぐ反映されます。"
                    "職員用の席はオンライン予約に出さず、当日受付と職員予約に使います。"
                ),
            },
        ),
        (_("手続"), {"fields": ["procedures"]}),
        (
            _("適用期間"),
            {
                "fields": ["valid_from", "valid_until"],
                "description": _(
                    "ある日から時間帯を追加するときは適用開始日を、終了するときは適用終了日（最後の日）を入れます。"
                ),
            },
        ),
    ]

    @admin.display(description=_("時間"))
    def hours(self, window: ReceptionWindow) -> str:
        return f"{window.start:%H:%M}–{window.end:%H:%M}"

    def get_readonly_fields(self, request, obj=None):
        return ["venue"] if obj is not None else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a window ends with 適用終了日: its past slots and bookings keep pointing at it

    def save_model(self, request, obj, form, change) -> None:
        planning.window_save(
            window=obj, actor=request.user, now=clock.now(), procedures=form.cleaned_data.get("procedures")
        )

    def save_related(self, request, form, formsets, change) -> None:
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)  # procedures were set by the service


# --- Closures ----------------------------------------------------------------------------------


class ClosureForm(forms.ModelForm):
    confirm_cancel = forms.BooleanField(
        label=_("予約の取消を確認しました"),
        required=False,
        help_text=_("休業にかかる予約がある場合は、会場都合で取り消され、ご本人に連絡が行きます。"),
    )

    class Meta:
        model = Closure
        fields = ["venue", "start_date", "end_date", "start_time", "end_time", "note"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "end_date" in self.fields:
            self.fields["end_date"].required = False
            self.fields["end_date"].help_text = _("1日だけなら空のままで構いません")
        for name in ("start_time", "end_time"):
            if name in self.fields:
                self.fields[name].help_text = _(
                    "一日の一部だけ休むとき（例: 13:00〜17:00）。終日なら空のまま"
                )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("start_date") and not data.get("end_date"):
            data["end_date"] = data["start_date"]
        return data

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors or not self.instance.venue_id:
            return
        affected = planning.closure_bookings(closure=self.instance, now=clock.now())
        if affected and not self.cleaned_data.get("confirm_cancel"):
            self.to_confirm = affected  # shown as a confirmation (ClosureAdmin), not as an error
            listed = "、".join(
                f"{clock.local(b.start):%m/%d %H:%M} {b.reference} {b.name}" for b in affected[:20]
            )
            more = _(" ほか%(n)d件") % {"n": len(affected) - 20} if len(affected) > 20 else ""
            self.add_error(
                "confirm_cancel",
                _(
                    "この休業で%(n)d件の予約が会場都合で取り消されます: %(list)s%(more)s。"
                    "よろしければチェックしてください。"
                )
                % {"n": len(affected), "list": listed, "more": more},
            )


@admin.register(Closure)
class ClosureAdmin(ServiceErrorsAdmin, AuditOnPageAdmin, VenueScopedAdmin):
    form = ClosureForm
    audit_object_type = "closure"
    list_display = ["venue", "start_date", "end_date", "hours", "note", "created_at"]
    list_display_links = ["venue", "start_date"]
    list_filter = [("venue", admin.RelatedOnlyFieldListFilter), "start_date"]
    search_fields = ["venue__name", "note"]
    date_hierarchy = "start_date"
    fields = ["venue", "start_date", "end_date", "start_time", "end_time", "note", "confirm_cancel"]

    @admin.display(description=_("時間"))
    def hours(self, closure: Closure) -> str:
        return f"{closure.start_time:%H:%M}–{closure.end_time:%H:%M}" if closure.start_time else _("終日")

    def get_readonly_fields(self, request, obj=None):
        return ["venue"] if obj is not None else []

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        """Bookings inside the closure: a confirmation to tick (neutral), not a red form error."""
        form = context["adminform"].form
        to_confirm = getattr(form, "to_confirm", None)
        if to_confirm and set(form.errors) == {"confirm_cancel"}:
            del form.errors["confirm_cancel"]
            context["errors"] = []
            context["closure_to_confirm"] = to_confirm
        return super().render_change_form(request, context, add, change, form_url, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        closure = self.get_object(request, object_id)
        if closure is not None:
            extra_context["people_to_phone"] = planning.closure_people_to_phone(closure=closure)
            extra_context["phone_list_url"] = reverse("admin:venues_closure_phone", args=[closure.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/phone/", wrap(self._phone_list), name="venues_closure_phone"),
            *super().get_urls(),
        ]

    def _phone_list(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The people to phone, printable on its own (A4, no admin chrome)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        closure = get_object_or_404(self.get_queryset(request).select_related("venue"), pk=pk)
        context = {
            "closure": closure,
            "hours": self.hours(closure),
            "people": planning.closure_people_to_phone(closure=closure),
            "now": clock.now(),
        }
        return TemplateResponse(request, "admin/venues/closure/phone_list.html", context)

    def save_model(self, request, obj, form, change) -> None:
        result = planning.closure_save(closure=obj, actor=request.user, now=clock.now())
        request.closure_to_phone = bool(result.to_phone)
        if result.cancelled:
            self.message_user(
                request,
                _("%(n)d件の予約を会場都合で取り消しました（メールで連絡: %(mail)d件）。")
                % {"n": len(result.cancelled), "mail": len(result.cancelled) - len(result.to_phone)},
                messages.WARNING,
            )
        if result.to_phone:
            people = format_html_join(
                "、", "{} {} {}", ((b.reference, b.name, b.phone or "—") for b in result.to_phone)
            )
            self.message_user(
                request,
                format_html("{} {}", _("メールのない方には電話で連絡してください:"), people),
                messages.WARNING,
            )

    def _back_to_the_day(self, request, obj, response: HttpResponse) -> HttpResponse:
        """After "save", show the day the closure starts on (its cancelled bookings, its note), or
        the closure's own page when people must be phoned (the list stays there)."""
        if any(key in request.POST for key in ("_continue", "_addanother", IS_POPUP_VAR)):
            return response
        if getattr(request, "closure_to_phone", False):
            return HttpResponseRedirect(f"{reverse('admin:venues_closure_change', args=[obj.pk])}#to-phone")
        return HttpResponseRedirect(day_page_url(obj.venue, obj.start_date))

    def response_add(self, request, obj, post_url_continue=None) -> HttpResponse:
        return self._back_to_the_day(request, obj, super().response_add(request, obj, post_url_continue))

    def response_change(self, request, obj) -> HttpResponse:
        return self._back_to_the_day(request, obj, super().response_change(request, obj))

    def delete_model(self, request, obj) -> None:
        planning.closure_remove(closure=obj, actor=request.user, now=clock.now())

    def delete_queryset(self, request, queryset) -> None:
        for closure in queryset:
            planning.closure_remove(closure=closure, actor=request.user, now=clock.now())


# --- Staff venues, audit and staff accounts -----------------------------------------------------


@admin.register(StaffMembership)
class StaffMembershipAdmin(VenueScopedAdmin):
    list_display = ["user", "venue"]
    list_filter = [("venue", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "user__last_name", "user__first_name", "venue__name"]
    autocomplete_fields = ["user", "venue"]


class AuditObjectFilter(admin.SimpleListFilter):
    title = _("対象")
    parameter_name = "object_type"

    def lookups(self, request, model_admin):
        return [(key, model._meta.verbose_name) for key, model in AUDIT_MODELS.items()]

    def queryset(self, request, queryset):
        return queryset.filter(object_type=self.value()) if self.value() else queryset


class AuditActionFilter(admin.SimpleListFilter):
    title = _("操作")
    parameter_name = "audit_action"  # not `action`: the admin's own name for bulk actions

    def lookups(self, request, model_admin):
        return list(AUDIT_ACTIONS.items())

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(VenueScopedAdmin):
    list_display = ["at", "actor", "venue", "object_label", "object_id", "action_label", "summary", "note"]
    list_filter = [AuditObjectFilter, AuditActionFilter, ("venue", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["object_id", "note", "actor__username"]
    date_hierarchy = "at"

    @admin.display(description=_("対象"), ordering="object_type")
    def object_label(self, entry: AuditEntry) -> str:
        model = AUDIT_MODELS.get(entry.object_type)
        return str(model._meta.verbose_name) if model else entry.object_type

    @admin.display(description=_("操作"), ordering="action")
    def action_label(self, entry: AuditEntry) -> str:
        return str(AUDIT_ACTIONS.get(entry.action, entry.action))

    @admin.display(description=_("変更内容"))
    def summary(self, entry: AuditEntry) -> str:
        return format_html_join(
            ", ",
            "{}: {} → {}",
            ((key, before, after) for key, before, after in audit_changes_shown(entry)),
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class StaffMembershipInline(admin.TabularInline):
    model = StaffMembership
    extra = 1
    autocomplete_fields = ["venue"]
    verbose_name = _("担当会場")
    verbose_name_plural = _("担当会場（会場職員が見られる会場）")


admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    """Staff accounts: groups (会場職員 / 県管理者) and venues on one page."""

    inlines = [StaffMembershipInline]
    list_display = ["username", "last_name", "first_name", "is_staff", "is_active", "roles", "login_lock"]
    actions = ["unlock_logins"]

    @admin.display(description=_("役割"))
    def roles(self, user: User) -> str:
        return "、".join(group.name for group in user.groups.all())

    @admin.display(description=_("ログイン"))
    def login_lock(self, user: User) -> str:
        failures = getattr(user, "login_failures", None) or 0
        if staff.is_locked(failures):
            text = _("停止中（%(n)d回失敗）") % {"n": failures}
            return format_html('<strong class="locked">{}</strong>', text)
        return _("%(n)d回失敗") % {"n": failures} if failures else "—"

    @admin.action(description=_("選んだ職員のログイン停止を解除する"), permissions=["unlock"])
    def unlock_logins(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        cleared = [
            user.username
            for user in queryset
            if staff.login_unlock(username=user.username, actor=request.user)
        ]
        if cleared:
            names = "、".join(cleared)
            self.message_user(request, _("ログイン停止を解除しました：%(names)s") % {"names": names})
        else:
            self.message_user(request, _("停止中の職員はいませんでした。"), messages.WARNING)

    def has_unlock_permission(self, request: HttpRequest) -> bool:
        return is_prefecture_admin(request.user)

    def get_queryset(self, request):
        queryset = staff.with_login_failures(super().get_queryset(request))
        queryset = queryset.prefetch_related("groups")
        return queryset if request.user.is_superuser else queryset.filter(is_superuser=False)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        hidden = {"is_superuser", "user_permissions"}
        return [
            (name, {**options, "fields": [f for f in options.get("fields", ()) if f not in hidden]})
            for name, options in fieldsets
        ]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if not is_prefecture_admin(request.user) and "groups" in form.base_fields:
            form.base_fields["groups"].disabled = True
        return form
