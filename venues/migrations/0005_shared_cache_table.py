"""The cache table (`cache_table`) that every process shares when there is no Redis.

With DEBUG=0 and no REDIS_URL the cache is the database's (`scheduler.cache.DatabaseCache`):
throttle counters, availability versions, idempotency records and used challenges must be seen
by every web process and node, never kept in one process's memory. Created here, whatever the
cache settings of the process that migrates, so that every database that was migrated has it
(`manage.py createcachetable` does the same and is then a no-op). It belongs to no app: it lives
in `venues` only because the project package `scheduler` has no migrations.
"""

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

TABLE = "cache_table"  # settings.CACHES LOCATION when the database is the cache


def create(apps, schema_editor):
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, TABLE, dry_run=False)


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("venues", "0004_admins_see_login_locks")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
