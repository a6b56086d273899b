"""An e-mail backend for the drills' worker: each message as its own `.eml` file in EMAIL_FILE_PATH.

Django's file backend is a console backend underneath, which a node with DEBUG off refuses to start
with (scheduler/startup.py: it would write residents' mail out); this one is only ever named by
tests/throwaway.py, for a throwaway worker.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend


class EmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        folder = Path(settings.EMAIL_FILE_PATH)
        for message in email_messages:
            target = folder / f"{uuid.uuid4().hex}.eml"
            partial = target.with_suffix(".part")
            partial.write_bytes(message.message().as_bytes())
            partial.rename(target)  # a reader never sees half a message
        return len(email_messages)
