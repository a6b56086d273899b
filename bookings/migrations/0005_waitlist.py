"""The waiting list (issue 14, part 1)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("bookings", "0004_outbox_notify_trigger"),
        ("venues", "0006_venue_english_address"),
    ]

    operations = [
        migrations.AlterField(
            model_name="notification",
            name="booking",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="notifications",
                to="bookings.booking",
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="kind",
            field=models.CharField(
                choices=[
                    ("confirmed", "予約確認"),
                    ("rescheduled", "変更確認"),
                    ("cancelled", "取消確認"),
                    ("cancelled_by_venue", "会場都合の取消"),
                    ("reminder", "前日のお知らせ"),
                    ("waitlist_offer", "空き枠のご案内"),
                ],
                max_length=20,
                verbose_name="種類",
            ),
        ),
        migrations.CreateModel(
            name="WaitlistEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("secret_hash", models.CharField(editable=False, max_length=64, unique=True)),
                ("first_day", models.DateField(verbose_name="希望期間の初日")),
                ("last_day", models.DateField(verbose_name="希望期間の最終日")),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("waiting", "順番待ち"),
                            ("offered", "空き枠を案内中"),
                            ("booked", "予約済み"),
                            ("passed", "案内の期限切れ"),
                            ("cancelled", "取りやめ"),
                            ("expired", "期間終了"),
                        ],
                        default="waiting",
                        max_length=10,
                        verbose_name="状態",
                    ),
                ),
                ("name", models.CharField(blank=True, max_length=60, verbose_name="氏名")),
                ("phone", models.CharField(blank=True, max_length=11, verbose_name="電話番号")),
                ("email", models.CharField(blank=True, max_length=254, verbose_name="メール")),
                ("sms_opt_in", models.BooleanField(default=False, verbose_name="SMSでの連絡を希望")),
                ("answers", models.JSONField(blank=True, default=dict, verbose_name="確認事項への回答")),
                ("language", models.CharField(default="ja", max_length=5, verbose_name="言語")),
                ("created_at", models.DateTimeField(verbose_name="登録日時")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="更新日時")),
                ("erased_at", models.DateTimeField(blank=True, null=True, verbose_name="個人情報消去日時")),
                (
                    "booking",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="waitlist_entries",
                        to="bookings.booking",
                        verbose_name="予約",
                    ),
                ),
                (
                    "procedure",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="waitlist",
                        to="venues.procedure",
                        verbose_name="手続",
                    ),
                ),
                (
                    "venue",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="waitlist",
                        to="venues.venue",
                        verbose_name="会場",
                    ),
                ),
            ],
            options={
                "verbose_name": "順番待ち",
                "verbose_name_plural": "順番待ち",
                "ordering": ["created_at", "id"],
            },
        ),
        migrations.AddField(
            model_name="hold",
            name="waitlist_entry",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="offers",
                to="bookings.waitlistentry",
                verbose_name="順番待ち",
            ),
        ),
        migrations.AddField(
            model_name="notification",
            name="waitlist_entry",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="notifications",
                to="bookings.waitlistentry",
            ),
        ),
        migrations.AddConstraint(
            model_name="hold",
            constraint=models.UniqueConstraint(
                condition=models.Q(("state", "live"), ("waitlist_entry__isnull", False)),
                fields=("waitlist_entry",),
                name="hold_one_live_offer_per_entry",
            ),
        ),
        migrations.AddIndex(
            model_name="waitlistentry",
            index=models.Index(fields=["venue", "state", "created_at"], name="waitlist_venue_line"),
        ),
        migrations.AddIndex(
            model_name="waitlistentry",
            index=models.Index(fields=["phone"], name="waitlist_phone"),
        ),
        migrations.AddIndex(
            model_name="waitlistentry",
            index=models.Index(fields=["email"], name="waitlist_email"),
        ),
        migrations.AddConstraint(
            model_name="waitlistentry",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("state__in", ["waiting", "offered"]), models.Q(("phone", ""), _negated=True)
                ),
                fields=("procedure", "phone"),
                name="waitlist_one_live_per_phone",
            ),
        ),
        migrations.AddConstraint(
            model_name="waitlistentry",
            constraint=models.UniqueConstraint(
                condition=models.Q(
                    ("state__in", ["waiting", "offered"]), models.Q(("email", ""), _negated=True)
                ),
                fields=("procedure", "email"),
                name="waitlist_one_live_per_email",
            ),
        ),
        migrations.AddConstraint(
            model_name="waitlistentry",
            constraint=models.CheckConstraint(
                condition=models.Q(("last_day__gte", models.F("first_day"))), name="waitlist_range_ordered"
            ),
        ),
    ]
