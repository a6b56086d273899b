"""The two shared caches: Redis (with REDIS_URL) and the database's cache table (without it).

Redis: Django's Redis cache, keeping one `redis.Redis` client per connection pool. Django builds
a new `redis.Redis` for every cache operation, and each one copies a table of some two hundred
response callbacks: measured (py-spy, bench/load.py), that was a third of the cost of a
cache round trip on the booking path. A client is safe to share between threads (its pool hands
out the connections) and, like the pool, notices a fork.
"""

from __future__ import annotations

import base64
import contextlib
import pickle
import time
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusingClient


# --- The database's cache table -------------------------------------------------------------

INT_MARK = "i:"  # an int is stored as `i:<digits>`, so that the database itself can add to it
CULL_SECONDS = 60.0  # each process deletes expired rows at most this often
# {t} the table, {k} {v} {e} its columns (quoted names); every value is a parameter.
_SQL = {
    "cull": "DELETE FROM {t} WHERE {e} < %s",
    "select": "SELECT {k}, {v}, {e} FROM {t} WHERE {k} IN ({many})",
    "set": "INSERT INTO {t} ({k}, {v}, {e}) VALUES (%s, %s, %s) "
    "ON CONFLICT ({k}) DO UPDATE SET {v} = EXCLUDED.{v}, {e} = EXCLUDED.{e}",
    "add": "INSERT INTO {t} ({k}, {v}, {e}) VALUES (%s, %s, %s) "
    "ON CONFLICT ({k}) DO UPDATE SET {v} = EXCLUDED.{v}, {e} = EXCLUDED.{e} WHERE {t}.{e} < %s",
    "touch": "UPDATE {t} SET {e} = %s WHERE {k} = %s AND {e} >= %s",
    "incr": "UPDATE {t} SET {v} = %s || (CAST(SUBSTR({v}, {mark}) AS BIGINT) + %s) "
    "WHERE {k} = %s AND {e} >= %s AND {v} LIKE %s RETURNING {v}",
}


