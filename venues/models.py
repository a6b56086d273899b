"""Where and when: procedures, venues, reception windows and closures."""

from __future__ import annotations

from datetime import date, time

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

code_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]{0,39}$", _("小文字・数字・ハイフンのみ"))
weekdays_validator = RegexValidator(r"^[0-6]{0,7}$", _("0（月）〜6（日）の数字を並べてください"))


class LocalizedName:
    """`display_name` picks the Japanese or English name by the active language."""

    name: str
    name_en: str

    @property
    def display_name(self) -> str:
        if (get_language() or "ja").startswith("en") and self.name_en:
            return self.name_en
        return self.name


class Procedure(LocalizedName, models.Model):
    code = models.CharField(_("コード"), max_length=40, unique=True, validators=[code_validator])
    name = models.CharField(_("名称"), max_length=100)
    name_en = models.CharField(_("英語名"), max_length=100)
    summary = models.TextField(_("説明"), blank=True)
    summary_en = models.TextField(_("英語の説明"), blank=True)
    duration_minutes = models.PositiveSmallIntegerField(
        _("所要時間（分）"), default=10, validators=[MinValueValidator(1), MaxValueValidator(240)]
    )
    sort_order = models.PositiveSmallIntegerField(_("表示順"), default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("手続")
        verbose_name_plural = _("手続")

    def __str__(self) -> str:
        return self.name


class Venue(LocalizedName, models.Model):
    class Kind(models.TextChoices):
        LICENCE_CENTRE = "licence_centre", _("運転免許センター")
        POLICE_STATION = "police_station", _("警察署")
        KOBAN = "koban", _("運転免許事務取扱交番")

    class Area(models.TextChoices):
        HOKUSHIN = "hokushin", _("北信")
        TOSHIN = "toshin", _("東信")
        CHUSHIN = "chushin", _("中信")
        NANSHIN = "nanshin", _("南信")

    code = models.CharField(_("コード"), max_length=40, unique=True, validators=[code_validator])
    name = models.CharField(_("名称"), max_length=100)
    name_en = models.CharField(_("英語名"), max_length=100)
    kind = models.CharField(_("種別"), max_length=20, choices=Kind.choices)
    area = models.CharField(_("地域"), max_length=20, choices=Area.choices)
    city = models.CharField(_("市町村"), max_length=40, blank=True)
    address = models.CharField(_("住所"), max_length=200, blank=True)
    city_en = models.CharField(_("市町村（英語）"), max_length=40, blank=True)
    address_en = models.CharField(_("住所（英語）"), max_length=200, blank=True)
    phone = models.CharField(_("電話番号"), max_length=20, blank=True)
    phone_verified = models.BooleanField(_("電話番号確認済み"), default=False)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("所属警察署"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    procedures = models.ManyToManyField(
        Procedure, verbose_name=_("取り扱う手続"), blank=True, related_name="venues"
    )
    horizon_days = models.PositiveSmallIntegerField(
        _("予約受付（何日先まで）"), default=30, validators=[MinValueValidator(1), MaxValueValidator(366)]
    )
    cutoff_days_before = models.PositiveSmallIntegerField(
        _("締切（何日前）"), default=1, validators=[MaxValueValidator(30)]
    )
    cutoff_time = models.TimeField(_("締切時刻"), default=time(17, 0))
    hold_minutes = models.PositiveSmallIntegerField(
        _("入力中の席の確保（分）"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text=_("時間を選んでから予約を確定するまで、その席をほかの人に渡さない時間"),
    )
    is_active = models.BooleanField(_("公開中"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("表示順"), default=0)
    # The waiting room's display (bookings/display.py): the sha256 of its secret link's key
    # (venues/display.py); "" until an administrator issues a link.
    display_secret_hash = models.CharField(
        _("呼出表示のリンク（ハッシュ）"), max_length=64, blank=True, editable=False
    )
    display_secret_renewed_at = models.DateTimeField(
        _("呼出表示のリンクの発行日時"), null=True, blank=True, editable=False
    )

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("会場")
        verbose_name_plural = _("会場")

    def __str__(self) -> str:
        return self.name

    @property
    def display_address(self) -> str:
        """The street address in the page's language (romanised in English), or "" if unknown."""
        if (get_language() or "ja").startswith("en"):
            return self.address_en or self.address
        return self.address

    @property
    def display_city(self) -> str:
        if (get_language() or "ja").startswith("en") and self.city_en:
            return self.city_en
        return self.city

    @property
    def public_phone(self) -> str:
        """The number residents are shown (pages, API, e-mails): only one an administrator has
        confirmed. A wrong number sends a resident's call to a stranger, so an unconfirmed one is
        held back rather than shown with a mark."""
        return self.phone if self.phone_verified else ""

    @property
    def phone_pending(self) -> bool:
        """A number is known but not confirmed yet: residents are told it is being checked."""
        return bool(self.phone) and not self.phone_verified


class ReceptionWindow(models.Model):
    """A recurring reception period; it is cut into slots that every procedure it takes shares."""

    venue = models.ForeignKey(Venue, verbose_name=_("会場"), on_delete=models.CASCADE, related_name="windows")
    label = models.CharField(_("識別名"), max_length=40, help_text=_("例: am, pm"))
    weekdays = models.CharField(
        _("曜日"),
        max_length=7,
        default="01234",
        validators=[weekdays_validator],
        help_text=_("0=月 … 6=日。例: 01234 は月〜金"),
    )
    start = models.TimeField(_("開始"))
    end = models.TimeField(_("終了"))
    slot_minutes = models.PositiveSmallIntegerField(
        _("枠の長さ（分）"), default=10, validators=[MinValueValidator(5), MaxValueValidator(120)]
    )
    counters = models.PositiveSmallIntegerField(
        _("窓口数"), default=1, validators=[MinValueValidator(0), MaxValueValidator(50)]
    )
    reserved = models.PositiveSmallIntegerField(
        _("職員用に確保する席"),
        default=0,
        help_text=_("オンライン予約には出さない席（当日受付・職員予約用）"),
    )
    procedures = models.ManyToManyField(Procedure, verbose_name=_("手続"), related_name="windows")
    valid_from = models.DateField(_("適用開始日"), null=True, blank=True)
    valid_until = models.DateField(_("適用終了日"), null=True, blank=True)

    class Meta:
        ordering = ["venue", "start"]
        verbose_name = _("受付時間帯")
        verbose_name_plural = _("受付時間帯")
        constraints = [
            models.UniqueConstraint(fields=["venue", "label"], name="window_label_unique_per_venue"),
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="window_end_after_start"),
            models.CheckConstraint(
                condition=Q(reserved__lte=models.F("counters")), name="window_reserved_within_counters"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.venue} {self.start:%H:%M}–{self.end:%H:%M}"

    def clean(self) -> None:
        if self.start and self.end and self.end <= self.start:
            raise ValidationError({"end": _("終了は開始より後にしてください")})
        if self.reserved is not None and self.counters is not None and self.reserved > self.counters:
            raise ValidationError({"reserved": _("窓口数を超えることはできません")})
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValidationError({"valid_until": _("適用開始日より後にしてください")})

    def applies_on(self, day: date) -> bool:
        if str(day.weekday()) not in self.weekdays:
            return False
        if self.valid_from and day < self.valid_from:
            return False
        if self.valid_until and day > self.valid_until:
            return False
        return True


class Closure(models.Model):
    """A staff closure: whole days, or part of each day of the range when times are given."""

    venue = models.ForeignKey(
        Venue, verbose_name=_("会場"), on_delete=models.CASCADE, related_name="closures"
    )
    start_date = models.DateField(_("開始日"))
    end_date = models.DateField(_("終了日"))
    start_time = models.TimeField(_("開始時刻"), null=True, blank=True)
    end_time = models.TimeField(_("終了時刻"), null=True, blank=True)
    note = models.CharField(_("お知らせ"), max_length=200, blank=True, help_text=_("利用者に表示されます"))
    created_at = models.DateTimeField(_("登録日時"), auto_now_add=True)

    class Meta:
        ordering = ["venue", "start_date", "start_time"]
        verbose_name = _("休業")
        verbose_name_plural = _("休業")
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")), name="closure_dates_ordered"
            ),
            models.CheckConstraint(
                condition=(Q(start_time__isnull=True) & Q(end_time__isnull=True))
                | (
                    Q(start_time__isnull=False)
                    & Q(end_time__isnull=False)
                    & Q(end_time__gt=models.F("start_time"))
                ),
                name="closure_times_both_or_none",
            ),
        ]
        indexes = [models.Index(fields=["venue", "end_date"])]

    def __str__(self) -> str:
        span = (
            f"{self.start_date}" if self.start_date == self.end_date else f"{self.start_date}–{self.end_date}"
        )
        if self.start_time:
            span += f" {self.start_time:%H:%M}–{self.end_time:%H:%M}"
        return f"{self.venue} {span}"

    def clean(self) -> None:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValidationError({"end_date": _("開始日より後にしてください")})
        if (self.start_time is None) != (self.end_time is None):
            raise ValidationError(_("時刻は開始・終了の両方を入れるか、両方とも空にしてください"))
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            raise ValidationError({"end_time": _("開始時刻より後にしてください")})

    @property
    def is_whole_day(self) -> bool:
        return self.start_time is None

    def covers(self, day: date) -> bool:
        return self.start_date <= day <= self.end_date


class StaffMembership(models.Model):
    """Attaches a venue staff user to the venues whose queue they run."""

    user = models.ForeignKey(
        "auth.User", verbose_name=_("職員"), on_delete=models.CASCADE, related_name="venue_memberships"
    )
    venue = models.ForeignKey(
        Venue, verbose_name=_("会場"), on_delete=models.CASCADE, related_name="memberships"
    )

    class Meta:
        verbose_name = _("担当会場")
        verbose_name_plural = _("担当会場")
        constraints = [models.UniqueConstraint(fields=["user", "venue"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} → {self.venue}"


class AuditEntry(models.Model):
    """Who changed a window, closure or counter, when, and from what to what."""

    at = models.DateTimeField(_("日時"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        "auth.User",
        verbose_name=_("実施者"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    venue = models.ForeignKey(
        Venue, verbose_name=_("会場"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    object_type = models.CharField(_("対象"), max_length=40)
    object_id = models.CharField(_("対象ID"), max_length=40)
    action = models.CharField(_("操作"), max_length=40)
    before = models.JSONField(_("変更前"), null=True, blank=True)
    after = models.JSONField(_("変更後"), null=True, blank=True)
    note = models.CharField(_("メモ"), max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("変更履歴")
        verbose_name_plural = _("変更履歴")
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.object_type}#{self.object_id} {self.action}"
