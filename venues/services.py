"""Writes to where-and-when data: reference data loading (and, for staff, windows and closures)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction

from .models import AuditEntry, Procedure, ReceptionWindow, Venue

DATA_FILE = Path(__file__).resolve().parent / "data" / "nagano.yaml"


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


def _parse_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int):  # YAML 1.1 reads 10:00 as sexagesimal 600
        return time(value // 60, value % 60)
    hour, minute = str(value).split(":")
    return time(int(hour), int(minute))


def _sync(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


def _upsert(model: type, lookup: dict[str, Any], values: dict[str, Any], label: str, report: LoadReport):
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        obj = model.objects.create(**lookup, **values)
        report.created.append(label)
    elif _sync(obj, values):
        obj.save()
        report.updated.append(label)
    else:
        report.unchanged += 1
    return obj


def _sync_m2m(manager: Any, wanted: set[int], label: str, report: LoadReport) -> None:
    current = set(manager.values_list("pk", flat=True))
    if current != wanted:
        manager.set(wanted)
        if label not in report.created and label not in report.updated:
            report.updated.append(label)


def _phone_values(existing: Venue | None, item: dict[str, Any]) -> dict[str, Any]:
    """The phone and its confirmation from the data, except that a number an administrator has
    confirmed in the admin stays, confirmed, until the data itself gives a confirmed number:
    loading again never takes a confirmation back (nor swaps it for an unconfirmed number)."""
    phone, verified = item.get("phone") or "", bool(item.get("phone_verified"))
    if existing is not None and existing.phone_verified and existing.phone and not verified:
        return {"phone": existing.phone, "phone_verified": True}
    return {"phone": phone, "phone_verified": verified}


def read_reference_data(path: Path = DATA_FILE) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@transaction.atomic
def reference_data_load(
    *, data: dict[str, Any] | None = None, progress: Callable[[str], None] | None = None
) -> LoadReport:
    """Create or update procedures, venues and windows; idempotent. Counters stay as staff set them,
    and so does a phone number an administrator confirmed (`_phone_values`)."""
    data = data if data is not None else read_reference_data()
    report = LoadReport()
    say = progress or (lambda message: None)

    procedures: dict[str, Procedure] = {}
    for order, item in enumerate(data["procedures"]):
        procedures[item["code"]] = _upsert(
            Procedure,
            {"code": item["code"]},
            {
                "name": item["name"],
                "name_en": item["name_en"],
                "summary": item.get("summary", ""),
                "summary_en": item.get("summary_en", ""),
                "duration_minutes": int(item.get("duration_minutes", 10)),
                "sort_order": order,
            },
            f"procedure {item['code']}",
            report,
        )
    say(f"procedures: {len(procedures)}")

    window_sets = data.get("window_sets", {})
    venues: dict[str, Venue] = {}
    total = len(data["venues"])
    for order, item in enumerate(data["venues"], start=1):
        label = f"venue {item['code']}"
        existing = Venue.objects.filter(code=item["code"]).first()
        venue = _upsert(
            Venue,
            {"code": item["code"]},
            {
                "name": item["name"],
                "name_en": item["name_en"],
                "kind": item["kind"],
                "area": item["area"],
                "city": item.get("city") or "",
                "address": item.get("address") or "",
                "city_en": item.get("city_en") or "",
                "address_en": item.get("address_en") or "",
                **_phone_values(existing, item),
                "sort_order": order,
            },
            label,
            report,
        )
        venues[item["code"]] = venue
        wanted = {procedures[code].pk for code in item.get("procedures") or []}
        _sync_m2m(venue.procedures, wanted, label, report)
        set_name = item.get("windows")
        for spec in window_sets.get(set_name, []) if set_name else []:
            wlabel = f"window {item['code']}/{spec['label']}"
            window = ReceptionWindow.objects.filter(venue=venue, label=spec["label"]).first()
            values = {
                "start": _parse_time(spec["start"]),
                "end": _parse_time(spec["end"]),
                "weekdays": str(spec.get("weekdays", "01234")),
            }
            if window is None:
                window = ReceptionWindow.objects.create(venue=venue, label=spec["label"], **values)
                report.created.append(wlabel)
            elif _sync(window, values):
                window.save()
                report.updated.append(wlabel)
            else:
                report.unchanged += 1
            _sync_m2m(window.procedures, wanted, wlabel, report)
        say(f"[{order}/{total}] {item['code']}")

    for item in data["venues"]:
        venue = venues[item["code"]]
        parent = venues[item["parent"]] if item.get("parent") else None
        if venue.parent_id != (parent.pk if parent else None):
            venue.parent = parent
            venue.save(update_fields=["parent"])
            report.updated.append(f"venue {item['code']} parent")
    return report


# --- Audit: who changed a window, closure, counter or venue, when, from what to what ----------


def _json_value(value: Any) -> Any:
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def snapshot(obj: Any, fields: list[str]) -> dict[str, Any]:
    """The named fields of `obj` as JSON-safe values (times as HH:MM, dates as ISO)."""
    return {name: _json_value(getattr(obj, name)) for name in fields}


def audit_record(
    *,
    actor: Any,
    venue: Venue | None,
    object_type: str,
    object_id: Any,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    note: str = "",
) -> AuditEntry:
    """One audit row; call it inside the transaction of the change it records."""
    return AuditEntry.objects.create(
        actor=actor if actor is not None and getattr(actor, "is_authenticated", False) else None,
        venue=venue,
        object_type=object_type,
        object_id=str(object_id),
        action=action,
        before=before,
        after=after,
        note=note[:200],
    )


def audit_changes(entry: AuditEntry) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for every field that differs; all fields for an add or a removal."""
    before, after = entry.before or {}, entry.after or {}
    keys = list(dict.fromkeys([*before.keys(), *after.keys()]))
    return [(key, before.get(key), after.get(key)) for key in keys if before.get(key) != after.get(key)]


VENUE_AUDIT_FIELDS = [
    "code",
    "name",
    "name_en",
    "kind",
    "area",
    "city",
    "city_en",
    "address",
    "address_en",
    "phone",
    "phone_verified",
    "horizon_days",
    "cutoff_days_before",
    "cutoff_time",
    "hold_minutes",
    "is_active",
    "sort_order",
]


@transaction.atomic
def venue_save(*, venue: Venue, actor: Any) -> Venue:
    """Save an administrator's edit of a venue's settings, with an audit row."""
    previous = Venue.objects.filter(pk=venue.pk).first() if venue.pk else None
    before = snapshot(previous, VENUE_AUDIT_FIELDS) if previous else None
    venue.save()
    after = snapshot(venue, VENUE_AUDIT_FIELDS)
    if before != after:
        audit_record(
            actor=actor,
            venue=venue,
            object_type="venue",
            object_id=venue.pk,
            action="change" if previous else "add",
            before=before,
            after=after,
        )
    return venue
