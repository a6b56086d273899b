"""THROTTLE_RATES, parsed (no Django import here: the settings module reads it)."""

from __future__ import annotations

SCOPES = ("hold", "booking", "lookup", "manage")


def parse_rates(text: str) -> dict[str, str | None]:
    """`hold=30/hour,booking=10/hour` → {scope: rate}; `off` (or empty) → every scope unlimited."""
    rates: dict[str, str | None] = dict.fromkeys(SCOPES)
    if text.strip().lower() in ("", "off", "none", "0"):
        return rates
    for part in text.split(","):
        if not part.strip():
            continue
        scope, _, rate = part.partition("=")
        scope, rate = scope.strip(), rate.strip()
        if scope not in SCOPES or not rate:
            raise ValueError(f"THROTTLE_RATES: unknown scope or empty rate in {part!r}")
        number, _, period = rate.partition("/")
        if not number.isdigit() or period[:1] not in ("s", "m", "h", "d"):
            raise ValueError(f"THROTTLE_RATES: a rate is N/second|minute|hour|day, not {rate!r}")
        rates[scope] = rate
    return rates
