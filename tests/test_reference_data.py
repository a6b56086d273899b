import copy

import pytest
import yaml
from django.core.management import call_command

from venues.models import Procedure, ReceptionWindow, Venue
from venues.services import DATA_FILE, read_reference_data, reference_data_load

pytestmark = pytest.mark.django_db

SHARED_CODES = [
    "hokushin-centre",
    "toshin-centre",
    "chunanshin-centre",
    "nagano-chuo-station",
    "suzaka-station",
    "nakano-station",
    "iiyama-station",
    "chikuma-station",
    "ueda-station",
    "komoro-station",
    "karuizawa-station",
    "suwa-station",
    "chino-station",
    "okaya-station",
    "ina-station",
    "komagane-station",
    "iida-station",
    "anan-station",
    "kiso-station",
    "matsumoto-station",
    "azumino-station",
    "omachi-station",
    "matsushiro-koban",
    "maruko-koban",
    "usuda-koban",
    "takato-koban",
    "tatsuno-koban",
    "ikeda-koban",
]


def test_every_venue_of_the_data_file_is_loaded_with_its_code(nagano):
    codes = set(Venue.objects.values_list("code", flat=True))
    data_codes = {v["code"] for v in yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))["venues"]}
    assert codes == data_codes
    assert set(SHARED_CODES) <= codes


def test_the_six_procedures_are_loaded_with_ten_minutes_each(nagano):
    assert list(Procedure.objects.values_list("code", "duration_minutes")) == [
        ("record", 10),
        ("holding-change", 10),
        ("erase", 10),
        ("re-record", 10),
        ("one-stop", 10),
        ("portal-link", 10),
    ]


@pytest.mark.parametrize("code", ["nagano-minami-station", "saku-station", "shiojiri-station"])
def test_nagano_minami_saku_and_shiojiri_stations_take_none_of_the_procedures(nagano, code):
    venue = Venue.objects.get(code=code)
    assert venue.procedures.count() == 0
    assert venue.windows.count() == 0


def test_centres_and_iida_take_all_six_and_other_stations_only_erase(nagano):
    assert Venue.objects.get(code="iida-station").procedures.count() == 6
    assert Venue.objects.get(code="toshin-centre").procedures.count() == 6
    assert list(Venue.objects.get(code="kiso-station").procedures.values_list("code", flat=True)) == ["erase"]
    assert list(Venue.objects.get(code="usuda-koban").procedures.values_list("code", flat=True)) == ["erase"]


def test_koban_name_their_parent_station(nagano):
    assert Venue.objects.get(code="usuda-koban").parent.code == "saku-station"
    assert Venue.objects.get(code="matsushiro-koban").parent.name == "長野南警察署"
    assert Venue.objects.get(code="maruko-koban").kind == "koban"


def test_windows_follow_the_venue_kind(nagano):
    windows = ReceptionWindow.objects.filter(venue__code="iida-station").order_by("start")
    assert [(f"{w.start:%H:%M}", f"{w.end:%H:%M}") for w in windows] == [
        ("10:30", "11:30"),
        ("14:30", "15:30"),
    ]
    erase_only = ReceptionWindow.objects.filter(venue__code="ikeda-koban").first()
    assert list(erase_only.procedures.values_list("code", flat=True)) == ["erase"]


def test_loading_twice_changes_nothing(nagano):
    snapshot = list(Venue.objects.order_by("pk").values())
    report = reference_data_load()
    assert not report.changed
    assert list(Venue.objects.order_by("pk").values()) == snapshot


def test_editing_the_data_and_loading_again_updates_only_that(nagano):
    data = copy.deepcopy(read_reference_data())
    iida = next(v for v in data["venues"] if v["code"] == "iida-station")
    iida["phone"] = "0265-00-0000"
    data["window_sets"]["iida"][0]["end"] = "12:00"
    report = reference_data_load(data=data)
    assert Venue.objects.get(code="iida-station").phone == "0265-00-0000"
    assert ReceptionWindow.objects.get(venue__code="iida-station", label="am").end.hour == 12
    assert set(report.updated) == {"venue iida-station", "window iida-station/am"}
    assert report.created == []


def test_loading_again_keeps_the_counters_that_staff_set(nagano):
    ReceptionWindow.objects.filter(venue__code="hokushin-centre").update(counters=3)
    reference_data_load()
    assert set(
        ReceptionWindow.objects.filter(venue__code="hokushin-centre").values_list("counters", flat=True)
    ) == {3}


def test_only_the_numbers_the_data_marks_verified_are_confirmed_when_first_loaded(nagano):
    verified = set(Venue.objects.filter(phone_verified=True).values_list("code", flat=True))
    assert verified == {"hokushin-centre", "toshin-centre", "chunanshin-centre"}


def test_loading_again_keeps_a_phone_number_an_administrator_confirmed(nagano):
    Venue.objects.filter(code="kiso-station").update(phone_verified=True)
    report = reference_data_load()
    assert Venue.objects.get(code="kiso-station").phone_verified
    assert "venue kiso-station" not in report.updated


def test_an_unconfirmed_number_in_the_data_never_replaces_one_an_administrator_confirmed(nagano):
    Venue.objects.filter(code="kiso-station").update(phone="0264-22-0111", phone_verified=True)
    data = copy.deepcopy(read_reference_data())
    reference_data_load(data=data)
    kiso = Venue.objects.get(code="kiso-station")
    assert (kiso.phone, kiso.phone_verified) == ("0264-22-0111", True)


def test_a_number_the_data_marks_verified_is_taken_confirmed(nagano):
    data = copy.deepcopy(read_reference_data())
    kiso = next(v for v in data["venues"] if v["code"] == "kiso-station")
    kiso.update(phone="0264-22-0112", phone_verified=True)
    reference_data_load(data=data)
    loaded = Venue.objects.get(code="kiso-station")
    assert (loaded.phone, loaded.phone_verified) == ("0264-22-0112", True)


def test_the_command_reports_what_it_did(db, capsys):
    call_command("load_nagano")
    first = capsys.readouterr().out
    call_command("load_nagano")
    second = capsys.readouterr().out
    assert "created" in first and "0 created, 0 updated" in second


def test_the_project_does_not_read_the_shared_folder_at_run_time():
    assert "shared" not in str(DATA_FILE)
    assert DATA_FILE.exists()