class DatabaseCache(DjangoDatabaseCache):
    """Django's database cache, made fit to be the one cache that every process shares.

    Django's own backend counts the whole table (`SELECT COUNT(*)`) on every write, evicts live
    keys past MAX_ENTRIES (a throttle counter or an idempotency record silently gone), and
    increments with a read and a write, so that two concurrent requests both write the same count
    (and the key's timeout falls back to the default). Here:

    - `set` and `add` are one `INSERT … ON CONFLICT` each; `add` overwrites only an expired row,
      so of concurrent adds exactly one wins; `touch` never revives an expired row;
    - `incr` is one `UPDATE … RETURNING` that adds in the database and keeps the key's expiry:
      concurrent increments never lose a count (a row lock on PostgreSQL; SQLite serialises
      writers); an int is stored as `i:<digits>` for that, every other value pickled as Django does;
    - live rows are never evicted (MAX_ENTRIES is ignored); each process deletes the expired ones
      at most once a minute (`expires` is indexed).

    PostgreSQL and SQLite (3.35 or later); another database falls back to Django's behaviour.
    Errors are not swallowed: a database that is down is a 503 `busy`, as with Redis. Inside a
    transaction each write is wrapped in a savepoint, so that a failed cache write never breaks
    the caller's transaction.
    """

    def __init__(self, table, params) -> None:
        super().__init__(table, params)
        self._next_cull = 0.0

    # Values -----------------------------------------------------------------------------------

    def _encode(self, value) -> str:
        if type(value) is int:  # not bool: True must come back as True
            return f"{INT_MARK}{value}"
        return base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")

    @staticmethod
    def _decode(text: str):
        if text.startswith(INT_MARK):
            return int(text[len(INT_MARK) :])
        return pickle.loads(base64.b64decode(text.encode()))  # noqa: S301 - written by us only

    # Plumbing ---------------------------------------------------------------------------------

    def _connection(self, *, write: bool):
        from django.db import connections, router

        route = router.db_for_write if write else router.db_for_read
        return connections[route(self.cache_model_class)]

    @staticmethod
    def _supported(connection) -> bool:
        return connection.vendor in ("postgresql", "sqlite")

    def _expires(self, connection, timeout):
        when = self.get_backend_timeout(timeout)
        if when is None:
            moment = datetime.max
        else:
            moment = datetime.fromtimestamp(when, tz=UTC if settings.USE_TZ else None)
        return connection.ops.adapt_datetimefield_value(moment.replace(microsecond=0))

    @staticmethod
    def _now(connection):
        from django.utils import timezone

        return connection.ops.adapt_datetimefield_value(timezone.now().replace(microsecond=0))

    @staticmethod
    def _atomic(connection):
        """A savepoint inside the caller's transaction; nothing extra in autocommit."""
        from django.db import transaction

        if connection.in_atomic_block:
            return transaction.atomic(using=connection.alias)
        return contextlib.nullcontext()

    def _sql(self, connection, name: str, **more) -> str:
        q = connection.ops.quote_name
        return _SQL[name].format(t=q(self._table), k=q("cache_key"), v=q("value"), e=q("expires"), **more)

    def _maybe_cull(self, connection) -> None:
        """Delete expired rows, at most once a CULL_SECONDS in this process, and never inside the
        caller's transaction (the deleted rows would stay locked until it ends)."""
        moment = time.monotonic()
        if moment < self._next_cull or connection.in_atomic_block:
            return
        self._next_cull = moment + CULL_SECONDS
        with connection.cursor() as cursor:
            cursor.execute(self._sql(connection, "cull"), [self._now(connection)])

    # Reads ------------------------------------------------------------------------------------

    def get_many(self, keys, version=None):
        if not keys:
            return {}
        from django.db import models
        from django.utils import timezone

        key_map = {self.make_and_validate_key(key, version=version): key for key in keys}
        connection = self._connection(write=False)
        with connection.cursor() as cursor:
            cursor.execute(
                self._sql(connection, "select", many=", ".join(["%s"] * len(key_map))), list(key_map)
            )
            rows = cursor.fetchall()
        expression = models.Expression(output_field=models.DateTimeField())
        converters = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        now = timezone.now()
        found, expired = {}, []
        for cache_key, text, until in rows:
            for converter in converters:
                until = converter(until, expression, connection)
            if until < now:
                expired.append(cache_key)
            else:
                found[key_map[cache_key]] = self._decode(connection.ops.process_clob(text))
        if expired:
            self._base_delete_many(expired)
        return found

    # Writes -----------------------------------------------------------------------------------

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None) -> None:
        connection = self._connection(write=True)
        if not self._supported(connection):
            return super().set(key, value, timeout, version)
        key = self.make_and_validate_key(key, version=version)
        self._maybe_cull(connection)
        with self._atomic(connection), connection.cursor() as cursor:
            cursor.execute(
                self._sql(connection, "set"),
                [key, self._encode(value), self._expires(connection, timeout)],
            )
        return None

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None) -> bool:
        """True when this call wrote the key: it was missing or expired."""
        connection = self._connection(write=True)
        if not self._supported(connection):
            return super().add(key, value, timeout, version)
        key = self.make_and_validate_key(key, version=version)
        self._maybe_cull(connection)
        with self._atomic(connection), connection.cursor() as cursor:
            cursor.execute(
                self._sql(connection, "add"),
                [key, self._encode(value), self._expires(connection, timeout), self._now(connection)],
            )
            return cursor.rowcount > 0

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None) -> bool:
        connection = self._connection(write=True)
        if not self._supported(connection):
            return super().touch(key, timeout, version)
        key = self.make_and_validate_key(key, version=version)
        with self._atomic(connection), connection.cursor() as cursor:
            cursor.execute(
                self._sql(connection, "touch"),
                [self._expires(connection, timeout), key, self._now(connection)],
            )
            return cursor.rowcount > 0

    def incr(self, key, delta=1, version=None) -> int:
        """Add `delta` in one statement, keeping the expiry; ValueError when the key is missing."""
        connection = self._connection(write=True)
        if not self._supported(connection):
            return super().incr(key, delta, version)
        db_key = self.make_and_validate_key(key, version=version)
        with self._atomic(connection), connection.cursor() as cursor:
            cursor.execute(
                self._sql(connection, "incr", mark=len(INT_MARK) + 1),
                [INT_MARK, int(delta), db_key, self._now(connection), INT_MARK + "%"],
            )
            row = cursor.fetchone()
        if row is not None:
            return self._decode(row[0])
        # Missing or expired (ValueError, as Django says), or a value that is not an int.
        return super().incr(key, delta, version)
