"""A server or worker with DEBUG off refuses to start on the laptop defaults.

The defaults (a fixed insecure key, local host names, mail printed to the console) make `make run`
work with no configuration; in production each of them would be a hole (forgeable sessions and
tokens, host-header tricks, residents' mail in a log), so the web entry point (`wsgi.py`, also
used by `runserver` and gunicorn) and the Celery worker and beat check before serving anything.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends.console import EmailBackend as ConsoleBackend
from django.utils.module_loading import import_string

from .sms import SmsConfigError, backend_from_url


def unsafe_settings() -> list[str]:
    """What is wrong for production, in words an operator can act on (empty with DEBUG on)."""
    if settings.DEBUG:
        return []
    problems = []
    key = settings.SECRET_KEY
    if key.startswith("django-insecure") or len(key) < 50 or len(set(key)) < 5:
        problems.append("SECRET_KEY: set a random value of 50 characters or more (not the local default)")
    if not os.environ.get("ALLOWED_HOSTS", "").strip() or "*" in settings.ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS: list the site's host names (no '*')")
    try:
        console = issubclass(import_string(settings.EMAIL_BACKEND), ConsoleBackend)
    except ImportError:
        console = False  # Django says so itself when mail is sent
    if console:
        problems.append(
            "EMAIL_URL: configure a real mail server (the console backend prints residents' mail)"
        )
    problems += sms_problems(settings.SMS_URL)
    return problems


def sms_problems(url: str) -> list[str]:
    """SMS_URL: empty (off) or a real provider; `console://` and `memory://` send nothing."""
    if not url:
        return []
    try:
        kind = backend_from_url(url).kind
    except SmsConfigError as error:
        return [str(error)]
    if kind != "twilio":
        return [f"SMS_URL: {kind}:// sends no SMS; configure a provider (docs/sms.md) or leave it empty"]
    return []


def refuse_unsafe_start(what: str) -> None:
    problems = unsafe_settings()
    if problems:
        raise ImproperlyConfigured(
            f"{what} will not start with DEBUG off and local defaults:\n- " + "\n- ".join(problems)
        )
