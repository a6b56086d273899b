"""The resident pages (Japanese first, English through the language switch)."""

from django.urls import path, re_path

from . import display, unmatched, views, waitlist_views

app_name = "web"

urlpatterns = [
    path("", views.start, name="start"),
    path("help/", views.help_page, name="help"),
    path("book/", views.book_procedure, name="book"),
    path("book/questions/", views.book_questions, name="book-questions"),
    path("book/venue/", views.book_venue, name="book-venue"),
    path("book/date/", views.book_date, name="book-date"),
    path("book/contact/", views.book_contact, name="book-contact"),
    path("book/confirm/", views.book_confirm, name="book-confirm"),
    path("book/done/", views.book_done, name="book-done"),
    path("booking/lookup/", views.lookup, name="lookup"),
    path("booking/<str:reference>/", views.manage, name="manage"),
    path("booking/<str:reference>/reschedule/", views.manage_reschedule, name="manage-reschedule"),
    path(
        "booking/<str:reference>/reschedule/confirm/",
        views.manage_reschedule_confirm,
        name="manage-reschedule-confirm",
    ),
    path("booking/<str:reference>/cancel/", views.manage_cancel, name="manage-cancel"),
    path("booking/<str:reference>/calendar.ics", views.manage_ics, name="manage-ics"),
    path("b/<str:reference>/<str:token>", views.manage_short, name="manage-short"),  # SMS's link
    path("display/<str:venue>/", display.display_page, name="display"),
    path("display/<str:venue>/calls/", display.display_calls, name="display-calls"),
    path("waitlist/join/", waitlist_views.join, name="waitlist-join"),
    path("waitlist/joined/", waitlist_views.joined, name="waitlist-joined"),
    path("waitlist/<str:secret>/", waitlist_views.entry_page, name="waitlist-entry"),
    # Last: any other address gets the product's 404 page, with DEBUG=1 too (bookings/unmatched.py).
    re_path(r"^.*$", unmatched.page_not_found, name="not-found"),
]
