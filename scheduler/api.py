"""Pieces shared by the API views of both apps."""

import copy
import functools
from typing import Any

from rest_framework import serializers


class Serializer(serializers.Serializer):
    """A serializer whose fields are copied, not rebuilt, for each instance.

    DRF deep-copies every declared field for every serializer instance, and a field's deep copy is
    a new field built again from its arguments (`Field.__deepcopy__`): about thirty field
    constructions per booking request, a tenth of its Python time under cProfile. A plain field
    holds only what its `__init__` set, read and never changed afterwards, so a shallow copy binds
    to its own serializer as well. Fields that hold other fields (nested serializers, list and dict
    fields, bound to their parent when built) are still deep-copied."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            name: copy.deepcopy(field) if _holds_fields(field) else _shallow(field)
            for name, field in self._declared_fields.items()
        }


class PlainOutputSerializer(Serializer):
    """An output serializer of plain fields (no nested serializer, no `source="*"`) whose answer
    is read through its declared fields themselves: DRF binds a copy of each field to each answer
    and walks them twice, a tenth of a booking's Python time. The answer is DRF's own
    (tests/test_booking_api.py compares the two); the schema is still the declared fields'."""

    def to_representation(self, instance: Any) -> dict[str, Any]:
        answer = {}
        for name, path, field in _reading_plan(type(self)):
            value = instance
            for attribute in path:
                value = getattr(value, attribute)
            answer[name] = None if value is None else field.to_representation(value)
        return answer


@functools.cache
def _reading_plan(serializer: type[Serializer]) -> tuple[tuple[str, tuple[str, ...], Any], ...]:
    """Per declared field: its name, where its value is read (`source`), and the field."""
    return tuple(
        (name, tuple((field.source or name).split(".")), field)
        for name, field in serializer._declared_fields.items()
    )


def _holds_fields(field: serializers.Field) -> bool:
    return isinstance(field, serializers.BaseSerializer) or hasattr(field, "child")


def _shallow(field: serializers.Field) -> serializers.Field:
    """`copy.copy`, without its protocol's lookups (a third of its time here)."""
    clone = object.__new__(type(field))
    clone.__dict__.update(field.__dict__)
    return clone


class ErrorSerializer(Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
    reasons = serializers.ListField(child=serializers.CharField(), required=False)
