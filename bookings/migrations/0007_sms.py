"""Messages by SMS (issue 14, part 4): the outbox's second channel, and the booking's opt-in.

The outbox's insert trigger (0004) fires for every row, so SMS rows wake the listener too."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("bookings", "0006_calls")]

    operations = [
        migrations.AddField(
            model_name="booking",
            name="sms_opt_in",
            field=models.BooleanField(default=False, verbose_name="SMSでの連絡を希望"),
        ),
        migrations.AddField(
            model_name="notification",
            name="channel",
            field=models.CharField(
                choices=[("email", "メール"), ("sms", "SMS")],
                default="email",
                max_length=5,
                verbose_name="経路",
            ),
        ),
    ]
