import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler.settings")
application = get_asgi_application()

from scheduler.startup import refuse_unsafe_start  # noqa: E402 - needs the settings loaded above

refuse_unsafe_start("The web server")
