"""The waiting list (issue 14, part 1)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("bookings", "0004_outbox_notify_trigger")]

    operations = []
