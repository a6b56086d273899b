"""Domain errors, raised by services and mapped to HTTP in one place (`api_exception_handler`)."""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class DomainError(Exception):
    code = "error"
    status = 400
    default_detail = "The request cannot be carried out."

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.default_detail
        self.extra = extra
        super().__init__(self.detail)

    def as_body(self) -> dict[str, Any]:
        return {"code": self.code, "detail": str(self.detail), **self.extra}


class InvalidInput(DomainError):
    code = "invalid"
    default_detail = "Some fields are invalid."

    def __init__(self, fields: dict[str, list[str]], detail: str | None = None) -> None:
        super().__init__(detail, fields=fields)
        self.fields = fields


class UnknownVenue(DomainError):
    code = "unknown_venue"
    status = 404
    default_detail = "No venue has that code."


class UnknownProcedure(DomainError):
    code = "unknown_procedure"
    default_detail = "No procedure has that code."


class ProcedureNotOffered(DomainError):
    code = "procedure_not_offered"
    default_detail = "This venue does not take that procedure."


class InvalidRange(DomainError):
    code = "invalid_range"
    default_detail = "The date range is invalid."


class SlotFull(DomainError):
    code = "slot_full"
    status = 409
    default_detail = "That time is fully booked."


class NoSuchSlot(DomainError):
    code = "no_such_slot"
    default_detail = "No bookable slot starts at that time."


class OutsideBookingWindow(DomainError):
    code = "outside_booking_window"
    default_detail = "That time cannot be booked online now."


class Ineligible(DomainError):
    code = "ineligible"
    default_detail = "The answers rule this procedure out."

    def __init__(self, reasons: list[str], detail: str | None = None) -> None:
        super().__init__(detail, reasons=reasons)
        self.reasons = reasons


class DuplicateBooking(DomainError):
    code = "duplicate_booking"
    status = 409
    default_detail = "This person already holds an active booking for this procedure."


class TooManyBookings(DomainError):
    code = "too_many_bookings"
    status = 409
    default_detail = "This person already holds as many active bookings as one person may."


class SeatsFree(DomainError):
    """The waiting list is for when nothing is free: a seat in the range can be booked now."""

    code = "seats_free"
    status = 409
    default_detail = "A seat is free in that range: book it instead of waiting."


class AlreadyWaiting(DomainError):
    code = "already_waiting"
    status = 409
    default_detail = "This person is already on a waiting list for this procedure."


class NoOffer(DomainError):
    code = "no_offer"
    status = 409
    default_detail = "No seat is offered to this entry now: none yet, or the offer has run out."


class NotActive(DomainError):
    code = "not_active"
    status = 409
    default_detail = "The booking is no longer active."


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_detail = "No such booking."


class InvalidTransition(DomainError):
    code = "invalid_transition"
    status = 409
    default_detail = "That status change is not allowed."


class NotTheVisitDay(InvalidTransition):
    """Check-in (and the steps after it) only on the day of the visit (JST)."""

    code = "not_the_visit_day"
    default_detail = "A booking can be checked in on the day of the visit only."


class NoShowTooEarly(InvalidTransition):
    """ "Did not come" only once the slot has ended plus the grace period (NO_SHOW_AFTER_MINUTES)."""

    code = "no_show_too_early"
    default_detail = "A booking can be marked as not come only after its slot has ended."


class NothingWaiting(DomainError):
    """呼出 with nobody checked in and not yet called (bookings/calls.py)."""

    code = "nothing_waiting"
    status = 409
    default_detail = "Nobody checked in is waiting to be called."


class NotCheckedIn(InvalidTransition):
    """Only a checked-in resident is called (recalled, marked not here)."""

    code = "not_checked_in"
    default_detail = "Only a checked-in booking can be called."


class NotCalled(InvalidTransition):
    """Recall and "not here" need an earlier call."""

    code = "not_called"
    default_detail = "This booking has not been called yet."


class CallNotToday(InvalidTransition):
    """Calls are for today's bookings only (JST)."""

    code = "call_not_today"
    default_detail = "Only today's bookings can be called."


class InvalidCounter(DomainError):
    """A counter number outside 1..the venue's counters."""

    code = "invalid_counter"
    default_detail = "No such counter."


class CapacityBelowTaken(DomainError):
    code = "capacity_below_taken"
    status = 409
    default_detail = "Some slots already hold more bookings than the new number of seats."


class ChallengeRequired(DomainError):
    code = "challenge_required"
    status = 403
    default_detail = "Solve a proof-of-work challenge (GET /api/v1/challenge/) and send it as X-Altcha."


class ChallengeFailed(DomainError):
    code = "challenge_failed"
    status = 403
    default_detail = "The proof of work is wrong, expired or already used; solve a new challenge."


class Busy(DomainError):
    code = "busy"
    status = 503
    default_detail = "The service is busy; please try again."


def _fields_from(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, (list, tuple)):
                out[str(key)] = [str(v) for v in value]
            elif isinstance(value, dict):
                for sub, msg in _fields_from(value).items():
                    out[f"{key}.{sub}"] = msg
            else:
                out[str(key)] = [str(value)]
        return out
    if isinstance(detail, (list, tuple)):
        return {"non_field_errors": [str(v) for v in detail]}
    return {"non_field_errors": [str(detail)]}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every API error as `{"code", "detail", ...}`; never a bare 500 for bad input."""
    if isinstance(exc, DomainError):
        response = Response(exc.as_body(), status=exc.status)
        if exc.status == 503:
            from django.conf import settings

            response["Retry-After"] = str(settings.BUSY_RETRY_AFTER_SECONDS)
        return response
    if isinstance(exc, drf_exceptions.ValidationError):
        return Response(
            {"code": "invalid", "detail": "Some fields are invalid.", "fields": _fields_from(exc.detail)},
            status=400,
        )
    if isinstance(exc, drf_exceptions.ParseError):
        return Response({"code": "malformed", "detail": "The request body is not valid JSON."}, status=400)
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return Response(
            {"code": "unsupported_media_type", "detail": "Send JSON (Content-Type: application/json)."},
            status=415,
        )
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return Response({"code": "method_not_allowed", "detail": str(exc.detail)}, status=405)
    if isinstance(exc, drf_exceptions.Throttled):
        body = {"code": "throttled", "detail": "Too many requests; try again later."}
        response = Response(body, status=429)
        response["Retry-After"] = str(max(1, math.ceil(exc.wait or 1)))
        return response
    if isinstance(exc, (Http404, drf_exceptions.NotFound)):
        return Response({"code": "not_found", "detail": "Not found."}, status=404)
    if isinstance(exc, (PermissionDenied, drf_exceptions.PermissionDenied)):
        return Response({"code": "forbidden", "detail": "Not allowed."}, status=403)
    if isinstance(exc, drf_exceptions.APIException):
        return Response({"code": exc.default_code, "detail": str(exc.detail)}, status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return Response({"code": "too_large", "detail": "The request body is too large."}, status=413)
    if isinstance(exc, SuspiciousOperation):
        return Response({"code": "bad_request", "detail": "The request cannot be read."}, status=400)
    return None
