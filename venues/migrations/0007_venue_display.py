"""The waiting room's display: a per-venue secret link (issue 14, part 2)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("venues", "0006_venue_english_address")]

    operations = [
        migrations.AddField(
            model_name="venue",
            name="display_secret_hash",
            field=models.CharField(
                blank=True, editable=False, max_length=64, verbose_name="呼出表示のリンク（ハッシュ）"
            ),
        ),
        migrations.AddField(
            model_name="venue",
            name="display_secret_renewed_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="呼出表示のリンクの発行日時"
            ),
        ),
    ]
