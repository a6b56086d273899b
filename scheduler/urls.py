from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from bookings import api as bookings_api
from bookings import waitlist_api
from venues import api as venues_api

from .challenge_api import ChallengeApi
from .error_views import api_not_found


class DocsView(SpectacularSwaggerView):
    """The Swagger UI page answers GET only (its OPTIONS tried to render a template: a 500)."""

    http_method_names = ["get", "head"]

    def http_method_not_allowed(self, request, *args, **kwargs):
        return JsonResponse({"code": "method_not_allowed", "detail": "Only GET."}, status=405)


api_v1 = [
    path("procedures/", venues_api.ProcedureListApi.as_view(), name="procedures"),
    path("venues/", venues_api.VenueListApi.as_view(), name="venues"),
    path("venues/<str:venue>/calendar/", venues_api.VenueCalendarApi.as_view(), name="venue-calendar"),
    path(
        "venues/<str:venue>/availability/", bookings_api.AvailabilityApi.as_view(), name="venue-availability"
    ),
    path("challenge/", ChallengeApi.as_view(), name="challenge"),
    path("holds/", bookings_api.HoldApi.as_view(), name="hold-create"),
    path("holds/<str:hold>/", bookings_api.HoldDetailApi.as_view(), name="hold-detail"),
    path("bookings/", bookings_api.BookingCreateApi.as_view(), name="booking-create"),
    path("bookings/<str:reference>/", bookings_api.BookingDetailApi.as_view(), name="booking-detail"),
    path("bookings/<str:reference>/cancel/", bookings_api.BookingCancelApi.as_view(), name="booking-cancel"),
    path(
        "bookings/<str:reference>/reschedule/",
        bookings_api.BookingRescheduleApi.as_view(),
        name="booking-reschedule",
    ),
    path("waitlist/", waitlist_api.WaitlistJoinApi.as_view(), name="waitlist-join"),
    path("waitlist/<str:secret>/", waitlist_api.WaitlistDetailApi.as_view(), name="waitlist-detail"),
    path("waitlist/<str:secret>/accept/", waitlist_api.WaitlistAcceptApi.as_view(), name="waitlist-accept"),
    path("schema/", SpectacularAPIView.as_view(http_method_names=["get", "head"]), name="schema"),
    path("docs/", DocsView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^.*$", api_not_found),
]

urlpatterns = [
    path("api/v1/", include((api_v1, "api"))),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("bookings.urls")),
]
