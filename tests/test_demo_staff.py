import io
import json
import re
import stat

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(nagano, settings, tmp_path):
    """`demo_staff` as `make run` runs it (DEBUG=1), its passwords kept in a file of this test."""
    settings.DEBUG = True
    store = tmp_path / "var" / "demo-logins.json"

    def run(*args: str, at=store) -> str:
        out = io.StringIO()
        call_command("demo_staff", "--store", str(at), *args, stdout=out)
        return out.getvalue()

    run.store = store
    return run


def passwords(out: str) -> dict[str, str]:
    return dict(re.findall(r"user (\S+)\s+password (\S+)", out))


def test_the_demo_logins_are_printed_and_work(demo):
    out = demo()
    found = dict(re.findall(r"user (\S+)\s+password (\S+)", out))
    assert set(found) == {"demo-admin", "demo-iida"}
    for username, password in found.items():
        client = Client()
        response = client.post(
            "/admin/login/?next=/admin/",
            {"username": username, "password": password},
            REMOTE_ADDR="127.0.0.9",
        )
        assert response.status_code == 302, username
        assert client.get("/admin/").status_code == 200


def test_the_logins_are_printed_last_in_a_frame(demo):
    lines = demo().splitlines()
    assert lines[0] == lines[-1] and set(lines[0]) == {"="} and len(lines[0]) >= max(map(len, lines))
    assert "http://127.0.0.1:8000/admin/" in lines[1]
    assert len(lines) == 6  # the frame, the address, two logins, where they are kept


def test_running_it_again_keeps_the_same_passwords_and_prints_them_again(demo):
    first = passwords(demo())
    second = passwords(demo())
    assert set(first) == {"demo-admin", "demo-iida"} and second == first
    for username, password in first.items():
        assert User.objects.get(username=username).check_password(password)


def test_reset_makes_new_passwords_and_keeps_those(demo):
    first = passwords(demo())
    reset = passwords(demo("--reset"))
    assert all(reset[name] != first[name] for name in first)
    assert passwords(demo()) == reset


def test_the_passwords_are_random_per_checkout_and_kept_where_only_the_owner_reads_them(demo, tmp_path):
    mine = passwords(demo())
    elsewhere = passwords(demo(at=tmp_path / "other" / "demo-logins.json"))
    assert all(len(password) >= 16 for password in mine.values())
    assert elsewhere != mine  # nothing in the repository fixes them
    assert stat.S_IMODE(demo.store.stat().st_mode) == 0o600
    assert json.loads(demo.store.read_text()) == mine


def test_without_debug_there_are_no_demo_logins(nagano, settings, tmp_path):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("demo_staff", "--store", str(tmp_path / "demo-logins.json"))
    assert not User.objects.filter(username__startswith="demo-").exists()
    assert not (tmp_path / "demo-logins.json").exists()
