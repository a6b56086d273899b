"""With DEBUG off, the web server and the worker refuse the laptop defaults; with the real
settings (or DEBUG on, as `make run` has it) they start."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from celery import signals

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "yoyaku.example.jp",
    "EMAIL_URL": "smtp://mail.example.jp:587",
}


def start_web(**changes: str | None) -> subprocess.CompletedProcess:
    """Load the WSGI application in a fresh process (settings come from the environment)."""
    env = {key: value for key, value in os.environ.items() if key not in PRODUCTION}
    env.pop("EMAIL_BACKEND", None)
    env.update(PRODUCTION)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-c", "import scheduler.wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_web_server_starts_with_production_settings():
    result = start_web()
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"SECRET_KEY": "short-but-set"}, "SECRET_KEY"),
        ({"SECRET_KEY": "django-insecure-" + "a1b2c3" * 10}, "SECRET_KEY"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS"),
        ({"EMAIL_URL": None}, "EMAIL_URL"),  # the default is the console backend
        ({"EMAIL_URL": None, "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}, "EMAIL_URL"),
    ],
)
def test_with_debug_off_the_web_server_refuses_each_laptop_default_and_names_it(changes, named):
    result = start_web(**changes)
    assert result.returncode != 0
    assert "will not start with DEBUG off" in result.stderr and named in result.stderr


def test_with_debug_on_the_laptop_defaults_start_as_make_run_has_them():
    result = start_web(DEBUG="1", SECRET_KEY=None, ALLOWED_HOSTS=None, EMAIL_URL=None)
    assert result.returncode == 0, result.stderr


def test_the_worker_and_beat_refuse_the_laptop_defaults_too(settings, capsys):
    settings.DEBUG = False
    settings.SECRET_KEY = "django-insecure-local-only-change-me"
    for signal in (signals.worker_init, signals.beat_init):
        with pytest.raises(SystemExit):  # Celery would swallow an exception from the handler
            signal.send(sender=object())
        assert "SECRET_KEY" in capsys.readouterr().err


def test_a_worker_with_the_laptop_defaults_exits_before_taking_any_task(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in PRODUCTION}
    env.update({"DEBUG": "0", "REDIS_URL": "redis://127.0.0.1:1/0"})  # never reached
    env.pop("SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "scheduler", "worker", "--pool=solo", "-l", "warning"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "will not start with DEBUG off" in result.stderr
