import re

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_demo_logins_are_printed_and_work(nagano, capsys):
    call_command("demo_staff")
    out = capsys.readouterr().out
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


def test_running_it_again_resets_the_passwords(nagano, capsys):
    call_command("demo_staff")
    first = capsys.readouterr().out
    call_command("demo_staff")
    second = capsys.readouterr().out
    assert re.findall(r"password (\S+)", first) != re.findall(r"password (\S+)", second)
