"""Writers that meet a busy database wait and try again: never a 500 for a lock wait."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError

from .errors import Busy

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def retry_on_lock(func: Callable[P, R]) -> Callable[P, R]:
    """SQLite busy, or a PostgreSQL deadlock victim: wait a little, run the whole write again."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        delay = 0.05
        for attempt in range(6):
            try:
                return func(*args, **kwargs)
            except OperationalError as error:
                message = str(error).lower()
                if "locked" not in message and "busy" not in message and "deadlock" not in message:
                    raise
                logger.warning("write busy (%s), attempt %d", message, attempt + 1)
                time.sleep(delay)
                delay *= 2
        raise Busy()

    return wrapper
