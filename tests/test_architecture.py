"""The layering holds: seats are written by the seat module alone, venues never imports bookings,
and the web, API, admin and tasks call services and selectors, never each other."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("bookings", "venues", "scheduler")
SEAT_MODULE = ROOT / "bookings" / "seats.py"

# Any way of changing a slot's seat counter: SQL that sets it, or the ORM updating or saving it.
SEAT_WRITES = [
    re.compile(r"\bSET\b[^;\"']*\btaken\s*=", re.IGNORECASE),
    re.compile(r"\.update\([^)]*\btaken\s*="),
    re.compile(r"\btaken\s*=\s*F\("),
    re.compile(r"\.taken\s*[-+]?=[^=]"),
    re.compile(r"update_fields=\[[^\]]*[\"']taken[\"']"),
]


def product_files() -> list[Path]:
    return [path for app in APPS for path in (ROOT / app).rglob("*.py") if "migrations" not in path.parts]


def seat_writes_in(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if any(p.search(line) for p in SEAT_WRITES)]


def test_the_seat_scan_recognises_every_way_of_writing_a_seat_counter():
    samples = [
        'cursor.execute("UPDATE bookings_slot SET taken = taken + 1 WHERE id = %s")',
        "Slot.objects.filter(pk=pk).update(taken=F('taken') - 1)",
        "slot.taken += 1",
        "slot.save(update_fields=['taken'])",
    ]
    assert [bool(seat_writes_in(sample)) for sample in samples] == [True] * len(samples)
    assert not seat_writes_in("remaining = slot.capacity - slot.taken")
    assert not seat_writes_in('Slot.objects.filter(pk=pk).update(capacity=F("taken"), active=False)')


def test_no_module_but_the_seat_module_writes_bookings_slot_taken():
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in product_files()
        if path != SEAT_MODULE and (found := seat_writes_in(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
    assert seat_writes_in(SEAT_MODULE.read_text(encoding="utf-8"))  # the scan does find the real ones


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_venues_never_imports_bookings():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in imported_modules(path) if m.split(".")[0] == "bookings"
        )
        for path in (ROOT / "venues").rglob("*.py")
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_the_import_linter_contracts_are_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


def test_a_web_process_knows_the_tasks_it_enqueues_by_name():
    """The outbox hands rows to `bookings.notification_send` by name: a web process (which imports
    no task module itself) must have it registered, or every confirmation waits for the sweep."""
    script = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'scheduler.settings'); "
        "import scheduler.wsgi; from celery import current_app; "
        "print(current_app.tasks['bookings.notification_send'].name)"
    )
    env = {**os.environ, "DEBUG": "1"}  # the laptop defaults: with DEBUG off wsgi.py refuses them
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
    assert done.stdout.strip() == "bookings.notification_send"
