"""The waiting room's display: a per-venue secret link (issue 14, part 2)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("venues", "0006_venue_english_address")]

    operations = []
