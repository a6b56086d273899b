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
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.admin_setup import PASSWORD, staff_user
from venues.models import AuditEntry

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


def test_guesses_spread_over_many_addresses_lock_the_user_name_too(clerk_account):
    for index in range(settings.AXES_FAILURE_LIMIT):
        guesser = Client(REMOTE_ADDR=f"198.51.100.{index + 1}")
        assert log_in(guesser, "wrong-guess").status_code in (200, 429)
    locked = log_in(Client(REMOTE_ADDR="203.0.113.9"), PASSWORD)  # a new address, the right password
    assert locked.status_code == 429


def test_an_administrator_sees_the_lock_on_the_staff_list_and_lifts_it(clerk_account):
    for index in range(settings.AXES_FAILURE_LIMIT):
        log_in(Client(REMOTE_ADDR=f"198.51.100.{index + 1}"), "wrong-guess")
    admin = Client()
    admin.force_login(staff_user("pref-admin", admin=True))
    listing = admin.get(reverse("admin:auth_user_changelist")).content.decode()
    assert f"停止中（{settings.AXES_FAILURE_LIMIT}回失敗）" in listing
    assert "選んだ職員のログイン停止を解除する" in listing

    lifted = admin.post(
        reverse("admin:auth_user_changelist"),
        {"action": "unlock_logins", "_selected_action": [clerk_account.pk]},
        follow=True,
    )
    assert "ログイン停止を解除しました：clerk" in lifted.content.decode()
    assert AuditEntry.objects.filter(object_type="staff", object_id="clerk", action="login_unlock").exists()
    assert log_in(Client(REMOTE_ADDR="203.0.113.9"), PASSWORD).status_code == 302  # can log in again
