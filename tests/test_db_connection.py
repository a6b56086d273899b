"""Kept PostgreSQL connections (CONN_MAX_AGE, CONN_HEALTH_CHECKS): checked before each request's
first statement by a look at the socket, not by a `SELECT 1` round trip (scheduler/postgresql)."""

from __future__ import annotations

import select

import pytest
from django.conf import settings
from django.db import close_old_connections, connection
from django.db.backends.postgresql import base as django_postgresql

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
pytestmark = [
    pytest.mark.skipif(
        not ON_POSTGRES, reason="needs PostgreSQL: DATABASE_URL is not a PostgreSQL database (CI sets one)"
    ),
    pytest.mark.django_db(transaction=True),  # autocommit, as between two requests
]


def _other_session_runs(sql: str, *params) -> None:
    import psycopg

    with psycopg.connect(_dsn(), autocommit=True) as other:
        other.execute(sql, params)


def _dsn() -> str:
    params = connection.get_connection_params()
    keys = ("host", "port", "user", "password", "dbname")
    return " ".join(f"{key}={params[key]}" for key in keys if params.get(key))


def test_a_healthy_idle_connection_is_kept_without_a_round_trip(monkeypatch):
    connection.ensure_connection()

    def round_trip(self):
        raise AssertionError("the health check sent a statement")

    monkeypatch.setattr(django_postgresql.DatabaseWrapper, "is_usable", round_trip)
    assert connection.is_usable()


def test_a_connection_the_server_ended_is_replaced_before_the_next_request_uses_it(client):
    connection.ensure_connection()
    old_pid = connection.connection.info.backend_pid
    _other_session_runs("SELECT pg_terminate_backend(%s)", old_pid)
    select.select([connection.connection.pgconn.socket], [], [], 5)  # the server's goodbye arrives

    close_old_connections()  # what Django does at the start of every request (the test client does not)
    response = client.get("/api/v1/procedures/")

    assert response.status_code == 200
    assert connection.connection.info.backend_pid != old_pid
