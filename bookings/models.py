"""Slots (the seats a window offers) and bookings (a resident's hold on one)."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from venues.models import Procedure, ReceptionWindow, Venue


class Slot(models.Model):
    """One start time of one reception window; the counters are the seats, shared by procedures."""

    venue = models.ForeignKey(Venue, verbose_name=_("会場"), on_delete=models.PROTECT, related_name="slots")
    window = models.ForeignKey(
        ReceptionWindow, verbose_name=_("受付時間帯"), on_delete=models.PROTECT, related_name="slots"
    )
    date = models.DateField(_("日付"))  # the JST date of `start`
    start = models.DateTimeField(_("開始"))
    end = models.DateTimeField(_("終了"))
    capacity = models.PositiveSmallIntegerField(_("席数"))
    reserved = models.PositiveSmallIntegerField(_("職員用の席"), default=0)
    taken = models.PositiveSmallIntegerField(_("予約済み"), default=0)
    active = models.BooleanField(
        _("受付中"), default=True, help_text=_("窓口の変更や休業で外された枠は受け付けません")
    )

    class Meta:
        ordering = ["start", "venue_id"]
        verbose_name = _("予約枠")
        verbose_name_plural = _("予約枠")
        constraints = [
            models.UniqueConstraint(fields=["window", "start"], name="slot_unique_per_window_start"),
            models.CheckConstraint(condition=Q(taken__gte=0), name="slot_taken_not_negative"),
            models.CheckConstraint(condition=Q(taken__lte=F("capacity")), name="slot_taken_within_capacity"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="slot_end_after_start"),
        ]
        indexes = [
            models.Index(fields=["venue", "date", "start"], name="slot_venue_date"),
            models.Index(fields=["date"], name="slot_date"),
        ]

    def __str__(self) -> str:
        from scheduler.clock import local

        return f"{self.venue} {local(self.start):%Y-%m-%d %H:%M}"


class Booking(models.Model):
    class Status(models.TextChoices):
        CONFIRMED = "confirmed", _("予約済み")
        CHECKED_IN = "checked_in", _("受付済み")
        IN_SERVICE = "in_service", _("手続中")
        DONE = "done", _("完了")
        NO_SHOW = "no_show", _("来庁なし")
        CANCELLED = "cancelled", _("取消")
        CANCELLED_BY_VENUE = "cancelled_by_venue", _("会場都合の取消")

    ACTIVE = (Status.CONFIRMED, Status.CHECKED_IN, Status.IN_SERVICE)

    class Channel(models.TextChoices):
        ONLINE = "online", _("オンライン")
        STAFF = "staff", _("職員")
        WALK_IN = "walk_in", _("当日受付")

    reference = models.CharField(_("予約番号"), max_length=8)  # unique: Meta.constraints
    token_hash = models.CharField(max_length=64, editable=False)
    venue = models.ForeignKey(  # looked up through booking_venue_start, which leads with it
        Venue, verbose_name=_("会場"), on_delete=models.PROTECT, related_name="bookings", db_index=False
    )
    procedure = models.ForeignKey(
        Procedure, verbose_name=_("手続"), on_delete=models.PROTECT, related_name="bookings"
    )
    slot = models.ForeignKey(
        Slot, verbose_name=_("予約枠"), on_delete=models.PROTECT, related_name="bookings"
    )
    slot_count = models.PositiveSmallIntegerField(_("使用する枠の数"), default=1)
    start = models.DateTimeField(_("開始"))
    end = models.DateTimeField(_("終了"))
    status = models.CharField(_("状態"), max_length=20, choices=Status.choices, default=Status.CONFIRMED)
    channel = models.CharField(_("受付方法"), max_length=10, choices=Channel.choices, default=Channel.ONLINE)
    name = models.CharField(_("氏名"), max_length=60, blank=True)
    phone = models.CharField(_("電話番号"), max_length=11, blank=True)  # digits only
    email = models.CharField(_("メール"), max_length=254, blank=True)  # lower-cased
    answers = models.JSONField(_("確認事項への回答"), default=dict, blank=True)
    language = models.CharField(_("言語"), max_length=5, default="ja")
    # Messages by SMS too (bookings/sms.py): asked for on the contact step, mobile numbers only.
    sms_opt_in = models.BooleanField(_("SMSでの連絡を希望"), default=False)
    created_at = models.DateTimeField(_("登録日時"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新日時"), auto_now=True)
    erased_at = models.DateTimeField(_("個人情報消去日時"), null=True, blank=True)

    class Meta:
        ordering = ["start", "id"]
        verbose_name = _("予約")
        verbose_name_plural = _("予約")
        # Every index is paid for by every booking written (bench/load.py): only those a query
        # reads. A unique `reference` as a constraint, not `unique=True`, which on PostgreSQL adds
        # a second index for LIKE that no query uses; lookups by phone or email are of active
        # bookings, read through the two partial unique indexes below.
        constraints = [
            models.UniqueConstraint(fields=["reference"], name="booking_reference_unique"),
            # One active booking per person and procedure, guarded by the database itself. The
            # contact first: the per-person cap of every booking counts a person's active bookings
            # of all procedures through the same index (with the procedure first, that count read
            # the whole index: 1 ms at 11,000 bookings, growing with the table).
            models.UniqueConstraint(
                fields=["phone", "procedure"],
                condition=Q(status__in=["confirmed", "checked_in", "in_service"]) & ~Q(phone=""),
                name="booking_one_active_per_phone",
            ),
            models.UniqueConstraint(
                fields=["email", "procedure"],
                condition=Q(status__in=["confirmed", "checked_in", "in_service"]) & ~Q(email=""),
                name="booking_one_active_per_email",
            ),
        ]
        indexes = [
            models.Index(fields=["venue", "start"], name="booking_venue_start"),
            models.Index(fields=["status", "start"], name="booking_status_start"),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_cancelled(self) -> bool:
        return self.status in (self.Status.CANCELLED, self.Status.CANCELLED_BY_VENUE)


class Hold(models.Model):
    """A seat (or run of seats) kept for someone choosing it, until they confirm or it expires.

    While `live`, its seats are counted in `Slot.taken` like a booking's; `used` passed them on to a
    booking, `released` and `expired` gave them back."""

    class State(models.TextChoices):
        LIVE = "live", _("確保中")
        USED = "used", _("予約済み")
        RELEASED = "released", _("解放")
        EXPIRED = "expired", _("期限切れ")

    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    venue = models.ForeignKey(Venue, verbose_name=_("会場"), on_delete=models.PROTECT, related_name="holds")
    procedure = models.ForeignKey(
        Procedure, verbose_name=_("手続"), on_delete=models.PROTECT, related_name="holds"
    )
    slot = models.ForeignKey(Slot, verbose_name=_("予約枠"), on_delete=models.PROTECT, related_name="holds")
    slot_count = models.PositiveSmallIntegerField(_("使用する枠の数"), default=1)
    start = models.DateTimeField(_("開始"))
    end = models.DateTimeField(_("終了"))
    expires_at = models.DateTimeField(_("確保の期限"))
    state = models.CharField(_("状態"), max_length=10, choices=State.choices, default=State.LIVE)
    booking = models.ForeignKey(
        "Booking",
        verbose_name=_("予約"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="holds",
    )
    created_at = models.DateTimeField(_("作成日時"))
    # Set when the hold is a waiting list's offer of a freed seat (bookings/waitlist.py).
    waitlist_entry = models.ForeignKey(
        "WaitlistEntry",
        verbose_name=_("順番待ち"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="offers",
    )

    class Meta:
        ordering = ["start", "id"]
        verbose_name = _("席の確保")
        verbose_name_plural = _("席の確保")
        indexes = [
            models.Index(fields=["state", "expires_at"], name="hold_state_expires"),
            models.Index(fields=["venue", "start"], name="hold_venue_start"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["waitlist_entry"],
                condition=Q(state="live", waitlist_entry__isnull=False),
                name="hold_one_live_offer_per_entry",
            ),
        ]

    def __str__(self) -> str:
        from scheduler.clock import local

        return f"{self.venue} {local(self.start):%Y-%m-%d %H:%M} ({self.state})"


class BookingEvent(models.Model):
    """Every status change, with who and when."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(_("日時"))
    from_status = models.CharField(_("変更前"), max_length=20, blank=True)
    to_status = models.CharField(_("変更後"), max_length=20)
    actor = models.ForeignKey(  # indexed where set (staff): event_actor
        "auth.User",
        verbose_name=_("実施者"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    actor_kind = models.CharField(_("実施者の種別"), max_length=10, default="resident")
    note = models.CharField(_("メモ"), max_length=200, blank=True)

    class Meta:
        ordering = ["at", "id"]
        # A resident's own changes have no actor: only staff's need an entry in it.
        indexes = [models.Index(fields=["actor"], name="event_actor", condition=Q(actor__isnull=False))]
        verbose_name = _("予約の履歴")
        verbose_name_plural = _("予約の履歴")

    def __str__(self) -> str:
        before = Booking.Status(self.from_status).label if self.from_status else _("（新規）")
        return f"{self.booking} {before} → {Booking.Status(self.to_status).label}"


class Notification(models.Model):
    """The outbox: written in the same transaction as the change, sent (once) after commit."""

    class Kind(models.TextChoices):
        CONFIRMED = "confirmed", _("予約確認")
        RESCHEDULED = "rescheduled", _("変更確認")
        CANCELLED = "cancelled", _("取消確認")
        CANCELLED_BY_VENUE = "cancelled_by_venue", _("会場都合の取消")
        REMINDER = "reminder", _("前日のお知らせ")
        WAITLIST_OFFER = "waitlist_offer", _("空き枠のご案内")

    class Channel(models.TextChoices):
        EMAIL = "email", _("メール")
        SMS = "sms", _("SMS")

    class State(models.TextChoices):
        PENDING = "pending", _("送信待ち")
        SENDING = "sending", _("送信中")
        SENT = "sent", _("送信済み")
        FAILED = "failed", _("送信失敗")
        SKIPPED = "skipped", _("送信不要")

    booking = models.ForeignKey(
        Booking, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    # A waiting list's offer is told before any booking exists (kind `waitlist_offer`).
    waitlist_entry = models.ForeignKey(  # indexed where set: notification_waitlist_entry
        "WaitlistEntry",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
    )
    kind = models.CharField(_("種類"), max_length=20, choices=Kind.choices)
    # An SMS row (bookings/sms.py) is a second row of the same event: `to_address` is the number.
    channel = models.CharField(_("経路"), max_length=5, choices=Channel.choices, default=Channel.EMAIL)
    dedupe_key = models.CharField(max_length=80)  # unique: Meta.constraints (no LIKE index)
    to_address = models.CharField(_("宛先"), max_length=254, blank=True)
    language = models.CharField(_("言語"), max_length=5, default="ja")
    subject = models.CharField(_("件名"), max_length=200, blank=True)
    # The confirmation's manage token, sealed (scheduler.sealing) until the message is sent or given
    # up; the message itself is rendered when it is sent.
    token_sealed = models.TextField(blank=True, editable=False)
    body_text = models.TextField(blank=True)  # as sent, without its link: cleared once sent
    body_html = models.TextField(blank=True)
    note = models.CharField(_("メモ"), max_length=200, blank=True)
    state = models.CharField(_("状態"), max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(_("試行回数"), default=0)
    next_attempt_at = models.DateTimeField(_("次回試行"), null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(_("最後のエラー"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("作成日時"), auto_now_add=True)
    sent_at = models.DateTimeField(_("送信日時"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        # The senders' queues, partial: a row is in the first while pending, in the second while
        # being sent. A claim reads one in order and stops at its batch, stepping over (and
        # marking dead) the entries of rows that have moved on, where a bitmap scan of an index
        # on (state, next_attempt_at) visited every such row's page on every claim until the next
        # vacuum (bench/load.py: the listener's claims grew to 0.3-1 ms under a booking load).
        constraints = [models.UniqueConstraint(fields=["dedupe_key"], name="notification_dedupe_key_unique")]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"], name="notification_pending", condition=Q(state="pending")
            ),
            # Only a waiting list's rows have one: the other rows need no entry in it.
            models.Index(
                fields=["waitlist_entry"],
                name="notification_waitlist_entry",
                condition=Q(waitlist_entry__isnull=False),
            ),
            models.Index(fields=["claimed_at"], name="notification_sending", condition=Q(state="sending")),
        ]

    def __str__(self) -> str:
        return f"{self.booking or self.waitlist_entry} {self.kind} ({self.state})"


class Call(models.Model):
    """A clerk calling a checked-in resident to a counter: what the waiting room's display shows
    (the reference and the counter, never a name), and the end of the resident's wait (check-in
    → first call) in the statistics."""

    class Kind(models.TextChoices):
        CALL = "call", _("呼出")
        RECALL = "recall", _("再呼出")
        NOT_HERE = "not_here", _("不在")

    booking = models.ForeignKey(
        Booking, verbose_name=_("予約"), on_delete=models.CASCADE, related_name="calls"
    )
    venue = models.ForeignKey(Venue, verbose_name=_("会場"), on_delete=models.PROTECT, related_name="calls")
    counter = models.PositiveSmallIntegerField(_("窓口番号"))
    kind = models.CharField(_("種類"), max_length=10, choices=Kind.choices, default=Kind.CALL)
    at = models.DateTimeField(_("日時"))
    actor = models.ForeignKey(
        "auth.User",
        verbose_name=_("実施者"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("呼出")
        verbose_name_plural = _("呼出")
        indexes = [
            models.Index(fields=["venue", "at"], name="call_venue_at"),
            models.Index(fields=["booking", "at"], name="call_booking_at"),
        ]

    def __str__(self) -> str:
        return f"{self.booking} → {self.counter} ({self.kind})"


class WaitlistEntry(models.Model):
    """A resident waiting for a seat at a venue for a procedure on any day of a range
    (bookings/waitlist.py). The line's order is `created_at`, then `id`; a freed seat is offered as
    a `Hold` tied to the entry (`Hold.waitlist_entry`), at most once per entry."""

    class State(models.TextChoices):
        WAITING = "waiting", _("順番待ち")
        OFFERED = "offered", _("空き枠を案内中")
        BOOKED = "booked", _("予約済み")
        PASSED = "passed", _("案内の期限切れ")
        CANCELLED = "cancelled", _("取りやめ")
        EXPIRED = "expired", _("期間終了")

    LIVE = (State.WAITING, State.OFFERED)

    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    venue = models.ForeignKey(
        Venue, verbose_name=_("会場"), on_delete=models.PROTECT, related_name="waitlist"
    )
    procedure = models.ForeignKey(
        Procedure, verbose_name=_("手続"), on_delete=models.PROTECT, related_name="waitlist"
    )
    first_day = models.DateField(_("希望期間の初日"))
    last_day = models.DateField(_("希望期間の最終日"))
    state = models.CharField(_("状態"), max_length=10, choices=State.choices, default=State.WAITING)
    name = models.CharField(_("氏名"), max_length=60, blank=True)
    phone = models.CharField(_("電話番号"), max_length=11, blank=True)  # digits only
    email = models.CharField(_("メール"), max_length=254, blank=True)  # lower-cased
    sms_opt_in = models.BooleanField(_("SMSでの連絡を希望"), default=False)
    answers = models.JSONField(_("確認事項への回答"), default=dict, blank=True)
    language = models.CharField(_("言語"), max_length=5, default="ja")
    booking = models.ForeignKey(
        Booking,
        verbose_name=_("予約"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="waitlist_entries",
    )
    created_at = models.DateTimeField(_("登録日時"))
    updated_at = models.DateTimeField(_("更新日時"), auto_now=True)
    erased_at = models.DateTimeField(_("個人情報消去日時"), null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("順番待ち")
        verbose_name_plural = _("順番待ち")
        constraints = [
            # One place in line per person and procedure (waiting or offered), as for bookings
            # (the contact first, for the cap's count).
            models.UniqueConstraint(
                fields=["phone", "procedure"],
                condition=Q(state__in=["waiting", "offered"]) & ~Q(phone=""),
                name="waitlist_one_live_per_phone",
            ),
            models.UniqueConstraint(
                fields=["email", "procedure"],
                condition=Q(state__in=["waiting", "offered"]) & ~Q(email=""),
                name="waitlist_one_live_per_email",
            ),
            models.CheckConstraint(condition=Q(last_day__gte=F("first_day")), name="waitlist_range_ordered"),
        ]
        indexes = [
            models.Index(fields=["venue", "state", "created_at"], name="waitlist_venue_line"),
            models.Index(fields=["phone"], name="waitlist_phone"),
            models.Index(fields=["email"], name="waitlist_email"),
        ]

    def __str__(self) -> str:
        return f"{self.venue} {self.first_day:%m/%d}–{self.last_day:%m/%d} #{self.pk}"
