"""THROTTLE_RATES, parsed (no Django import here: the settings module reads it)."""

from __future__ import annotations

SCOPES = ("hold", "booking", "lookup", "manage")


def parse_rates(text: str) -> dict[str, str | None]:
    """`hold=30/hour,booking=10/hour+30/day` → {scope: rate}; `off` (or empty) → every scope
    unlimited. A rate with `+` counts in each of its windows, and a request must fit in all."""
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
        for one in rate.split("+"):  # several windows: `10/hour+30/day`
            number, _, period = one.strip().partition("/")
            if not number.isdigit() or period[:1] not in ("s", "m", "h", "d"):
                raise ValueError(f"THROTTLE_RATES: a rate is N/second|minute|hour|day, not {one!r}")
        rates[scope] = rate
    return rates
