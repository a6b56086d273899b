"""A QR code of the booking reference, as inline SVG (no image request, no script)."""

from __future__ import annotations

import segno
from django.utils.safestring import SafeString, mark_safe


def reference_qr_svg(reference: str, *, title: str = "") -> SafeString:
    """The reference only (never the token): staff scan it at the counter."""
    code = segno.make(reference, micro=False, error="m")
    svg = code.svg_inline(
        scale=1,
        border=4,
        dark="#000",
        light="#fff",
        omitsize=True,
        svgclass="qr",
        title=title or None,
    )
    return mark_safe(svg)  # noqa: S308 -- segno's own SVG; it escapes the title
