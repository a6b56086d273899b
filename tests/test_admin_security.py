"""Admin login safety: lockout after repeated failures (django-axes), sessions that expire, and a
deployment check that passes with production settings."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from tests.admin_setup import PASSWORD, staff_user

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


def log_in(client, password: str):
    return client.post(
        reverse("admin:login"), {"username": "clerk", "password": password, "next": reverse("admin:index")}
    )


@pytest.fixture
def clerk_account(nagano):
    return staff_user("clerk", "iida-station")


def test_the_admin_login_works_with_the_right_password(client, clerk_account):
    response = log_in(client, PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index")).status_code == 200


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(client, clerk_account):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _ in range(4):
        assert log_in(client, "wrong-guess").status_code == 200  # the form again
    assert log_in(client, "wrong-guess").status_code == 429  # the fifth failure locks
    locked = log_in(client, PASSWORD)
    assert locked.status_code == 429
    assert client.get(reverse("admin:index")).status_code == 302  # still not logged in


def test_a_session_expires_after_the_configured_age(client, clerk_account):
    assert 0 < settings.SESSION_COOKIE_AGE <= 12 * 3600
    log_in(client, PASSWORD)
    session = Session.objects.get()
    remaining = session.expire_date - timezone.now()
    assert (
        timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)
        < remaining
        <= timedelta(seconds=settings.SESSION_COOKIE_AGE)
    )
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("admin:bookings_booking_day"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_the_deployment_check_passes_with_production_settings():
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "HTTPS": "1",
        "ALLOWED_HOSTS": "example.jp",
        "DJANGO_SETTINGS_MODULE": "scheduler.settings",
    }
    env.pop("CLOCK_NOW", None)
    result = subprocess.run(  # a fresh process: settings are read from the environment at import
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "security.W" not in output and "axes." not in output, output


@pytest.mark.parametrize(
    ("proxies", "trusted"), [("0", "None"), ("1", "('HTTP_X_FORWARDED_PROTO', 'https')")]
)
def test_x_forwarded_proto_is_trusted_only_behind_a_configured_proxy(proxies, trusted):
    env = {
        **os.environ,
        "HTTPS": "1",
        "TRUSTED_PROXIES": proxies,
        "DJANGO_SETTINGS_MODULE": "scheduler.settings",
    }
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.SECURE_PROXY_SSL_HEADER)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == trusted
