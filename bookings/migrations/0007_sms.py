"""Messages by SMS (issue 14, part 4)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("bookings", "0006_calls")]

    operations = []
