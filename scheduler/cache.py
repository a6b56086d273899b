"""Django's Redis cache, keeping one `redis.Redis` client per connection pool.

Django builds a new `redis.Redis` for every cache operation, and each one copies a table of some
two hundred response callbacks: measured (py-spy, bench/load.py), that was a third of the cost of a
cache round trip on the booking path. A client is safe to share between threads (its pool hands
out the connections) and, like the pool, notices a fork.
"""

from __future__ import annotations

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
